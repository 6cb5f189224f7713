//! From per-token tag probabilities to entities, as transformers' `TokenClassificationPipeline`
//! post-processes them: every aggregation strategy (`none`, `simple`, `first`, `average`, `max`),
//! its word-boundary rules and its grouping of adjacent `B-`/`I-` tags.

use serde::{Deserialize, Serialize};

use crate::{Error, Result, tokenizer::{TextTokenizer, words::TextTokens}};

/// How tokens are merged into entities (transformers' `aggregation_strategy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
pub enum Aggregation {
    /// One result per token, its best tag.
    None,
    /// Adjacent tokens with the same entity type grouped, each token's best tag as it is.
    #[default]
    Simple,
    /// Each word takes its first token's tag, then words are grouped.
    First,
    /// Each word takes the tag of its tokens' mean probabilities.
    Average,
    /// Each word takes the tag of its single most confident token.
    Max,
}

impl std::str::FromStr for Aggregation {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        serde_json::from_value(serde_json::Value::String(s.into())).map_err(|_| {
            Error::Options(format!("unknown aggregation {s:?}; valid values are \"none\", \"simple\", \"first\", \"average\", \"max\""))
        })
    }
}

/// A tagged token (strategy `none`) or an entity (the others).
#[derive(Clone, Debug, PartialEq, Serialize, ts_rs::TS)]
pub struct TokenEntity {
    /// The tag (`B-PER`; strategy `none`) or the entity type (`PER`; the others).
    pub entity: String,
    pub score: f32,
    /// The token's position in the model's input (strategy `none` only).
    #[ts(optional)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// The token (`none`) or the entity's tokens joined by the tokenizer's decoder.
    pub word: String,
    /// `[start, end)` in the text, in characters (Unicode scalar values).
    pub start: usize,
    pub end: usize,
}

/// A non-special token with its probabilities.
struct Piece {
    token: String,
    scores: Vec<f32>,
    start: usize,
    end: usize,
    index: usize,
    is_subword: bool,
}

/// The first index of the largest value (numpy's `argmax`).
fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

fn label(labels: &[String], i: usize) -> Result<String> {
    labels.get(i).cloned().ok_or_else(|| Error::Weights(format!("the model predicts tag {i}, which config.json's id2label does not name")))
}

/// Entities of `text` from its tokens and each token's tag probabilities (`probs[i]` for token
/// `i`, over `labels`); results tagged `O` are left out, as transformers' `ignore_labels`.
pub fn entities(
    text: &str,
    tokens: &TextTokens,
    probs: &[Vec<f32>],
    labels: &[String],
    strategy: Aggregation,
    tokenizer: &TextTokenizer,
) -> Result<Vec<TokenEntity>> {
    if probs.len() != tokens.ids.len() {
        return Err(Error::Backend(format!("{} tokens but {} rows of tag probabilities", tokens.ids.len(), probs.len())));
    }
    let chars: Vec<char> = text.chars().collect();
    let by_prefix = tokenizer.has_subword_prefix();
    let unk = tokenizer.unk_id();
    let mut pieces = Vec::new();
    for (index, scores) in probs.iter().enumerate() {
        if tokens.special[index] {
            continue;
        }
        let (start, end) = tokens.offsets[index];
        let original: String = chars.get(start..end.min(chars.len())).unwrap_or_default().iter().collect();
        let mut token = tokens.tokens[index].clone();
        let mut is_subword = if by_prefix {
            token.chars().count() != original.chars().count()
        } else {
            start > 0 && chars.get(start - 1..(start + 1).min(chars.len())).is_some_and(|around| !around.contains(&' '))
        };
        if Some(tokens.ids[index]) == unk {
            token = original;
            is_subword = false;
        }
        pieces.push(Piece { token, scores: scores.clone(), start, end, index, is_subword });
    }
    let tagged = match strategy {
        Aggregation::None | Aggregation::Simple => pieces
            .iter()
            .map(|p| {
                let best = argmax(&p.scores);
                Ok(TokenEntity { entity: label(labels, best)?, score: p.scores[best], index: Some(p.index), word: p.token.clone(), start: p.start, end: p.end })
            })
            .collect::<Result<Vec<_>>>()?,
        _ => words(&pieces, strategy, labels, tokenizer)?,
    };
    let out = if strategy == Aggregation::None { tagged } else { group(tagged, tokenizer)? };
    Ok(out.into_iter().filter(|e| e.entity != "O").collect())
}

/// One entity per word: its pieces merged by `strategy` (`first`, `average`, `max`).
fn words(pieces: &[Piece], strategy: Aggregation, labels: &[String], tokenizer: &TextTokenizer) -> Result<Vec<TokenEntity>> {
    let mut groups: Vec<Vec<&Piece>> = Vec::new();
    for p in pieces {
        match groups.last_mut() {
            Some(g) if p.is_subword => g.push(p),
            _ => groups.push(vec![p]),
        }
    }
    groups
        .into_iter()
        .map(|g| {
            let scores = match strategy {
                Aggregation::First => g[0].scores.clone(),
                Aggregation::Max => {
                    let best = g.iter().fold(g[0], |b, p| if max(&p.scores) > max(&b.scores) { p } else { b });
                    best.scores.clone()
                }
                _ => (0..g[0].scores.len()).map(|k| g.iter().map(|p| p.scores[k]).sum::<f32>() / g.len() as f32).collect(),
            };
            let best = argmax(&scores);
            let tokens: Vec<String> = g.iter().map(|p| p.token.clone()).collect();
            Ok(TokenEntity {
                entity: label(labels, best)?,
                score: scores[best],
                index: None,
                word: tokenizer.tokens_to_string(&tokens)?,
                start: g[0].start,
                end: g[g.len() - 1].end,
            })
        })
        .collect()
}

fn max(v: &[f32]) -> f32 {
    v.iter().copied().fold(f32::NEG_INFINITY, f32::max)
}

/// A tag's `B`/`I` part and its type (a tag without a prefix continues: `I`).
fn split_tag(tag: &str) -> (&str, &str) {
    match tag.split_once('-') {
        Some((bi @ ("B" | "I"), kind)) => (bi, kind),
        _ => ("I", tag),
    }
}

/// Adjacent entities of one type merged, a `B-` starting a new one (transformers'
/// `group_entities`); the score is the mean of the merged ones'.
fn group(tagged: Vec<TokenEntity>, tokenizer: &TextTokenizer) -> Result<Vec<TokenEntity>> {
    let mut groups: Vec<Vec<TokenEntity>> = Vec::new();
    for e in tagged {
        let joins = groups.last().is_some_and(|g| {
            let (bi, kind) = split_tag(&e.entity);
            kind == split_tag(&g[g.len() - 1].entity).1 && bi != "B"
        });
        match groups.last_mut() {
            Some(g) if joins => g.push(e),
            _ => groups.push(vec![e]),
        }
    }
    groups
        .into_iter()
        .map(|g| {
            let tokens: Vec<String> = g.iter().map(|e| e.word.clone()).collect();
            let kind = g[0].entity.split_once('-').map_or(g[0].entity.as_str(), |(_, k)| k).to_string();
            Ok(TokenEntity {
                entity: kind,
                score: g.iter().map(|e| e.score).sum::<f32>() / g.len() as f32,
                index: None,
                word: tokenizer.tokens_to_string(&tokens)?,
                start: g[0].start,
                end: g[g.len() - 1].end,
            })
        })
        .collect()
}
