//! GGUF files: header, metadata, tensor table, dequantization, tokenizer and chat template; a
//! file that loads generates two tokens and renders a chat.
#![no_main]
use libfuzzer_sys::fuzz_target;
use webtune::{
    device,
    infer::{Decoder, GenerateOptions},
    tokenizer::chat::Message,
};

fuzz_target!(|bytes: &[u8]| {
    let Ok(decoder) = Decoder::from_gguf(bytes, &device::cpu()) else { return };
    let options = GenerateOptions { max_new_tokens: 2, ..Default::default() };
    let _ = pollster::block_on(decoder.complete("hello", &options, |_| true));
    let _ = pollster::block_on(decoder.chat(&[Message { role: "user".into(), content: "hi".into() }], &options, |_| true));
});
