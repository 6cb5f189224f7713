//! scikit-learn's `LogisticRegression()` (L2 penalty, C = 1, intercept unpenalised; one weight
//! vector and a sigmoid for two classes, a softmax over every class for more): the head SetFit
//! puts on its sentence embeddings. The problem is strictly convex, so its one optimum is found
//! with L-BFGS in f64 to a tight tolerance (scikit-learn's own fit stops at `tol=1e-4`, a little
//! short of it; tests/setfit.rs compares both).

use crate::{Error, Result};

/// A fitted head: `coef` is `[1, features]` for two classes, `[classes, features]` for more
/// (scikit-learn's `coef_` and `intercept_`).
#[derive(Clone, Debug, PartialEq)]
pub struct LogisticRegression {
    pub coef: Vec<Vec<f64>>,
    pub intercept: Vec<f64>,
    pub classes: usize,
    /// L-BFGS iterations the fit took.
    pub iterations: usize,
}

/// The inverse regularisation strength scikit-learn defaults to.
pub const C: f64 = 1.0;
const MAX_ITERATIONS: usize = 10_000;
const GRADIENT_TOLERANCE: f64 = 1e-11;
const HISTORY: usize = 10;

impl LogisticRegression {
    /// Fits rows `x` (all of one width) with class ids `y` in 0..classes.
    pub fn fit(x: &[Vec<f32>], y: &[usize], classes: usize) -> Result<Self> {
        let features = x.first().map_or(0, Vec::len);
        if x.is_empty() || x.len() != y.len() || x.iter().any(|r| r.len() != features) || classes < 2 || y.iter().any(|&c| c >= classes) {
            return Err(Error::Data(format!(
                "the logistic-regression head needs rows of equal width and a class id below {classes} for each of them (got {} rows, {} labels)",
                x.len(),
                y.len()
            )));
        }
        let outputs = if classes == 2 { 1 } else { classes };
        let problem = Problem { x, y, outputs, features };
        let (theta, iterations) = lbfgs(&problem, vec![0.0; outputs * (features + 1)])?;
        let coef = (0..outputs).map(|k| theta[k * (features + 1)..k * (features + 1) + features].to_vec()).collect();
        let intercept = (0..outputs).map(|k| theta[k * (features + 1) + features]).collect();
        Ok(LogisticRegression { coef, intercept, classes, iterations })
    }

    /// Class probabilities of one row (`predict_proba`).
    pub fn probabilities(&self, row: &[f32]) -> Vec<f64> {
        let scores: Vec<f64> = self.coef.iter().zip(&self.intercept).map(|(w, b)| dot(w, row) + b).collect();
        if self.classes == 2 {
            let p = sigmoid(scores[0]);
            vec![1.0 - p, p]
        } else {
            softmax(&scores)
        }
    }
}

fn dot(w: &[f64], row: &[f32]) -> f64 {
    w.iter().zip(row).map(|(a, &b)| a * f64::from(b)).sum()
}

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 { 1.0 / (1.0 + (-z).exp()) } else { z.exp() / (1.0 + z.exp()) }
}

fn softmax(z: &[f64]) -> Vec<f64> {
    let max = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = z.iter().map(|v| (v - max).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.into_iter().map(|v| v / sum).collect()
}

/// scikit-learn's objective: mean log loss + ‖W‖² / (2·C·n), per weight vector with its
/// intercept last in `theta`.
struct Problem<'a> {
    x: &'a [Vec<f32>],
    y: &'a [usize],
    outputs: usize,
    features: usize,
}

impl Problem<'_> {
    fn value_and_gradient(&self, theta: &[f64]) -> (f64, Vec<f64>) {
        let (n, d) = (self.x.len() as f64, self.features);
        let mut grad = vec![0.0; theta.len()];
        let mut loss = 0.0;
        let weights = |k: usize| &theta[k * (d + 1)..(k + 1) * (d + 1)];
        for (row, &label) in self.x.iter().zip(self.y) {
            let scores: Vec<f64> = (0..self.outputs).map(|k| dot(&weights(k)[..d], row) + weights(k)[d]).collect();
            // d loss / d score, per output
            let residual: Vec<f64> = if self.outputs == 1 {
                let z = scores[0];
                let target = if label == 1 { 1.0 } else { 0.0 };
                // log(1 + e^z) − target·z, computed without overflow
                loss += z.max(0.0) + (-z.abs()).exp().ln_1p() - target * z;
                vec![sigmoid(z) - target]
            } else {
                let p = softmax(&scores);
                loss -= p[label].max(f64::MIN_POSITIVE).ln();
                p.iter().enumerate().map(|(k, &pk)| pk - if k == label { 1.0 } else { 0.0 }).collect()
            };
            for (k, r) in residual.iter().enumerate() {
                let g = &mut grad[k * (d + 1)..(k + 1) * (d + 1)];
                for (gj, &xj) in g[..d].iter_mut().zip(row) {
                    *gj += r * f64::from(xj);
                }
                g[d] += r;
            }
        }
        let l2 = 1.0 / (C * n);
        let mut penalty = 0.0;
        for k in 0..self.outputs {
            for j in 0..d {
                let w = theta[k * (d + 1) + j];
                penalty += w * w;
                grad[k * (d + 1) + j] = grad[k * (d + 1) + j] / n + l2 * w;
            }
            grad[k * (d + 1) + d] /= n;
        }
        (loss / n + 0.5 * l2 * penalty, grad)
    }
}

