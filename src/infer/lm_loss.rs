//! The summed next-token negative log-likelihood of a batch, computed in chunks of positions so
//! that no `[positions, vocabulary]` tensor outlives one chunk: a 262,144-token vocabulary (Gemma)
//! makes the logits of 8 × 256 tokens 2.1 GB, and autodiff would keep them, their log-softmax and
//! their gradient until the backward pass.
//!
//! The gradient is supplied without keeping them: for the head `logits = h · Wᵀ` and the summed
//! loss `L`, `∂L/∂logits = G = w · (softmax(logits) − onehot(target))` (per position, `w` its
//! weight), so `∂L/∂h = G · W` and `∂L/∂W = Gᵀ · h`. Each chunk computes its logits, its part of
//! `L` and its `G` without autodiff, and keeps only `G · W` ([chunk, hidden]) and adds `Gᵀ · h`
//! into one [vocabulary, hidden] sum. A head frozen in a GGUF file's blocks computes both
//! products on its blocks ([`crate::kernels::frozen`]) and takes no gradient. The returned tensor has `L`'s value and the surrogate
//! `Σ h ⊙ stopgrad(G·W) + Σ W ⊙ stopgrad(Gᵀ·h)`'s gradient, which is `L`'s.

use burn::tensor::{IndexingUpdateOp, Int, Tensor, TensorData, activation::log_softmax};

use crate::models::decoder::LmHead;

/// Elements of one chunk's `[positions, vocabulary]` logits (64 MB as f32).
const CHUNK_ELEMENTS: usize = 1 << 24;

/// Positions per chunk for a vocabulary of `vocab` tokens (at least one).
pub fn chunk_positions(vocab: usize) -> usize {
    (CHUNK_ELEMENTS / vocab.max(1)).max(1)
}

/// `−Σ w · log softmax(h · Wᵀ)[target]` over the positions whose weight is not 0.
/// `hidden`: [positions, hidden] (autodiff graph of the model); `head`: W, [vocab, hidden];
/// `targets` and `weights`: per position, on the host.
pub fn nll_sum(hidden: Tensor<2>, head: LmHead, targets: &[i64], weights: &[f32]) -> Tensor<1> {
    let chunk = chunk_positions(head.vocab());
    nll_sum_in_chunks(hidden, head, targets, weights, chunk)
}

