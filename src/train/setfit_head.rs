//! setfit's differentiable head (`SetFitHead`, `use_differentiable_head=True`): a linear layer
//! whose softmax over `(W·x + b) / (temperature + eps)` gives the class probabilities, trained as
//! setfit's `SetFitModel.fit` trains it with the body frozen (`end_to_end=False`, its default; the
//! body trained with it is `setfit_end_to_end`):
//! cross-entropy, AdamW (torch's defaults, weight decay `l2_weight`), the learning rate halved
//! every 5 epochs (`StepLR(step_size=5, gamma=0.5)`), no clipping, xavier-uniform weights and
//! biases of 0.01 to start. It learns from the embeddings the trained body gives with dropout off,
//! computed once (setfit runs the frozen body again for every batch, with its dropout on). The
//! head is tiny, so it trains on the host; the result is the logistic regression it computes.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{Error, Result, data::epoch_order, formats::setfit_head::softmax_layer_as_logistic, infer::logistic::LogisticRegression};

/// setfit's `SetFitHead` default `eps`, added to the temperature before dividing the logits.
pub const EPS: f64 = 1e-5;
/// setfit's defaults: epochs, rows per step, learning rate.
pub const DEFAULT_EPOCHS: usize = 16;
pub const DEFAULT_BATCH_SIZE: usize = 2;
pub const DEFAULT_LEARNING_RATE: f64 = 1e-2;
/// Epochs between halvings of the learning rate (setfit's `StepLR`).
pub const STEP_EPOCHS: usize = 5;

/// The head's weights: `weight[class][feature]`, `bias[class]`, at temperature 1 (setfit's default).
#[derive(Clone, Debug, PartialEq)]
pub struct DifferentiableHead {
    pub weight: Vec<Vec<f64>>,
    pub bias: Vec<f64>,
}

/// How the head trains: epochs, rows per step, learning rate, weight decay, and the seed of the
/// rows' order.
#[derive(Clone, Debug)]
pub struct HeadRun {
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub weight_decay: f64,
    pub seed: u64,
}

impl DifferentiableHead {
    /// torch's start for a `SetFitHead`: xavier-uniform weights (drawn from `seed`), biases 0.01.
    pub fn initial(classes: usize, features: usize, seed: u64) -> Self {
        let bound = (6.0 / (features + classes) as f64).sqrt();
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5e7f_17_4ead);
        let weight = (0..classes).map(|_| (0..features).map(|_| rng.random_range(-bound..bound)).collect()).collect();
        DifferentiableHead { weight, bias: vec![0.01; classes] }
    }

    fn logits(&self, row: &[f32]) -> Vec<f64> {
        let scale = 1.0 + EPS;
        self.weight.iter().zip(&self.bias).map(|(w, b)| (w.iter().zip(row).map(|(a, &x)| a * f64::from(x)).sum::<f64>() + b) / scale).collect()
    }

    /// The logistic regression with the same probabilities: the rows divided by `1 + eps`; for two
    /// classes the binary form (the second row less the first).
    pub fn as_logistic(&self) -> LogisticRegression {
        let (coef, intercept) = softmax_layer_as_logistic(&self.weight, &self.bias, 1.0 + EPS);
        LogisticRegression { coef, intercept, classes: self.weight.len(), iterations: 0 }
    }
}

/// AdamW's moments of one parameter tensor, flattened.
struct Moments {
    first: Vec<f64>,
    second: Vec<f64>,
}

impl Moments {
    fn new(n: usize) -> Self {
        Moments { first: vec![0.0; n], second: vec![0.0; n] }
    }

    /// torch's AdamW step (betas 0.9/0.999, eps 1e-8) on `values` with `grads` at step `t`.
    fn step(&mut self, values: &mut [f64], grads: &[f64], lr: f64, weight_decay: f64, t: i32) {
        let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8);
        let (c1, c2) = (1.0 - b1.powi(t), (1.0 - b2.powi(t)).sqrt());
        for (((p, g), m), v) in values.iter_mut().zip(grads).zip(&mut self.first).zip(&mut self.second) {
            *p -= lr * weight_decay * *p;
            *m = b1 * *m + (1.0 - b1) * g;
            *v = b2 * *v + (1.0 - b2) * g * g;
            *p -= lr / c1 * *m / (v.sqrt() / c2 + eps);
        }
    }
}

