//! Choosing the next token from one position's logits, as transformers' `generate` does: the
//! repetition penalty (`RepetitionPenaltyLogitsProcessor`) always, then — when sampling — the
//! temperature, top-k, top-p and min-p warpers in that order. Removed tokens become −∞, so
//! [`process`]'s output can be compared with transformers' processed scores directly.

use rand::Rng;

use crate::kernels::argmax::argmax;

/// The logits processors of one generation (see [`super::GenerateOptions`] for each one's meaning).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Processors {
    pub repetition_penalty: f32,
    /// 0 is greedy: the warpers below are not applied.
    pub temperature: f32,
    pub top_k: Option<usize>,
    pub top_p: Option<f32>,
    pub min_p: Option<f32>,
}

impl Processors {
    /// Whether the logits must be read back to the host: greedy without a penalty is an argmax on
    /// the device instead.
    pub fn needs_host_logits(&self) -> bool {
        self.temperature != 0.0 || self.repetition_penalty != 1.0
    }
}

/// `RepetitionPenaltyLogitsProcessor`: the logit of every token already in `context` (prompt and
/// generated so far) is divided by `penalty` when positive and multiplied by it when negative.
pub fn penalize_repetition(logits: &mut [f32], context: &[u32], penalty: f32) {
    if penalty == 1.0 {
        return;
    }
    let mut seen = vec![false; logits.len()];
    for &id in context {
        let Some(x) = logits.get_mut(id as usize) else { continue };
        if std::mem::replace(&mut seen[id as usize], true) {
            continue;
        }
        *x = if *x < 0.0 { *x * penalty } else { *x / penalty };
    }
}

/// The scores transformers' processors give for `logits` after `context`: the penalty, and the
/// warpers when sampling (temperature > 0). Removed tokens are −∞.
pub fn process(logits: &mut [f32], context: &[u32], p: &Processors) {
    penalize_repetition(logits, context, p.repetition_penalty);
    if p.temperature == 0.0 || logits.is_empty() {
        return;
    }
    if p.temperature != 1.0 {
        logits.iter_mut().for_each(|x| *x /= p.temperature);
    }
    if let Some(k) = p.top_k {
        top_k(logits, k);
    }
    if let Some(top_p) = p.top_p.filter(|&t| t < 1.0) {
        nucleus(logits, top_p);
    }
    if let Some(min_p) = p.min_p {
        min_probability(logits, min_p);
    }
}

/// `TopKLogitsWarper`: removes every token scoring below the k-th best (ties with it stay).
fn top_k(logits: &mut [f32], k: usize) {
    let k = k.clamp(1, logits.len());
    let mut sorted = logits.to_vec();
    sorted.sort_unstable_by(|a, b| b.total_cmp(a));
    let kth = sorted[k - 1];
    logits.iter_mut().filter(|x| **x < kth).for_each(|x| *x = f32::NEG_INFINITY);
}

/// `TopPLogitsWarper`: sorted from least to most likely, tokens whose cumulative probability is
/// still ≤ 1 − top_p are removed; the most likely token always stays.
fn nucleus(logits: &mut [f32], top_p: f32) {
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[a].total_cmp(&logits[b])); // stable, like torch.sort on CPU
    let probs = softmax(&order.iter().map(|&i| logits[i]).collect::<Vec<_>>());
    let threshold = 1.0 - top_p;
    let mut cumulative = 0.0f32;
    let last = order.len() - 1;
    for (rank, (&i, p)) in order.iter().zip(probs).enumerate() {
        cumulative += p;
        if rank < last && cumulative <= threshold {
            logits[i] = f32::NEG_INFINITY;
        }
    }
}

/// `MinPLogitsWarper`: removes tokens less likely than `min_p` × the most likely token's probability.
fn min_probability(logits: &mut [f32], min_p: f32) {
    let best = argmax(logits) as usize;
    let probs = softmax(logits);
    let floor = min_p * probs[best];
    for (i, (x, p)) in logits.iter_mut().zip(probs).enumerate() {
        if p < floor && i != best {
            *x = f32::NEG_INFINITY;
        }
    }
}

/// Softmax in f32, as torch computes it (−∞ gives 0).
fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = logits.iter().map(|&x| (x - max).exp()).collect();
    let total: f32 = exp.iter().sum();
    exp.into_iter().map(|e| e / total).collect()
}

/// Draws a token from `softmax(scores)` (scores already processed; −∞ is never drawn).
pub fn draw(scores: &[f32], rng: &mut impl Rng) -> u32 {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let weights: Vec<f64> = scores.iter().map(|&x| ((x - max) as f64).exp()).collect();
    let total: f64 = weights.iter().sum();
    let mut r = rng.random::<f64>() * total;
    let mut last = argmax(scores);
    for (i, &w) in weights.iter().enumerate() {
        if w > 0.0 {
            last = i as u32;
            r -= w;
            if r <= 0.0 {
                return i as u32;
            }
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn sampling(temperature: f32) -> Processors {
        Processors { repetition_penalty: 1.0, temperature, top_k: None, top_p: None, min_p: None }
    }

    #[test]
    fn warpers_keep_what_they_should_and_draws_follow_the_seed() {
        let logits = [0.0, 5.0, 4.9, -3.0, 1.0];
        let kept = |p: Processors| {
            let mut s = logits.to_vec();
            process(&mut s, &[], &p);
            s.iter().enumerate().filter(|(_, x)| x.is_finite()).map(|(i, _)| i).collect::<Vec<_>>()
        };
        assert_eq!(kept(Processors { top_k: Some(2), ..sampling(1.0) }), [1, 2]);
        assert_eq!(kept(Processors { top_p: Some(0.5), ..sampling(1.0) }), [1]);
        assert_eq!(kept(Processors { min_p: Some(0.5), ..sampling(1.0) }), [1, 2]);
        assert_eq!(kept(Processors { min_p: Some(1.0), ..sampling(1.0) }), [1], "the best token always stays");
        let mut s = logits.to_vec();
        process(&mut s, &[1, 3, 1], &Processors { repetition_penalty: 2.0, ..sampling(0.0) });
        assert_eq!(s, [0.0, 2.5, 4.9, -6.0, 1.0], "each seen token penalised once");
        assert_eq!(argmax(&s), 2);
        let mut top = logits.to_vec();
        process(&mut top, &[], &Processors { top_k: Some(2), ..sampling(1.0) });
        let run = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            (0..200).map(|_| draw(&top, &mut rng)).collect::<Vec<_>>()
        };
        let draws = run(3);
        assert!(draws.iter().all(|&t| t == 1 || t == 2) && draws.contains(&1) && draws.contains(&2));
        assert_eq!(draws, run(3));
    }
}
