//! llama2.c's tokenizer file (`tokenizer.bin`, `tok512.bin`): an i32 `max_token_length`, then per
//! token an f32 merge score, an i32 byte length and the bytes. Decoding follows llama2.c's
//! `decode`: the space after BOS is dropped and `<0xXX>` pieces are raw bytes.

use crate::{Error, Result};

/// The pieces (and merge scores) of a llama2.c vocabulary, by token id.
pub struct Llama2cVocab {
    pieces: Vec<Vec<u8>>,
    /// Merge priority of each piece (used by llama2.c's encoder).
    pub scores: Vec<f32>,
}

/// llama2.c's beginning-of-sequence id.
pub const BOS: u32 = 1;

impl Llama2cVocab {
    /// Parses the file for a model with `vocab_size` tokens.
    pub fn from_bytes(bytes: &[u8], vocab_size: usize) -> Result<Self> {
        let bad = || Error::Weights(format!("not a llama2.c tokenizer file for {vocab_size} tokens (it ends early); use the tokenizer.bin that came with the model"));
        let mut at = 4; // skip max_token_length
        let mut take = |n: usize| -> Result<&[u8]> {
            let s = bytes.get(at..at + n).ok_or_else(bad)?;
            at += n;
            Ok(s)
        };
        let (mut pieces, mut scores) = (Vec::with_capacity(vocab_size), Vec::with_capacity(vocab_size));
        for _ in 0..vocab_size {
            scores.push(f32::from_le_bytes(take(4)?.try_into().expect("4 bytes")));
            let len = i32::from_le_bytes(take(4)?.try_into().expect("4 bytes"));
            let len = usize::try_from(len).map_err(|_| bad())?;
            pieces.push(take(len)?.to_vec());
        }
        Ok(Llama2cVocab { pieces, scores })
    }

    /// The text of `ids`, as llama2.c prints it when `ids` follow BOS.
    pub fn decode(&self, ids: &[u32]) -> String {
        let mut out = Vec::new();
        let mut prev = BOS;
        for &id in ids {
            let Some(piece) = self.pieces.get(id as usize) else { continue };
            let piece = if prev == BOS && piece.first() == Some(&b' ') { &piece[1..] } else { &piece[..] };
            match byte_token(piece) {
                Some(b) => out.push(b),
                None => out.extend_from_slice(piece),
            }
            prev = id;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// `<0xAB>` → 0xAB.
fn byte_token(piece: &[u8]) -> Option<u8> {
    let s = std::str::from_utf8(piece).ok()?;
    let hex = s.strip_prefix("<0x")?.strip_suffix('>')?;
    (hex.len() == 2).then(|| u8::from_str_radix(hex, 16).ok()).flatten()
}