/// Trains `head` on `embeddings` labelled `labels` (class ids below its classes); `on_step(step,
/// loss)` hears each step's mean cross-entropy. The rows come in webtune's order for `run.seed`.
pub fn train_head(mut head: DifferentiableHead, embeddings: &[Vec<f32>], labels: &[usize], run: &HeadRun, mut on_step: impl FnMut(usize, f64)) -> Result<DifferentiableHead> {
    let classes = head.weight.len();
    let features = head.weight.first().map_or(0, Vec::len);
    if embeddings.len() != labels.len() || embeddings.iter().any(|e| e.len() != features) || labels.iter().any(|&l| l >= classes) {
        return Err(Error::Data(format!("the differentiable head takes {features} features and {classes} classes; the rows do not fit it")));
    }
    let (mut weight_moments, mut bias_moments) = (Moments::new(classes * features), Moments::new(classes));
    let lengths = vec![0; embeddings.len()];
    let mut t = 0i32;
    for epoch in 0..run.epochs {
        let lr = run.learning_rate * 0.5f64.powi(i32::try_from(epoch / STEP_EPOCHS).unwrap_or(i32::MAX));
        for batch in epoch_order(&lengths, run.batch_size.max(1), run.seed, epoch, false) {
            let mut weight_grad = vec![0.0; classes * features];
            let mut bias_grad = vec![0.0; classes];
            let mut loss = 0.0;
            let n = batch.len() as f64;
            for &r in &batch {
                let z = head.logits(&embeddings[r]);
                let max = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let sum: f64 = z.iter().map(|v| (v - max).exp()).sum();
                loss += (max + sum.ln() - z[labels[r]]) / n;
                for c in 0..classes {
                    // d loss / d logit, then through the division by 1 + eps
                    let dz = (((z[c] - max).exp() / sum) - f64::from(u8::from(c == labels[r]))) / n / (1.0 + EPS);
                    bias_grad[c] += dz;
                    for (g, &x) in weight_grad[c * features..(c + 1) * features].iter_mut().zip(&embeddings[r]) {
                        *g += dz * f64::from(x);
                    }
                }
            }
            t = t.saturating_add(1);
            let mut flat: Vec<f64> = head.weight.concat();
            weight_moments.step(&mut flat, &weight_grad, lr, run.weight_decay, t);
            bias_moments.step(&mut head.bias, &bias_grad, lr, run.weight_decay, t);
            for (row, values) in head.weight.iter_mut().zip(flat.chunks(features.max(1))) {
                row.copy_from_slice(values);
            }
            on_step(t as usize, loss);
        }
    }
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_learns_separable_rows_and_reads_as_its_logistic_regression() {
        let embeddings: Vec<Vec<f32>> = (0..12).map(|i| vec![if i % 3 == 0 { 1.0 } else { -1.0 }, (i % 3) as f32, 0.5]).collect();
        let labels: Vec<usize> = (0..12).map(|i| i % 3).collect();
        let run = HeadRun { epochs: 30, batch_size: 4, learning_rate: 0.05, weight_decay: 0.01, seed: 1 };
        let mut losses = Vec::new();
        let head = train_head(DifferentiableHead::initial(3, 3, 7), &embeddings, &labels, &run, |_, l| losses.push(l)).unwrap();
        assert_eq!(losses.len(), 30 * 3);
        assert!(losses.last().unwrap() < &(losses[0] * 0.5), "{losses:?}");
        let logistic = head.as_logistic();
        for (row, &label) in embeddings.iter().zip(&labels) {
            let p = logistic.probabilities(row);
            let z = head.logits(row);
            let softmax: Vec<f64> = z.iter().map(|v| v.exp() / z.iter().map(|w| w.exp()).sum::<f64>()).collect();
            assert!(p.iter().zip(&softmax).all(|(a, b)| (a - b).abs() < 1e-12));
            assert_eq!((0..3).max_by(|&a, &b| p[a].total_cmp(&p[b])), Some(label));
        }
        // two classes: the binary form gives the softmax's probabilities
        let two = DifferentiableHead { weight: vec![vec![0.3, -1.0], vec![-0.2, 0.4]], bias: vec![0.1, -0.3] };
        let z = two.logits(&[0.5, 2.0]);
        let p1 = 1.0 / (1.0 + (z[0] - z[1]).exp());
        assert!((two.as_logistic().probabilities(&[0.5, 2.0])[1] - p1).abs() < 1e-12);
        assert!(train_head(two, &[vec![1.0]], &[0], &run, |_, _| {}).is_err(), "rows of another width");
    }
}