fn inner(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Minimises the problem from `theta`: L-BFGS with a backtracking (Armijo) line search; returns
/// the minimiser and the iterations taken.
fn lbfgs(problem: &Problem, mut theta: Vec<f64>) -> Result<(Vec<f64>, usize)> {
    let (mut value, mut grad) = problem.value_and_gradient(&theta);
    let mut history: std::collections::VecDeque<(Vec<f64>, Vec<f64>, f64)> = std::collections::VecDeque::new();
    for iteration in 0..MAX_ITERATIONS {
        if grad.iter().all(|g| g.abs() <= GRADIENT_TOLERANCE) {
            return Ok((theta, iteration));
        }
        // two-loop recursion: direction = −H·grad
        let mut q = grad.clone();
        let mut alphas = Vec::with_capacity(history.len());
        for (s, y, rho) in history.iter().rev() {
            let a = rho * inner(s, &q);
            q.iter_mut().zip(y).for_each(|(qi, yi)| *qi -= a * yi);
            alphas.push(a);
        }
        let gamma = history.back().map_or(1.0 / inner(&grad, &grad).sqrt().max(1e-300), |(s, y, _)| inner(s, y) / inner(y, y));
        q.iter_mut().for_each(|qi| *qi *= gamma);
        for ((s, y, rho), a) in history.iter().zip(alphas.iter().rev()) {
            let b = rho * inner(y, &q);
            q.iter_mut().zip(s).for_each(|(qi, si)| *qi += (a - b) * si);
        }
        let direction: Vec<f64> = q.iter().map(|v| -v).collect();
        let slope = inner(&grad, &direction);
        if !(slope < 0.0) {
            history.clear();
            continue;
        }
        let mut step = 1.0;
        let (next, next_value, next_grad) = loop {
            let candidate: Vec<f64> = theta.iter().zip(&direction).map(|(t, d)| t + step * d).collect();
            let (v, g) = problem.value_and_gradient(&candidate);
            if v <= value + 1e-4 * step * slope {
                break (candidate, v, g);
            }
            step *= 0.5;
            if step < 1e-20 {
                // no decrease is representable any more: this is the optimum in f64
                return Ok((theta, iteration));
            }
        };
        let s: Vec<f64> = next.iter().zip(&theta).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = next_grad.iter().zip(&grad).map(|(a, b)| a - b).collect();
        let sy = inner(&s, &y);
        if sy > 1e-300 {
            if history.len() == HISTORY {
                history.pop_front();
            }
            history.push_back((s, y, 1.0 / sy));
        }
        (theta, value, grad) = (next, next_value, next_grad);
        if !value.is_finite() {
            return Err(Error::Data("the logistic-regression head diverged (an embedding holds NaN or infinity)".into()));
        }
    }
    Ok((theta, MAX_ITERATIONS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separable_classes_are_told_apart_and_bad_shapes_refused() {
        let x = vec![vec![1.0, 0.0], vec![0.9, 0.1], vec![0.0, 1.0], vec![0.1, 0.9], vec![0.5, 0.5], vec![0.4, 0.6]];
        let two = LogisticRegression::fit(&x, &[0, 0, 1, 1, 0, 1], 2).unwrap();
        assert_eq!(two.coef.len(), 1);
        assert!(two.probabilities(&[1.0, 0.0])[0] > 0.5 && two.probabilities(&[0.0, 1.0])[1] > 0.5);
        let three = LogisticRegression::fit(&x, &[0, 0, 1, 1, 2, 2], 3).unwrap();
        assert_eq!(three.coef.len(), 3);
        assert!((three.probabilities(&[0.3, 0.3]).iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(LogisticRegression::fit(&x, &[0, 1], 2).is_err());
        assert!(LogisticRegression::fit(&x, &[0, 0, 1, 1, 0, 5], 2).is_err());
    }
}
