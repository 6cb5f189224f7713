//! Attention weights against transformers' `output_attentions=True`
//! (tests/reference/make_attention_fixture.py), shared by the native encoder tests and the
//! browser tests (which embed the files).

use serde_json::Value;
use webtune::infer::Encoder;

use super::parity::assert_close;

/// Every layer's and head's attention weights of `family`'s fixture text, from `all` (the parsed
/// attentions.json), within `tolerance`; the tokens identical.
pub async fn check_attentions(enc: &Encoder, family: &str, all: &Value, tolerance: f32, device: &str) {
    let want = &all[family];
    let got = enc.attentions(want["text"].as_str().unwrap()).await.unwrap();
    let tokens: Vec<&str> = want["tokens"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    assert_eq!(got.tokens, tokens, "{family}: attention tokens");
    assert_eq!((got.layers, got.heads), (2, 4));
    let ours: Vec<f32> = got.weights.iter().flatten().flatten().flatten().copied().collect();
    let mut theirs = Vec::new();
    super::llama::flat(&want["attentions"], &mut theirs);
    assert_close(&format!("{family} attentions on {device}"), &ours, &theirs, tolerance);
}
