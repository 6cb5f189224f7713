//! Checkpoint files: trainer_state.json and optimizer.safetensors (the input's two parts, split
//! at "\n--8<--\n").
#![no_main]
use libfuzzer_sys::fuzz_target;
use webtune::train::{Checkpoint, checkpoint::optimizer_from_bytes};

fuzz_target!(|bytes: &[u8]| {
    let sep = b"\n--8<--\n";
    let Some(i) = bytes.windows(sep.len()).position(|w| w == sep) else { return };
    let (state, optimizer) = (&bytes[..i], &bytes[i + sep.len()..]);
    let _ = optimizer_from_bytes(optimizer);
    let _ = Checkpoint::from_files(|name| match name {
        "trainer_state.json" => Some(state.to_vec()),
        "optimizer.safetensors" => Some(optimizer.to_vec()),
        _ => Some(Vec::new()),
    });
});
