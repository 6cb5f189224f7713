//! A weight matrix on the GPU as a decoder holds it: quantized ([`GpuQMatrix`]), f32 for the
//! float ggml types, or in parts of whole rows when one buffer would be larger than the GPU binds.

use burn::tensor::{Device, Int, Tensor, TensorData};

use super::{gpu_quantized::GpuQMatrix, quantized::QMatrix};

/// A weight matrix on the GPU: quantized, or f32 for the float ggml types, or — larger than one
/// GPU buffer binds (Gemma's 262,144-token embedding) — in parts of whole rows.
#[derive(Clone, Debug)]
pub enum GpuMatrix {
    Quantized(GpuQMatrix),
    /// `[rows, cols]`.
    Float(Tensor<2>),
    /// Consecutive row ranges, each its own matrix.
    Parts(Vec<GpuMatrix>),
}

impl GpuMatrix {
    /// `m` on `device` (file row order), in parts of whole rows when one buffer of it would be
    /// larger than `max_binding` bytes.
    pub fn upload_bound(m: &QMatrix, max_binding: Option<u64>, device: &Device) -> Self {
        let row = GpuQMatrix::row_binding_bytes(m).max(1);
        let per_part = max_binding.map_or(m.rows, |limit| usize::try_from(limit / row).unwrap_or(usize::MAX)).max(1);
        if per_part >= m.rows {
            return Self::upload(m, None, device);
        }
        let parts = (0..m.rows)
            .step_by(per_part)
            .filter_map(|start| m.rows_in(start..(start + per_part).min(m.rows)))
            .map(|part| Self::upload(&part, None, device))
            .collect();
        GpuMatrix::Parts(parts)
    }

    /// `m` on `device`, rows in `row_order` when given (see [`GpuQMatrix::upload`]).
    pub fn upload(m: &QMatrix, row_order: Option<&[usize]>, device: &Device) -> Self {
        if let Some(q) = GpuQMatrix::upload(m, row_order, device) {
            return GpuMatrix::Quantized(q);
        }
        let mut values = Vec::with_capacity(m.rows * m.cols);
        for r in 0..m.rows {
            m.dequantize_row(row_order.map_or(r, |order| order[r]), &mut values);
        }
        GpuMatrix::Float(Tensor::from_data(TensorData::new(values, [m.rows, m.cols]), device))
    }

    /// `x · Wᵀ`: [.., cols] → [.., rows] (`x` may be on the matrix's device with autodiff).
    pub fn matmul<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match self {
            GpuMatrix::Quantized(q) => q.matmul(x),
            GpuMatrix::Float(w) => {
                let w = w.clone().to_device(&x.device());
                x.matmul(w.transpose().unsqueeze::<D>())
            }
            GpuMatrix::Parts(parts) => Tensor::cat(parts.iter().map(|p| p.matmul(x.clone())).collect(), D - 1),
        }
    }

    /// Rows `ids` (an embedding lookup; ids below [`Self::row_count`]): [batch, seq] → [batch, seq, cols].
    pub fn rows(&self, ids: Tensor<2, Int>) -> Tensor<3> {
        match self {
            GpuMatrix::Quantized(q) => q.rows(ids),
            GpuMatrix::Float(w) => {
                let [batch, seq] = ids.dims();
                let cols = w.dims()[1];
                w.clone().select(0, ids.reshape([batch * seq])).reshape([batch, seq, cols])
            }
            GpuMatrix::Parts(parts) => {
                // each part looks up the ids in its range (others clamped into it, then zeroed); the sum is the rows
                let [batch, seq] = ids.dims();
                let mut sum = Tensor::<3>::zeros([batch, seq, self.cols()], &ids.device());
                let mut first = 0i64;
                for part in parts {
                    let n = part.row_count() as i64;
                    let local = ids.clone().sub_scalar(first);
                    let inside = local.clone().greater_equal_elem(0).bool_and(local.clone().lower_elem(n)).float().unsqueeze_dim::<3>(2);
                    sum = sum + part.rows(local.clamp(0, n - 1)) * inside;
                    first += n;
                }
                sum
            }
        }
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        match self {
            GpuMatrix::Quantized(q) => q.cols,
            GpuMatrix::Float(w) => w.dims()[1],
            GpuMatrix::Parts(parts) => parts.first().map_or(0, GpuMatrix::cols),
        }
    }

    /// Number of rows.
    pub fn row_count(&self) -> usize {
        match self {
            GpuMatrix::Quantized(q) => q.rows,
            GpuMatrix::Float(w) => w.dims()[0],
            GpuMatrix::Parts(parts) => parts.iter().map(GpuMatrix::row_count).sum(),
        }
    }

    /// The whole matrix as f32: [rows, cols].
    pub fn dense(&self) -> Tensor<2> {
        match self {
            GpuMatrix::Quantized(q) => {
                let all = Tensor::<1, Int>::arange(0..q.rows as i64, &q.device()).reshape([1, q.rows]);
                q.rows(all).reshape([q.rows, q.cols])
            }
            GpuMatrix::Float(w) => w.clone(),
            GpuMatrix::Parts(parts) => Tensor::cat(parts.iter().map(GpuMatrix::dense).collect(), 0),
        }
    }

    pub fn bytes(&self) -> usize {
        match self {
            GpuMatrix::Quantized(q) => q.bytes(),
            GpuMatrix::Float(w) => w.shape().num_elements() * 4,
            GpuMatrix::Parts(parts) => parts.iter().map(GpuMatrix::bytes).sum(),
        }
    }
}
