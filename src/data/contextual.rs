//! Contextual augmentation (Kobayashi 2018): words substituted, or inserted, by what a masked
//! language model predicts in their context. This file draws the plan — which words, which gaps —
//! and, given each slot's candidates, picks the words; the model's side is
//! `infer::contextual_augment`.
//!
//! Each slot is masked on its own in the original text (one mask per masked text), so every
//! prediction sees the sentence as written. A slot's word is drawn from its candidates with
//! probability proportional to the model's (Python's `random.choices`), from the same generator
//! that chose the slots: one seed gives one text.

use super::mersenne::PyRandom;

/// What a plan fills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContextualOp {
    /// Words replaced by predictions.
    Substitute,
    /// Predicted words put in gaps.
    Insert,
}

/// The words of one text, the slots to fill, and the generator that draws the fillers.
pub struct ContextualPlan {
    op: ContextualOp,
    words: Vec<String>,
    /// Substitute: indices of the words replaced; insert: gaps (0 = before the first word,
    /// `words.len()` = after the last), in draw order.
    slots: Vec<usize>,
    rng: PyRandom,
}

/// A word's core (what a substitution replaces) and the punctuation around it, which stays.
fn split_word(word: &str) -> (&str, &str, &str) {
    let core = word.trim_matches(|c: char| !c.is_alphanumeric());
    let start = word.find(core).unwrap_or(0);
    (&word[..start], core, &word[start + core.len()..])
}

impl ContextualPlan {
    /// The plan for `op` (substitute or insert) on `text`'s whitespace-separated words: ⌊rate ·
    /// n⌋ slots, at least one, drawn with `random.sample` (n: words with a letter or digit for
    /// substitute, gaps for insert). `None` when there is nothing to fill (no such word).
    pub fn new(op: ContextualOp, text: &str, rate: f64, mut rng: PyRandom) -> Option<Self> {
        let words: Vec<String> = text.split_whitespace().map(str::to_string).collect();
        let choices: Vec<usize> = match op {
            ContextualOp::Substitute => (0..words.len()).filter(|&i| !split_word(&words[i]).1.is_empty()).collect(),
            ContextualOp::Insert if !words.is_empty() => (0..=words.len()).collect(),
            ContextualOp::Insert => Vec::new(),
        };
        if choices.is_empty() {
            return None;
        }
        let n = ((rate * choices.len() as f64) as usize).clamp(1, choices.len());
        let slots = rng.sample(choices.len(), n).into_iter().map(|j| choices[j]).collect();
        Some(ContextualPlan { op, words, slots, rng })
    }

    /// One text per slot, that slot masked with `mask`: the word's core replaced (its punctuation
    /// kept), or `mask` put in the gap.
    pub fn masked_texts(&self, mask: &str) -> Vec<String> {
        self.slots.iter().map(|&slot| self.with_masks(&[slot], mask)).collect()
    }

    /// The text with every slot masked at once: what a preview shows before a model fills it.
    pub fn preview(&self, mask: &str) -> String {
        self.with_masks(&self.slots, mask)
    }

    fn with_masks(&self, slots: &[usize], mask: &str) -> String {
        let mut out: Vec<String> = Vec::with_capacity(self.words.len() + slots.len());
        for i in 0..=self.words.len() {
            if self.op == ContextualOp::Insert && slots.contains(&i) {
                out.push(mask.to_string());
            }
            if let Some(word) = self.words.get(i) {
                if self.op == ContextualOp::Substitute && slots.contains(&i) {
                    let (before, _, after) = split_word(word);
                    out.push(format!("{before}{mask}{after}"));
                } else {
                    out.push(word.clone());
                }
            }
        }
        out.join(" ")
    }

    /// How many slots the plan fills.
    pub fn slots(&self) -> usize {
        self.slots.len()
    }

    /// For each slot, the word it replaces (substitute), which a candidate must differ from.
    pub fn replaced(&self) -> Vec<Option<String>> {
        self.slots
            .iter()
            .map(|&s| (self.op == ContextualOp::Substitute).then(|| split_word(&self.words[s]).1.to_string()))
            .collect()
    }

    /// The augmented text: for each slot, in draw order, one of its `candidates` (word,
    /// probability; best first) drawn by probability; a slot without candidates keeps its word
    /// (or stays empty).
    pub fn finish(mut self, candidates: &[Vec<(String, f32)>]) -> String {
        let mut fill: Vec<Option<String>> = Vec::with_capacity(self.slots.len());
        for c in candidates.iter().take(self.slots.len()) {
            let weights: Vec<f64> = c.iter().map(|(_, p)| f64::from(*p)).collect();
            fill.push(self.rng.weighted_index(&weights).map(|i| c[i].0.clone()));
        }
        let mut words = std::mem::take(&mut self.words);
        match self.op {
            ContextualOp::Substitute => {
                for (&slot, word) in self.slots.iter().zip(&fill) {
                    if let Some(word) = word {
                        let (before, _, after) = split_word(&words[slot]);
                        words[slot] = format!("{before}{word}{after}");
                    }
                }
            }
            ContextualOp::Insert => {
                // the highest gap first, so that the lower gaps' indices still hold
                let mut gaps: Vec<(usize, &Option<String>)> = self.slots.iter().copied().zip(&fill).collect();
                gaps.sort_by(|a, b| b.0.cmp(&a.0));
                for (gap, word) in gaps {
                    if let Some(word) = word {
                        words.insert(gap, word.clone());
                    }
                }
            }
        }
        words.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_words_punctuation_stays_around_its_substitute() {
        assert_eq!(split_word("(film),"), ("(", "film", "),"));
        assert_eq!(split_word("--"), ("", "", "--"));
        let plan = ContextualPlan::new(ContextualOp::Substitute, "a witty , lovely film.", 0.0, PyRandom::new(3)).unwrap();
        let masked = plan.masked_texts("[MASK]");
        assert_eq!(masked.len(), 1);
        assert!(masked[0].matches("[MASK]").count() == 1 && masked[0].contains(" , "), "{masked:?}");
        let text = plan.finish(&[vec![("great".into(), 1.0)]]);
        assert_eq!(text.split_whitespace().count(), 5);
        assert!(text.contains("great"), "{text}");
    }

    #[test]
    fn insertions_land_in_their_gaps_and_empty_candidates_keep_the_text() {
        let plan = ContextualPlan::new(ContextualOp::Insert, "one two three", 1.0, PyRandom::new(0)).unwrap();
        // rate 1: every gap of the three words, the two ends included
        assert_eq!(plan.masked_texts("<m>").len(), 4);
        let fills: Vec<Vec<(String, f32)>> = (0..4).map(|i| vec![(format!("x{i}"), 1.0)]).collect();
        let out: Vec<String> = plan.finish(&fills).split(' ').map(str::to_string).collect();
        assert_eq!(out.len(), 7);
        assert!(out.iter().step_by(2).all(|w| w.starts_with('x')), "{out:?}");
        assert_eq!(out.iter().skip(1).step_by(2).map(String::as_str).collect::<Vec<_>>(), ["one", "two", "three"]);
        let plan = ContextualPlan::new(ContextualOp::Substitute, "keep these words", 0.5, PyRandom::new(0)).unwrap();
        assert_eq!(plan.finish(&[vec![]]), "keep these words");
        assert!(ContextualPlan::new(ContextualOp::Substitute, "-- ..", 0.5, PyRandom::new(0)).is_none());
        assert!(ContextualPlan::new(ContextualOp::Insert, "  ", 0.5, PyRandom::new(0)).is_none());
    }
}
