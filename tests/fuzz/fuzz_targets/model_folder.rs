//! The `model_folder` target: see `targets::model_folder` (shared with the replay test, tests/fuzz_replay.rs).
#![no_main]
#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| targets::model_folder(bytes));
