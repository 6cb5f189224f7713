//! Masked-LM training inputs, as transformers' `DataCollatorForLanguageModeling` makes them: each
//! ordinary token is chosen with `probability` (15 %); a chosen token is learned (its label is
//! its id; every other label is -100) and replaced by the mask token 80 % of the time, by a random
//! token 10 %, and kept 10 %. With whole-word masking the choice is per word (all of a word's
//! tokens, always replaced by the mask), a word being a run of tokens with no gap between their
//! characters, as the collator groups them from the offsets. Special tokens are never chosen.

use rand::Rng;

/// How tokens are chosen for masking.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Masking {
    /// Chance that a token (or a word) is chosen (transformers' `mlm_probability`, 0.15).
    pub probability: f64,
    /// Choose whole words (transformers' `whole_word_mask`).
    pub whole_word: bool,
}

impl Default for Masking {
    fn default() -> Self {
        Masking { probability: 0.15, whole_word: false }
    }
}

/// The word of each token for whole-word masking: a token begins a word when it is not special and
/// either follows a special token or starts where the previous token did not end. Special tokens
/// have none.
pub fn word_groups(offsets: &[(usize, usize)], special: &[bool]) -> Vec<Option<usize>> {
    let mut words = Vec::with_capacity(offsets.len());
    let mut current: Option<usize> = None;
    for (i, (&(start, _), &is_special)) in offsets.iter().zip(special).enumerate() {
        if is_special {
            words.push(None);
            continue;
        }
        let new_word = i == 0 || special[i - 1] || offsets[i - 1].1 != start;
        if new_word {
            current = Some(current.map_or(0, |w| w + 1));
        }
        words.push(current);
    }
    words
}

/// One masked sequence: the model's input ids, and the labels (-100 where nothing is learned).
#[derive(Clone, Debug, PartialEq)]
pub struct Masked {
    pub inputs: Vec<u32>,
    pub labels: Vec<i64>,
}

/// Masks `ids` (with `special` marking the tokens never chosen, and `words` the whole-word groups
/// when masking whole words); random replacements are drawn from the first `vocab` ids.
pub fn mask_sequence(ids: &[u32], special: &[bool], words: Option<&[Option<usize>]>, mask_id: u32, vocab: u32, masking: Masking, rng: &mut impl Rng) -> Masked {
    // a probability outside [0, 1] (or NaN) is refused by the options; here it must not panic
    let masking = Masking { probability: if (0.0..=1.0).contains(&masking.probability) { masking.probability } else { 0.0 }, ..masking };
    let chosen: Vec<bool> = match words {
        Some(words) => {
            // one draw per word, at its first token
            let mut picked_words = std::collections::BTreeSet::new();
            for (i, w) in words.iter().enumerate() {
                if let Some(w) = w
                    && (i == 0 || words[i - 1] != Some(*w))
                    && rng.random_bool(masking.probability)
                {
                    picked_words.insert(*w);
                }
            }
            words.iter().map(|w| w.is_some_and(|w| picked_words.contains(&w))).collect()
        }
        None => special.iter().map(|&s| !s && rng.random_bool(masking.probability)).collect(),
    };
    let mut inputs = ids.to_vec();
    let mut labels = vec![-100i64; ids.len()];
    for (i, &c) in chosen.iter().enumerate() {
        if !c {
            continue;
        }
        labels[i] = ids[i] as i64;
        if words.is_some() || rng.random_bool(0.8) {
            inputs[i] = mask_id;
        } else if rng.random_bool(0.5) {
            inputs[i] = rng.random_range(0..vocab.max(1));
        }
    }
    Masked { inputs, labels }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn words_are_runs_without_gaps_and_special_tokens_are_never_chosen() {
        // [CLS] Zür ich - based start ups [SEP]
        let offsets = [(0, 0), (0, 3), (3, 6), (6, 7), (7, 12), (13, 18), (18, 21), (0, 0)];
        let special = [true, false, false, false, false, false, false, true];
        assert_eq!(word_groups(&offsets, &special), [None, Some(0), Some(0), Some(0), Some(0), Some(1), Some(1), None]);
        let ids: Vec<u32> = (10..18).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        for _ in 0..200 {
            let m = mask_sequence(&ids, &special, None, 3, 30, Masking { probability: 0.5, whole_word: false }, &mut rng);
            assert_eq!((m.labels[0], m.labels[7]), (-100, -100));
            assert_eq!((m.inputs[0], m.inputs[7]), (10, 17));
            let words = word_groups(&offsets, &special);
            let w = mask_sequence(&ids, &special, Some(&words), 3, 30, Masking { probability: 0.5, whole_word: true }, &mut rng);
            // a word is masked whole, always with the mask token
            assert!(w.labels[1..5].iter().all(|&l| l >= 0) || w.labels[1..5].iter().all(|&l| l < 0));
            assert!(w.labels.iter().zip(&w.inputs).all(|(&l, &i)| l < 0 || i == 3));
        }
    }
}