/// [`nll_sum`] with `chunk` positions per chunk.
fn nll_sum_in_chunks(hidden: Tensor<2>, head: LmHead, targets: &[i64], weights: &[f32], chunk: usize) -> Tensor<1> {
    let device = hidden.device();
    // only positions that count: prompts and padding contribute nothing
    let rows: Vec<usize> = (0..weights.len()).filter(|&i| weights[i] != 0.0).collect();
    if rows.is_empty() {
        return hidden.sum().mul_scalar(0.0); // keeps the graph: a zero loss and zero gradients
    }
    let index = Tensor::<1, Int>::from_data(TensorData::new(rows.iter().map(|&i| i as i64).collect::<Vec<_>>(), [rows.len()]), &device);
    let hidden = hidden.select(0, index); // [m, hidden]
    let [m, width] = hidden.dims();
    // the same values outside the graph (a leaf parameter keeps require_grad through detach)
    let h = hidden.clone().detach().set_require_grad(false);
    let detached = head.detached();
    let trained_head = match head {
        LmHead::Weight { weight, trained: true } => Some(weight),
        _ => None,
    };
    let chunk = chunk.max(1);
    let mut value = Tensor::<1>::zeros([1], &device);
    let mut toward_hidden = Vec::with_capacity(m.div_ceil(chunk));
    let mut toward_head: Option<Tensor<2>> = None;
    for start in (0..m).step_by(chunk) {
        let end = (start + chunk).min(m);
        let n = end - start;
        let target = Tensor::<2, Int>::from_data(TensorData::new(rows[start..end].iter().map(|&i| targets[i]).collect::<Vec<_>>(), [n, 1]), &device);
        let weight = Tensor::<2>::from_data(TensorData::new(rows[start..end].iter().map(|&i| weights[i]).collect::<Vec<_>>(), [n, 1]), &device);
        let h_chunk = h.clone().slice([start..end, 0..width]);
        let logp = log_softmax(detached.logits(h_chunk.clone()), 1); // [n, vocab]
        let picked = logp.clone().gather(1, target.clone()); // [n, 1]
        value = value + (picked * weight.clone()).sum().neg();
        // G = w · (softmax − onehot)
        let grad = (logp.exp() * weight.clone()).scatter(1, target, weight.neg(), IndexingUpdateOp::Add);
        toward_hidden.push(detached.times(grad.clone())); // [n, hidden]
        if trained_head.is_some() {
            let g_head = grad.transpose().matmul(h_chunk); // [vocab, hidden]
            toward_head = Some(match toward_head {
                Some(acc) => acc + g_head,
                None => g_head,
            });
        }
    }
    let mut surrogate = (hidden * Tensor::cat(toward_hidden, 0)).sum();
    if let (Some(head), Some(g)) = (trained_head, toward_head) {
        surrogate = surrogate + (head * g).sum();
    }
    // L's value, the surrogate's gradient
    surrogate.clone() - surrogate.detach() + value
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Int, Tensor, TensorData, activation::log_softmax};

    use super::*;

    /// Values and gradients (toward the hidden states and the head) equal the plain computation's:
    /// one chunk or several, positions of weight 0 left out.
    #[test]
    fn chunks_give_the_plain_loss_and_its_gradients() {
        let device = crate::device::cpu().with_autodiff();
        let dev = device.device();
        let (n, width, vocab) = (7, 5, 11);
        let values = |len: usize, seed: usize| -> Vec<f32> { (0..len).map(|i| ((i * 7919 + seed * 104_729) % 1000) as f32 / 500.0 - 1.0).collect() };
        let leaf = |len: usize, shape: [usize; 2], seed: usize| Tensor::<2>::from_data(TensorData::new(values(len, seed), shape), dev).require_grad();
        let host = |t: Tensor<2>| t.into_data().try_into_vec::<f32>().unwrap();
        let targets: Vec<i64> = (0..n as i64).map(|i| (i * 5 + 3) % vocab as i64).collect();
        let weights = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0];
        let plain = {
            let (h, w) = (leaf(n * width, [n, width], 1), leaf(vocab * width, [vocab, width], 2));
            let logp = log_softmax(h.clone().matmul(w.clone().transpose()), 1);
            let t = Tensor::<2, Int>::from_data(TensorData::new(targets.clone(), [n, 1]), dev);
            let wt = Tensor::<1>::from_data(TensorData::new(weights.to_vec(), [n]), dev);
            let loss = (logp.gather(1, t).reshape([n]) * wt).sum().neg();
            let grads = loss.backward();
            (loss.into_data().try_into_vec::<f32>().unwrap(), host(h.grad(&grads).unwrap()), host(w.grad(&grads).unwrap()))
        };
        for chunk in [1, 2, 100] {
            let (h, w) = (leaf(n * width, [n, width], 1), leaf(vocab * width, [vocab, width], 2));
            // the head goes in transposed twice, as a model's untied head does: not a leaf itself
            let head = LmHead::Weight { weight: w.clone().transpose().transpose(), trained: true };
            let loss = nll_sum_in_chunks(h.clone(), head, &targets, &weights, chunk);
            let grads = loss.backward();
            let got = (loss.into_data().try_into_vec::<f32>().unwrap(), host(h.grad(&grads).unwrap()), host(w.grad(&grads).unwrap()));
            for (name, a, b) in [("loss", &got.0, &plain.0), ("hidden gradient", &got.1, &plain.1), ("head gradient", &got.2, &plain.2)] {
                assert_eq!(a.len(), b.len(), "{name}");
                for (x, y) in a.iter().zip(b) {
                    assert!((x - y).abs() <= 1e-5, "{name} with chunks of {chunk}: {x} vs {y}");
                }
            }
        }
    }
}
