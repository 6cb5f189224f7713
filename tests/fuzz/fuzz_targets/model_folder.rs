//! A Hugging Face model folder: config.json, model.safetensors and tokenizer.json (the input's
//! three parts, split at "\n--8<--\n"), loaded as an encoder classifier (BERT, RoBERTa, DistilBERT…) and as a decoder (Llama, GPT-2), then
//! run once when they load.
#![no_main]
use libfuzzer_sys::fuzz_target;
use webtune::{
    device,
    infer::{Decoder, Encoder, GenerateOptions, ModelFiles},
};

fn parts(bytes: &[u8]) -> Vec<&[u8]> {
    let sep = b"\n--8<--\n";
    let mut out = Vec::new();
    let mut rest = bytes;
    while let Some(i) = rest.windows(sep.len()).position(|w| w == sep) {
        out.push(&rest[..i]);
        rest = &rest[i + sep.len()..];
    }
    out.push(rest);
    out
}

fuzz_target!(|bytes: &[u8]| {
    let [config, weights, tokenizer] = parts(bytes)[..] else { return };
    let cpu = device::cpu();
    let files = ModelFiles { config: config.to_vec(), weights: weights.to_vec(), tokenizer: tokenizer.to_vec() };
    if let Ok(encoder) = Encoder::load(files, &cpu) {
        let _ = pollster::block_on(encoder.classify(&["a fine film", "ok"]));
    }
    if let Ok(decoder) = Decoder::from_hf(config, weights.to_vec(), tokenizer, None, &cpu) {
        let _ = pollster::block_on(decoder.complete("hello", &GenerateOptions { max_new_tokens: 2, ..Default::default() }, |_| true));
    }
});
