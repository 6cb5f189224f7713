//! What each fuzz target does with one input, shared by the coverage-guided targets
//! (`fuzz_targets/*.rs`, cargo fuzz) and the replay test CI runs (`tests/fuzz_replay.rs`: the
//! fixtures' seeds and a stored corpus, in the ordinary test build). Multi-part inputs are split at
//! [`SEP`].
#![allow(dead_code)] // each fuzz binary uses one of these

use webtune::{
    data::{Columns, Dataset, TextColumns, parse_named, squad::read_squad, tagged::TaggedDataset, text_examples},
    device,
    formats::setfit_head::read_head,
    infer::{Decoder, Encoder, GenerateOptions, ModelFiles},
    tokenizer::{
        TextTokenizer,
        chat::{ChatTemplate, Message},
    },
    train::{Checkpoint, checkpoint::optimizer_from_bytes},
};

/// Between the parts of a multi-part input.
pub const SEP: &[u8] = b"\n--8<--\n";

/// Every target, by name, and what it runs.
pub const TARGETS: [(&str, fn(&[u8])); 7] = [
    ("data", data),
    ("model_folder", model_folder),
    ("gguf", gguf),
    ("tokenizer", tokenizer),
    ("chat_template", chat_template),
    ("checkpoint", checkpoint),
    ("setfit_head", setfit_head),
];

/// A SetFit folder's `model_head.pkl`: a Python pickle (joblib's, or webtune's own) read as
/// setfit's head — a scikit-learn `LogisticRegression`, or a `SetFitHead` with torch's tensors.
pub fn setfit_head(bytes: &[u8]) {
    let _ = read_head(bytes);
}

/// Data files: CSV/TSV/JSONL/JSON/TXT (the first byte picks the format) → table → labelled
/// examples (with and without a text-pair column) and language-model rows (texts, pairs, Alpaca,
/// `messages` and ShareGPT conversations); tagged sentences (CoNLL, `{tokens, tags}` lines) and
/// question-answering examples (SQuAD JSON, rows).
pub fn data(bytes: &[u8]) {
    let Some((&which, file)) = bytes.split_first() else { return };
    match which % 8 {
        5 => drop(TaggedDataset::read(file, "d.conll")),
        6 => drop(TaggedDataset::read(file, "d.jsonl")),
        7 => drop(read_squad(file, "d.json")),
        n => {
            let name = ["d.csv", "d.tsv", "d.jsonl", "d.json", "d.txt"][n as usize];
            if let Ok(table) = parse_named(file, name) {
                let _ = Dataset::from_table(&table, &Columns::default());
                let _ = Dataset::from_table(&table, &Columns { text_pair: Some("text_pair".into()), ..Columns::default() });
                let _ = text_examples(&table, &TextColumns::default());
            }
        }
    }
}

/// A Hugging Face model folder: config.json, model.safetensors and tokenizer.json (three parts),
/// loaded as an encoder classifier (BERT, RoBERTa, DistilBERT…) and as a decoder (Llama, Qwen,
/// Gemma 3, GPT-2), then run once when they load.
pub fn model_folder(bytes: &[u8]) {
    let [config, weights, tokenizer] = parts(bytes)[..] else { return };
    let cpu = device::cpu();
    let files = ModelFiles { config: config.to_vec(), weights: weights.to_vec(), tokenizer: tokenizer.to_vec() };
    if let Ok(encoder) = Encoder::load(files, &cpu) {
        let _ = pollster::block_on(encoder.classify(&["a fine film", "ok"]));
    }
    if let Ok(decoder) = Decoder::from_hf(config, weights.to_vec(), tokenizer, None, &cpu) {
        let _ = pollster::block_on(decoder.complete("hello", &GenerateOptions { max_new_tokens: 2, ..Default::default() }, |_| true));
    }
}

/// GGUF files: header, metadata, tensor table, dequantization, tokenizer and chat template; a
/// file that loads generates two tokens and renders a chat.
pub fn gguf(bytes: &[u8]) {
    let Ok(decoder) = Decoder::from_gguf(bytes, &device::cpu()) else { return };
    let options = GenerateOptions { max_new_tokens: 2, ..Default::default() };
    let _ = pollster::block_on(decoder.complete("hello", &options, |_| true));
    let _ = pollster::block_on(decoder.chat(&[Message { role: "user".into(), content: "hi".into() }], &options, |_| true));
}

/// tokenizer.json: parsed for a model of 100 000 embeddings, then encoding (single texts and
/// pairs, truncated at the length the first two bytes give), counting and decoding.
pub fn tokenizer(bytes: &[u8]) {
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
}

/// Chat templates (Jinja, rendered by minijinja with a fuel limit, `{% generation %}` blocks
/// included): any source, rendered for a short conversation, and its assistant turns found.
pub fn chat_template(bytes: &[u8]) {
    let Ok(source) = std::str::from_utf8(bytes) else { return };
    let Ok(template) = ChatTemplate::new(source, "<s>", "</s>") else { return };
    let m = |role: &str, content: &str| Message { role: role.into(), content: content.into() };
    let conversation = [m("system", "Be brief."), m("user", "Hi"), m("assistant", "Hello"), m("user", "Bye")];
    let _ = template.render(&conversation, true);
    let _ = template.render(&conversation[1..2], false);
    let _ = template.render_with_assistant_spans(&conversation[..3]);
}

/// Checkpoint files: trainer_state.json and optimizer.safetensors (two parts).
pub fn checkpoint(bytes: &[u8]) {
    let Some((state, optimizer)) = bytes.windows(SEP.len()).position(|w| w == SEP).map(|i| (&bytes[..i], &bytes[i + SEP.len()..])) else { return };
    let _ = optimizer_from_bytes(optimizer);
    let _ = Checkpoint::from_files(|name| match name {
        "trainer_state.json" => Some(state.to_vec()),
        "optimizer.safetensors" => Some(optimizer.to_vec()),
        _ => Some(Vec::new()),
    });
}

/// The parts of a multi-part input (the files of a model folder or a checkpoint).
pub fn parts(bytes: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while let Some(i) = rest.windows(SEP.len()).position(|w| w == SEP) {
        out.push(&rest[..i]);
        rest = &rest[i + SEP.len()..];
    }
    out.push(rest);
    out
}
