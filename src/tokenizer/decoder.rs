//! The text side of a decoder, kept with it once loaded.

use super::{TextTokenizer, chat::ChatTemplate};

/// What a decoder reads and writes text with: its tokenizer, chat template and BOS policy.
#[derive(Clone)]
pub struct DecoderTokenizer {
    pub tokenizer: TextTokenizer,
    /// The model's chat template, when it has one.
    pub chat: Option<ChatTemplate>,
    /// Put BOS before a prompt (GGUF's `tokenizer.ggml.add_bos_token`; a Hugging Face
    /// tokenizer.json adds its own through its post-processor).
    pub add_bos: bool,
}
