//! SentencePiece's `Precompiled` normalizer (XLM-RoBERTa, T5, ALBERT): a double-array trie from
//! UTF-8 byte strings to offsets into a block of replacement strings. tokenizers (through
//! `spm_precompiled`) walks that trie and slices those strings without bounds checks when it
//! encodes text, so a charsmap that parses but points outside itself panics at the first text
//! that reaches the bad entry. [`check`] walks every path tokenizers can take, up front.

use std::collections::HashSet;

use base64::Engine;

/// The longest key tokenizers looks up: a grapheme of fewer than 6 bytes, else one character.
const MAX_KEY: usize = 5;

/// A trie unit's fields, as `spm_precompiled` reads them.
fn has_leaf(unit: usize) -> bool {
    (unit >> 8) & 1 == 1
}
fn value(unit: usize) -> usize {
    unit & ((1 << 31) - 1)
}
fn label(unit: usize) -> usize {
    unit & ((1 << 31) | 0xFF)
}
fn offset(unit: usize) -> usize {
    (unit >> 10) << ((unit & (1 << 9)) >> 6)
}

/// Checks a `precompiled_charsmap` (base64, as in tokenizer.json): every trie position a lookup
/// of up to [`MAX_KEY`] non-zero bytes can read lies inside the trie, and every value it can
/// return starts a replacement inside the strings, on a character boundary.
pub fn check(charsmap: &str) -> Result<(), String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(charsmap)
        .map_err(|e| format!("its precompiled_charsmap is not base64: {e}"))?;
    let (size, rest) = bytes.split_first_chunk::<4>().ok_or("its precompiled_charsmap is shorter than its header")?;
    let trie_bytes = (u32::from_le_bytes(*size) as usize) / 4 * 4;
    if trie_bytes == 0 || trie_bytes > rest.len() {
        return Err(format!("its precompiled_charsmap declares a trie of {trie_bytes} bytes but holds {}", rest.len()));
    }
    let (trie, strings) = rest.split_at(trie_bytes);
    let units: Vec<usize> = trie.chunks_exact(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize).collect();
    let strings = std::str::from_utf8(strings).map_err(|_| "its precompiled_charsmap's strings are not UTF-8".to_string())?;

    let outside = |at: usize| format!("its precompiled_charsmap's trie points to unit {at} of {}", units.len());
    // A position reached after fewer bytes has more lookups left, so it covers later visits.
    let mut seen = HashSet::new();
    let mut frontier = vec![offset(units[0])];
    for _ in 0..MAX_KEY {
        let mut next = Vec::new();
        for pos in frontier {
            for byte in 1..=255 {
                let at = pos ^ byte;
                let unit = *units.get(at).ok_or_else(|| outside(at))?;
                if label(unit) != byte {
                    continue;
                }
                let child = at ^ offset(unit);
                if has_leaf(unit) {
                    let start = value(*units.get(child).ok_or_else(|| outside(child))?);
                    if !strings.is_char_boundary(start) {
                        return Err(format!(
                            "its precompiled_charsmap's trie points to byte {start} of its {}-byte strings, which starts no character",
                            strings.len()
                        ));
                    }
                }
                if seen.insert(child) {
                    next.push(child);
                }
            }
        }
        frontier = next;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenizers::{NormalizedString, Normalizer, normalizers::precompiled::Precompiled};

    /// A charsmap of 1,024 trie units mapping the byte `a` to `strings[leaf..]` (up to its NUL):
    /// root at 0 with offset `root`, `a`'s unit at `root ^ 'a'` whose leaf sits at unit 97.
    fn charsmap(root: usize, leaf: u32, strings: &str) -> String {
        let mut units = vec![0u32; 1024];
        units[0] = (root as u32) << 10;
        let at = root ^ 0x61;
        if at < units.len() {
            units[at] = 0x61 | 1 << 8 | ((at ^ 97) as u32) << 10;
        }
        units[97] = leaf;
        let mut bytes = ((units.len() * 4) as u32).to_le_bytes().to_vec();
        bytes.extend(units.iter().flat_map(|u| u.to_le_bytes()));
        bytes.extend(strings.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    fn normalize(charsmap: &str, text: &str) -> std::thread::Result<String> {
        let json = serde_json::json!({"type": "Precompiled", "precompiled_charsmap": charsmap});
        let precompiled: Precompiled = serde_json::from_str(&json.to_string()).expect("parses");
        std::panic::catch_unwind(move || {
            let mut s = NormalizedString::from(text);
            precompiled.normalize(&mut s).unwrap();
            s.get().to_string()
        })
    }

    #[test]
    fn a_sound_charsmap_passes_and_normalizes_as_tokenizers_reads_it() {
        let good = charsmap(256, 2, "yyx\0");
        check(&good).unwrap();
        assert_eq!(normalize(&good, "a ba").unwrap(), "x bx");
    }

    #[test]
    fn charsmaps_that_make_tokenizers_panic_are_refused() {
        let outside = charsmap(4096, 0, "x\0");
        assert!(check(&outside).unwrap_err().contains("points to unit 4097 of 1024"));
        let off_boundary = charsmap(256, 1, "é\0");
        assert!(check(&off_boundary).unwrap_err().contains("byte 1 of its 3-byte strings"));
        let past_the_end = charsmap(256, 9, "x\0");
        assert!(check(&past_the_end).unwrap_err().contains("byte 9"));
        for broken in [outside, off_boundary, past_the_end] {
            assert!(normalize(&broken, "a").is_err(), "tokenizers panics on it");
        }
        assert!(check("AAAA").unwrap_err().contains("shorter than its header"));
        assert!(check("!").unwrap_err().contains("not base64"));
    }
}
