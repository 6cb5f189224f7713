//! tokenizer.json: parsed for a model of 100 000 embeddings, then encoding (single texts and
//! pairs, truncated at the length the first two bytes give), counting and decoding.
#![no_main]
use libfuzzer_sys::fuzz_target;
use webtune::tokenizer::TextTokenizer;

fuzz_target!(|bytes: &[u8]| {
    let [a, b, json @ ..] = bytes else { return };
    let max_length = u16::from_le_bytes([*a, *b]) as usize % 600;
    let Ok(tokenizer) = TextTokenizer::for_model(json, 100_000) else { return };
    let texts = ["hello world", "ünïcødé — 漢字 🙂", "a"];
    let _ = tokenizer.encode(&texts, None, max_length, true);
    let _ = tokenizer.encode(&texts, Some(&["pair", "second", "x"]), max_length, true);
    let _ = tokenizer.encode(&texts, None, max_length, false);
    let _ = tokenizer.count("hello", Some("world"));
    if let Ok(ids) = tokenizer.ids("hello world", true) {
        let _ = tokenizer.decode(&ids);
    }
});
