//! The `chat_template` target: see `targets::chat_template` (shared with the replay test, tests/fuzz_replay.rs).
#![no_main]
#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| targets::chat_template(bytes));
