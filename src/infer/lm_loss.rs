//! The summed next-token negative log-likelihood of a batch, computed in chunks of positions so
//! that no `[positions, vocabulary]` tensor outlives one chunk: a 262,144-token vocabulary (Gemma)
//! makes the logits of 8 × 256 tokens 2.1 GB, and autodiff would keep them, their log-softmax and
//! their gradient until the backward pass.
//!
//! The gradient is supplied without keeping them: for the head `logits = h · Wᵀ` and the summed
//! loss `L`, `∂L/∂logits = G = w · (softmax(logits) − onehot(target))` (per position, `w` its
//! weight), so `∂L/∂h = G · W` and `∂L/∂W = Gᵀ · h`. Each chunk computes its logits, its part of
//! `L` and its `G` without autodiff, and keeps only `G · W` ([chunk, hidden]) and adds `Gᵀ · h`
//! into one [vocabulary, hidden] sum. The returned tensor has `L`'s value and the surrogate
//! `Σ h ⊙ stopgrad(G·W) + Σ W ⊙ stopgrad(Gᵀ·h)`'s gradient, which is `L`'s.
//!
//! A head frozen in a GGUF file's blocks ([`crate::kernels::frozen`]; it takes no gradient) is
//! decoded once per step, a slice of the vocabulary at a time, instead of once per chunk of
//! positions (Gemma's 262,144 rows 16 times a step): per slice, the logits of every position
//! update a running maximum `M`, the sum `S = Σ exp(l − M)` and `A = Σ exp(l − M) · W_v` (rescaled
//! when `M` grows, as flash attention does), so that `log S + M` is the log-partition and
//! `G·W = w · (A / S − W_target)`.

use burn::tensor::{IndexingUpdateOp, Int, Tensor, TensorData, activation::log_softmax};

use crate::{
    kernels::frozen::{FrozenMatrix, SLICE_VALUES},
    models::decoder::LmHead,
};

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
    match head {
        LmHead::Weight { weight, trained } => {
            let chunk = chunk_positions(weight.dims()[0]);
            nll_sum_in_chunks(hidden, weight, trained, targets, weights, chunk)
        }
        LmHead::Frozen(frozen) => {
            let width = hidden.dims()[1];
            frozen_nll_sum(hidden, &frozen, targets, weights, SLICE_VALUES / width.max(1))
        }
    }
}

/// The positions that count (weight not 0; prompts and padding contribute nothing): their
/// indices, and `hidden`'s rows of them ([m, hidden]); `None` when there are none.
fn counted(hidden: &Tensor<2>, weights: &[f32]) -> Option<(Vec<usize>, Tensor<2>)> {
    let rows: Vec<usize> = (0..weights.len()).filter(|&i| weights[i] != 0.0).collect();
    if rows.is_empty() {
        return None;
    }
    let index = Tensor::<1, Int>::from_data(TensorData::new(rows.iter().map(|&i| i as i64).collect::<Vec<_>>(), [rows.len()]), &hidden.device());
    let picked = hidden.clone().select(0, index);
    Some((rows, picked))
}

/// [`nll_sum`] with the head's matrix `head` (whose parameter takes gradients when `train_head`),
/// `chunk` positions per chunk.
fn nll_sum_in_chunks(hidden: Tensor<2>, head: Tensor<2>, train_head: bool, targets: &[i64], weights: &[f32], chunk: usize) -> Tensor<1> {
    let device = hidden.device();
    let Some((rows, hidden)) = counted(&hidden, weights) else {
        return hidden.sum().mul_scalar(0.0); // keeps the graph: a zero loss and zero gradients
    };
    let [m, width] = hidden.dims();
    // the same values outside the graph (a leaf parameter keeps require_grad through detach)
    let (h, w) = (hidden.clone().detach().set_require_grad(false), head.clone().detach().set_require_grad(false));
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
        let logp = log_softmax(h_chunk.clone().matmul(w.clone().transpose()), 1); // [n, vocab]
        let picked = logp.clone().gather(1, target.clone()); // [n, 1]
        value = value + (picked * weight.clone()).sum().neg();
        // G = w · (softmax − onehot)
        let grad = (logp.exp() * weight.clone()).scatter(1, target, weight.neg(), IndexingUpdateOp::Add);
        toward_hidden.push(grad.clone().matmul(w.clone())); // [n, hidden]
        if train_head {
            let g_head = grad.transpose().matmul(h_chunk); // [vocab, hidden]
            toward_head = Some(match toward_head {
                Some(acc) => acc + g_head,
                None => g_head,
            });
        }
    }
    let mut surrogate = (hidden * Tensor::cat(toward_hidden, 0)).sum();
    if let Some(g) = toward_head {
        surrogate = surrogate + (head * g).sum();
    }
    // L's value, the surrogate's gradient
    surrogate.clone() - surrogate.detach() + value
}

