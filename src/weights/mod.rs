//! Checkpoint formats → our modules: reading files (from bytes, so it works in the browser) and
//! one key table per model family.

pub mod bert;
pub mod decoder;
pub mod decoder_family;
pub mod encoder_keys;
pub mod export;
pub mod gguf;
pub mod gguf_lora;
pub mod gpt2;
pub mod llama;
pub mod masked_lm;
pub mod peft;
pub mod question_answering;
pub mod safetensors;

/// What loading noticed that did not stop it (unexpected-but-harmless keys, fresh heads, casts).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct LoadReport {
    /// Human-readable warnings, one per issue.
    pub warnings: Vec<String>,
    /// Number of tensors loaded.
    pub loaded: usize,
}

/// Refuses a `config.json` that describes more weights than the checkpoint holds (beyond
/// `may_be_fresh` values loading may initialise, such as a new classifier head): such a config
/// belongs to another model, and building its modules could take far more memory than the file.
pub fn check_config_fits(parameters: u64, in_file: u64, may_be_fresh: u64, file: &str) -> crate::Result<()> {
    if parameters > in_file.saturating_add(may_be_fresh) {
        return Err(crate::Error::Weights(format!(
            "config.json describes a model of {parameters} weights but {file} holds {in_file}: this config.json does not belong to these weights; use the config.json saved with them"
        )));
    }
    Ok(())
}

/// What loading may hold at once in wasm's 4 GiB of linear memory (the rest: the JS glue, the
/// tokenizer, data and the allocator's slack).
const WASM_LOAD_BUDGET: u64 = (4 << 30) - (512 << 20);

/// The memory a load may use at its peak on this platform (`None`: no fixed limit, natively).
pub fn load_budget() -> Option<u64> {
    cfg!(target_family = "wasm").then_some(WASM_LOAD_BUDGET)
}

/// Refuses, before anything is converted or allocated, a load whose peak — `peak_bytes` (the
/// file, and the copies its weights pass through as f32) for a model of `parameters` weights —
/// exceeds `budget`, with an `OutOfMemoryError` that says what to use instead.
pub fn check_load_memory(peak_bytes: u64, parameters: u64, what: &str, budget: Option<u64>) -> crate::Result<()> {
    let Some(budget) = budget else { return Ok(()) };
    if peak_bytes > budget {
        let per_parameter = peak_bytes as f64 / parameters.max(1) as f64;
        return Err(crate::Error::OutOfMemory(format!(
            "loading {what} takes about {:.0} MB at once ({:.0} M weights, dequantized to f32 while they load), more than the {:.0} MB a browser tab gives webtune (wasm's 4 GiB): use a smaller model (up to about {:.0} M parameters), or the webtune CLI natively",
            peak_bytes as f64 / 1e6,
            parameters as f64 / 1e6,
            budget as f64 / 1e6,
            budget as f64 / per_parameter / 1e6,
        )));
    }
    Ok(())
}

/// Refuses, before it is copied into wasm memory, a file of `bytes` bytes that the packed (CPU)
/// path would hold whole, when it exceeds `budget`: an `OutOfMemoryError` with the size.
pub fn check_file_fits(bytes: u64, what: &str, budget: Option<u64>) -> crate::Result<()> {
    let Some(budget) = budget else { return Ok(()) };
    if bytes > budget {
        return Err(crate::Error::OutOfMemory(format!(
            "{what} is {:.0} MB, more than the {:.0} MB a browser tab gives webtune (wasm's 4 GiB): use a smaller model or a smaller quantization of it (Q4_K_M, Q4_0), or the webtune CLI natively",
            bytes as f64 / 1e6,
            budget as f64 / 1e6
        )));
    }
    Ok(())
}

/// Refuses a model whose token embeddings (`rows` × `width` f32, its largest tensor) cannot be
/// bound as one GPU buffer on `device` — before loading, instead of a GPU error at the first use.
pub fn check_embeddings_fit(rows: usize, width: usize, device: &crate::DeviceInfo) -> crate::Result<()> {
    let bytes = (rows as u64).saturating_mul(width as u64).saturating_mul(4);
    if let Some(limit) = device.max_storage_buffer_binding_size
        && bytes > limit
    {
        return Err(crate::Error::OutOfMemory(format!(
            "this model's token embeddings ({rows} × {width}) take {:.0} MB as f32, but this GPU binds at most {:.0} MB per buffer (maxStorageBufferBindingSize): use device \"cpu\", or a model with a smaller vocabulary or width",
            bytes as f64 / 1e6,
            limit as f64 / 1e6
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_load_beyond_the_budget_is_refused_with_advice() {
        // TinyLlama-1.1B as Q4_0: a 0.64 GB file, 1.1 B weights → 4.4 GB as f32
        let e = check_load_memory(640_000_000 + 2 * 4_400_000_000, 1_100_000_000, "the GGUF file", Some(WASM_LOAD_BUDGET)).unwrap_err();
        assert_eq!(e.js_name(), "OutOfMemoryError");
        assert!(e.to_string().contains("1100 M weights") && e.to_string().contains("use a smaller model (up to about 4"), "{e}");
        assert!(check_load_memory(600_000_000, 135_000_000, "x", Some(WASM_LOAD_BUDGET)).is_ok());
        assert!(check_load_memory(u64::MAX, 1, "x", None).is_ok(), "no limit natively");
        let e = check_file_fits(5_000_000_000, "this GGUF file", Some(WASM_LOAD_BUDGET)).unwrap_err();
        assert!(e.js_name() == "OutOfMemoryError" && e.to_string().contains("this GGUF file is 5000 MB, more than the 3758 MB"), "{e}");
        assert!(check_file_fits(98_000_000, "x", Some(WASM_LOAD_BUDGET)).is_ok());
    }
}
