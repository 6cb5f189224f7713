//! From start/end logits to answers, as transformers' `utils_qa.postprocess_qa_predictions` reads
//! them: in every window of an example, the `n_best` best starts and ends form the candidate
//! spans (inside the context, end not before start, at most `max_answer_length` tokens), scored by
//! start + end logit; the best over all windows wins, with its character offsets in the context.
//! With SQuAD 2.0's null answer, the lowest first-token score over the windows is the null score,
//! and "no answer" wins when it beats the best span by more than a threshold. Candidates come from
//! each window's own tokens (run_qa pads windows to 384 tokens, and padding can take n-best slots
//! there without ever being an answer).

use serde::{Deserialize, Serialize};

use crate::data::{qa_features::QaFeature, squad::QaExample};

/// How answers are read from the logits.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct AnswerSettings {
    /// Best starts and ends considered per window (run_qa's `n_best_size`, 20).
    pub n_best: usize,
    /// Longest answer in tokens (run_qa's `max_answer_length`, 30).
    pub max_answer_length: usize,
    /// SQuAD 2.0: "no answer" is possible (`version_2_with_negative`).
    pub allow_no_answer: bool,
    /// SQuAD 2.0: how much the null score must beat the best span by (`null_score_diff_threshold`, 0).
    pub null_threshold: f32,
}

impl Default for AnswerSettings {
    fn default() -> Self {
        AnswerSettings { n_best: 20, max_answer_length: 30, allow_no_answer: false, null_threshold: 0.0 }
    }
}

/// An answer: its text and `[start, end)` in the context (characters), and its probability among
/// the example's best candidates. "No answer" is the empty text at 0..0.
#[derive(Clone, Debug, PartialEq, Serialize, ts_rs::TS)]
pub struct QaAnswer {
    pub text: String,
    pub start: usize,
    pub end: usize,
    pub score: f32,
}

/// An example's answer, and its best candidates, most likely first.
#[derive(Clone, Debug, PartialEq)]
pub struct Answered {
    pub answer: QaAnswer,
    pub candidates: Vec<QaAnswer>,
}

#[derive(Clone)]
struct Candidate {
    start: usize,
    end: usize,
    score: f32,
    start_logit: f32,
    end_logit: f32,
}

/// The indices of the `n` largest values, largest first (ties: the later index first, as numpy's
/// reversed argsort).
fn best(v: &[f32], n: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[b].total_cmp(&v[a]).then(b.cmp(&a)));
    idx.truncate(n);
    idx
}

fn substring(context: &str, start: usize, end: usize) -> String {
    context.chars().skip(start).take(end.saturating_sub(start)).collect()
}

/// The answer of each example from its features' logits (`start_logits[i]`, `end_logits[i]` over
/// feature `i`'s tokens).
pub fn answers(examples: &[QaExample], features: &[QaFeature], start_logits: &[Vec<f32>], end_logits: &[Vec<f32>], settings: AnswerSettings) -> Vec<Answered> {
    let mut by_example: Vec<Vec<usize>> = vec![Vec::new(); examples.len()];
    for (i, f) in features.iter().enumerate() {
        if let Some(list) = by_example.get_mut(f.example) {
            list.push(i);
        }
    }
    examples
        .iter()
        .zip(by_example)
        .map(|(ex, feats)| {
            let mut null: Option<Candidate> = None;
            let mut prelim = Vec::new();
            for fi in feats {
                let (s, e, offsets) = (&start_logits[fi], &end_logits[fi], &features[fi].offsets);
                if s.is_empty() || e.is_empty() {
                    continue;
                }
                let score = s[0] + e[0];
                if null.as_ref().is_none_or(|n| n.score > score) {
                    null = Some(Candidate { start: 0, end: 0, score, start_logit: s[0], end_logit: e[0] });
                }
                for &si in &best(s, settings.n_best) {
                    for &ei in &best(e, settings.n_best) {
                        let (Some(Some(so)), Some(Some(eo))) = (offsets.get(si), offsets.get(ei)) else { continue };
                        if ei < si || ei - si + 1 > settings.max_answer_length {
                            continue;
                        }
                        prelim.push(Candidate { start: so.0, end: eo.1, score: s[si] + e[ei], start_logit: s[si], end_logit: e[ei] });
                    }
                }
            }
            let null_score = null.as_ref().map(|n| n.score);
            let null = null.filter(|_| settings.allow_no_answer);
            prelim.extend(null.clone());
            prelim.sort_by(|a, b| b.score.total_cmp(&a.score));
            prelim.truncate(settings.n_best);
            if let Some(n) = null
                && !prelim.iter().any(|c| c.start == 0 && c.end == 0)
            {
                prelim.push(n);
            }
            let mut texts: Vec<String> = prelim.iter().map(|c| substring(&ex.context, c.start, c.end)).collect();
            if prelim.is_empty() || (prelim.len() == 1 && texts[0].is_empty()) {
                prelim.insert(0, Candidate { start: 0, end: 0, score: 0.0, start_logit: 0.0, end_logit: 0.0 });
                texts.insert(0, "empty".into());
            }
            let top = prelim.iter().map(|c| c.score).fold(f32::NEG_INFINITY, f32::max);
            let exps: Vec<f32> = prelim.iter().map(|c| (c.score - top).exp()).collect();
            let total: f32 = exps.iter().sum();
            let candidates: Vec<QaAnswer> = prelim
                .iter()
                .zip(&texts)
                .zip(&exps)
                .map(|((c, t), x)| QaAnswer { text: t.clone(), start: c.start, end: c.end, score: x / total })
                .collect();
            let answer = if !settings.allow_no_answer {
                candidates[0].clone()
            } else {
                let i = texts.iter().position(|t| !t.is_empty()).unwrap_or(0);
                let diff = null_score.unwrap_or(0.0) - prelim[i].start_logit - prelim[i].end_logit;
                if diff > settings.null_threshold {
                    let p = candidates.iter().find(|c| c.text.is_empty()).map_or(0.0, |c| c.score);
                    QaAnswer { text: String::new(), start: 0, end: 0, score: p }
                } else {
                    candidates[i].clone()
                }
            };
            Answered { answer, candidates }
        })
        .collect()
}