/// [`nll_sum`] with a frozen head, in one pass over slices of at most `max_slice` vocabulary
/// rows (fewer when a slice's logits of every position would pass [`CHUNK_ELEMENTS`]).
fn frozen_nll_sum(hidden: Tensor<2>, head: &FrozenMatrix, targets: &[i64], weights: &[f32], max_slice: usize) -> Tensor<1> {
    let device = hidden.device();
    let Some((rows, hidden)) = counted(&hidden, weights) else {
        return hidden.sum().mul_scalar(0.0); // keeps the graph: a zero loss and zero gradients
    };
    let h = hidden.clone().detach().set_require_grad(false);
    let [m, width] = h.dims();
    let slice = (CHUNK_ELEMENTS / m).min(max_slice).max(1);
    let vocab = head.rows();
    let target = Tensor::<2, Int>::from_data(TensorData::new(rows.iter().map(|&i| targets[i]).collect::<Vec<_>>(), [m, 1]), &device);
    let weight = Tensor::<2>::from_data(TensorData::new(rows.iter().map(|&i| weights[i]).collect::<Vec<_>>(), [m, 1]), &device);
    let mut max = Tensor::<2>::full([m, 1], f32::NEG_INFINITY, &device);
    let mut sum = Tensor::<2>::zeros([m, 1], &device);
    let mut acc = Tensor::<2>::zeros([m, width], &device);
    let mut picked = Tensor::<2>::zeros([m, 1], &device);
    for start in (0..vocab).step_by(slice) {
        let end = (start + slice).min(vocab);
        let w = head.rows_dense(start..end, &device); // [n, width]
        let logits = h.clone().matmul(w.clone().transpose()); // [m, n]
        let grown = max.clone().max_pair(logits.clone().max_dim(1));
        let rescale = (max - grown.clone()).exp(); // 0 on the first slice (M was −∞)
        let e = (logits.clone() - grown.clone()).exp();
        sum = sum * rescale.clone() + e.clone().sum_dim(1);
        acc = acc * rescale + e.matmul(w);
        max = grown;
        // the targets' logits that lie in this slice
        let local = target.clone().sub_scalar(start as i64);
        let inside = local.clone().greater_equal_elem(0).bool_and(local.clone().lower_elem((end - start) as i64));
        picked = picked + logits.gather(1, local.clamp(0, (end - start - 1) as i64)).mask_fill(inside.bool_not(), 0.0);
    }
    let log_partition = max + sum.clone().log();
    let value = ((log_partition - picked) * weight.clone()).sum();
    // G·W = w · (softmax·W − W_target)
    let at_targets = head.lookup(target.reshape([1, m])).reshape([m, width]);
    let toward = (acc / sum - at_targets) * weight;
    let surrogate = (hidden * toward).sum();
    surrogate.clone() - surrogate.detach() + value
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Int, Tensor, TensorData, activation::log_softmax};

    use super::*;

    const N: usize = 7;
    const WIDTH: usize = 5;
    const VOCAB: usize = 11;
    const WEIGHTS: [f32; N] = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0];

    fn values(len: usize, seed: usize) -> Vec<f32> {
        (0..len).map(|i| ((i * 7919 + seed * 104_729) % 1000) as f32 / 500.0 - 1.0).collect()
    }

    fn leaf(shape: [usize; 2], seed: usize, dev: &burn::tensor::Device) -> Tensor<2> {
        Tensor::<2>::from_data(TensorData::new(values(shape[0] * shape[1], seed), shape), dev).require_grad()
    }

    fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_into_vec::<f32>().unwrap()
    }

    fn targets() -> Vec<i64> {
        (0..N as i64).map(|i| (i * 5 + 3) % VOCAB as i64).collect()
    }

    fn assert_close(name: &str, a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len(), "{name}");
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= 1e-5, "{name}: {x} vs {y}");
        }
    }

    /// The loss computed plainly from the whole logits, and its gradients toward the hidden
    /// states and the head.
    fn plain(dev: &burn::tensor::Device) -> [Vec<f32>; 3] {
        let (h, w) = (leaf([N, WIDTH], 1, dev), leaf([VOCAB, WIDTH], 2, dev));
        let logp = log_softmax(h.clone().matmul(w.clone().transpose()), 1);
        let t = Tensor::<2, Int>::from_data(TensorData::new(targets(), [N, 1]), dev);
        let wt = Tensor::<1>::from_data(TensorData::new(WEIGHTS.to_vec(), [N]), dev);
        let loss = (logp.gather(1, t).reshape([N]) * wt).sum().neg();
        let grads = loss.backward();
        [host(loss), host(h.grad(&grads).unwrap()), host(w.grad(&grads).unwrap())]
    }

    /// Values and gradients (toward the hidden states and the head) equal the plain computation's:
    /// one chunk or several, positions of weight 0 left out.
    #[test]
    fn chunks_give_the_plain_loss_and_its_gradients() {
        let device = crate::device::cpu().with_autodiff();
        let dev = device.device();
        let plain = plain(dev);
        for chunk in [1, 2, 100] {
            let (h, w) = (leaf([N, WIDTH], 1, dev), leaf([VOCAB, WIDTH], 2, dev));
            // the head goes in transposed twice, as a model's untied head does: not a leaf itself
            let loss = nll_sum_in_chunks(h.clone(), w.clone().transpose().transpose(), true, &targets(), &WEIGHTS, chunk);
            let grads = loss.backward();
            let got = [host(loss), host(h.grad(&grads).unwrap()), host(w.grad(&grads).unwrap())];
            for (name, a, b) in [("loss", &got[0], &plain[0]), ("hidden gradient", &got[1], &plain[1]), ("head gradient", &got[2], &plain[2])] {
                assert_close(&format!("{name} with chunks of {chunk}"), a, b);
            }
        }
    }

    /// A frozen head (f32 blocks here) gives the plain loss and hidden-state gradient, whatever
    /// the slices of the vocabulary.
    #[test]
    fn a_frozen_head_in_vocabulary_slices_gives_the_plain_loss_and_gradient() {
        let device = crate::device::cpu().with_autodiff();
        let dev = device.device();
        let plain = plain(dev);
        let bytes: Vec<u8> = values(VOCAB * WIDTH, 2).iter().flat_map(|v| v.to_le_bytes()).collect();
        let matrix = crate::kernels::quantized::QMatrix::new(crate::formats::ggml::GgmlType::F32, VOCAB, WIDTH, std::sync::Arc::new(bytes), 0, "head").unwrap();
        let head = FrozenMatrix::host(matrix, None);
        for slice in [1, 4, 100] {
            let h = leaf([N, WIDTH], 1, dev);
            let loss = frozen_nll_sum(h.clone(), &head, &targets(), &WEIGHTS, slice);
            let grads = loss.backward();
            assert_close(&format!("frozen head, slices of {slice}: loss"), &host(loss), &plain[0]);
            assert_close(&format!("frozen head, slices of {slice}: hidden gradient"), &host(h.grad(&grads).unwrap()), &plain[1]);
        }
    }
}
