//! The `setfit_head` target: see `targets::setfit_head` (shared with the replay test, tests/fuzz_replay.rs).
#![no_main]
#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| targets::setfit_head(bytes));
