//! A frozen weight kept quantized while LoRA trains beside it (QLoRA). On the CPU path it stays
//! in its GGUF blocks: the products `x · Wᵀ` (forward) and `g · W` (the input's gradient in
//! backward) decode the blocks a slice of rows at a time into f32 and multiply those, so no more
//! than one slice (≤ 16 MB) of the matrix is ever widened, and the results equal the dequantized
//! model's up to the order of the sums; the input's gradient reaches autodiff through a Burn
//! backend extension with a hand-written backward (`Flex`, the CPU backend, and its `Autodiff`).
//! On a GPU it is a [`GpuMatrix`] in the product kernels' layout, whose products take part in
//! autodiff through [`super::gpu_quantized`]. The weight takes no gradient either way.
//!
//! Outside training, a product of a few rows (generating, one token at a time) takes the
//! integer path of [`QMatrix::matmul`] instead, as the packed decoder does: decoding the whole
//! model per token would make chat after a QLoRA run crawl.

use std::sync::Arc;

use burn::{
    backend::{
        Autodiff, Backend, Dispatch, Flex, TensorMetadata,
        autodiff::{
            checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
            grads::Gradients,
            ops::{Backward, Ops, OpsKind, unary},
        },
        backend_extension,
        tensor::FloatTensor,
    },
    tensor::{Device, Int, Shape, Slice, Tensor, TensorData},
};
use futures_util::FutureExt;

use super::{gpu_matrix::GpuMatrix, quantized::QMatrix};

/// f32 values of one decoded slice of rows.
pub const SLICE_VALUES: usize = 1 << 22;

/// Bytes of one decoded slice (16 MB).
pub const SLICE_BYTES: u64 = SLICE_VALUES as u64 * 4;

/// Input rows up to which a product outside autodiff takes the integer path.
const FEW_ROWS: usize = 8;

/// A frozen `[rows, cols]` weight kept quantized: in the GGUF file's bytes for the CPU path, or
/// on the GPU in the product kernels' layout ([`GpuMatrix`]; its products take part in autodiff
/// through [`super::gpu_quantized`]).
#[derive(Clone, Debug)]
pub enum FrozenMatrix {
    Host(HostMatrix),
    /// Rows already in Hugging Face's order, on `device`.
    Gpu { matrix: GpuMatrix, device: Device },
}

/// A `[rows, cols]` weight as the GGUF file stores it, rows read in `order` when given (llama.cpp's
/// permuted q/k rows back in Hugging Face's order).
#[derive(Clone, Debug)]
pub struct HostMatrix {
    matrix: QMatrix,
    order: Option<Arc<[usize]>>,
    /// f32 values per decoded slice ([`SLICE_VALUES`]; fewer in tests, to cross slices).
    slice_values: usize,
}

impl FrozenMatrix {
    /// `matrix` on the host with its rows in `order` (a permutation of its rows, or `None` for the file's).
    pub fn host(matrix: QMatrix, order: Option<Vec<usize>>) -> Self {
        debug_assert!(order.as_ref().is_none_or(|o| o.len() == matrix.rows));
        FrozenMatrix::Host(HostMatrix { matrix, order: order.map(Arc::from), slice_values: SLICE_VALUES })
    }

    pub fn rows(&self) -> usize {
        match self {
            FrozenMatrix::Host(h) => h.matrix.rows,
            FrozenMatrix::Gpu { matrix, .. } => matrix.row_count(),
        }
    }

    pub fn cols(&self) -> usize {
        match self {
            FrozenMatrix::Host(h) => h.matrix.cols,
            FrozenMatrix::Gpu { matrix, .. } => matrix.cols(),
        }
    }

    /// Bytes it holds (the file's blocks, or their GPU layout).
    pub fn bytes(&self) -> usize {
        match self {
            FrozenMatrix::Host(h) => h.matrix.bytes(),
            FrozenMatrix::Gpu { matrix, .. } => matrix.bytes(),
        }
    }

    /// The whole matrix as f32 `[rows, cols]` on `device` (to merge adapters into, or export).
    pub fn dequantized(&self, device: &Device) -> Tensor<2> {
        match self {
            FrozenMatrix::Host(h) => Tensor::from_data(TensorData::new(h.decode(0..h.matrix.rows), [h.matrix.rows, h.matrix.cols]), device),
            FrozenMatrix::Gpu { matrix, .. } => matrix.dense().to_device(device),
        }
    }

    /// Rows `range` as f32 `[range.len(), cols]` on `device` (a slice of the vocabulary of a head).
    pub fn rows_dense(&self, range: std::ops::Range<usize>, device: &Device) -> Tensor<2> {
        match self {
            FrozenMatrix::Host(h) => Tensor::from_data(TensorData::new(h.decode(range.clone()), [range.len(), h.matrix.cols]), device),
            FrozenMatrix::Gpu { matrix, device: own } => {
                let n = range.len();
                let ids = Tensor::<1, Int>::arange(range.start as i64..range.end as i64, own).reshape([1, n]);
                matrix.rows(ids).reshape([n, matrix.cols()]).to_device(device)
            }
        }
    }

    /// `x · Wᵀ`: [.., cols] → [.., rows]; `x`'s gradient flows through it.
    pub fn matmul<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match self {
            FrozenMatrix::Host(h) => {
                let mut dims = x.dims();
                dims[D - 1] = h.matrix.rows;
                let exact = x.is_autodiff();
                Tensor::<2>::from_dispatch(Dispatch::frozen_matmul(x.into_dispatch(), h.clone(), false, exact)).reshape(dims)
            }
            FrozenMatrix::Gpu { matrix, .. } => matrix.matmul(x),
        }
    }

    /// Rows `ids` as f32 (an embedding lookup; a constant for autodiff) on `ids`' device:
    /// [batch, seq] → [batch, seq, cols]. Ids past the last row read as zeros.
    pub fn lookup(&self, ids: Tensor<2, Int>) -> Tensor<3> {
        let [batch, seq] = ids.dims();
        let device = ids.device();
        match self {
            FrozenMatrix::Host(h) => {
                let ids: Vec<i64> = ids.into_data().convert::<i64>().try_into_vec::<i64>().unwrap_or_default();
                let mut values = Vec::with_capacity(ids.len() * h.matrix.cols);
                for id in ids {
                    match usize::try_from(id).ok().filter(|&r| r < h.matrix.rows) {
                        Some(r) => h.matrix.dequantize_row(h.file_row(r), &mut values),
                        None => values.resize(values.len() + h.matrix.cols, 0.0),
                    }
                }
                Tensor::from_data(TensorData::new(values, [batch, seq, h.matrix.cols]), &device)
            }
            FrozenMatrix::Gpu { matrix, device: own } => {
                let rows = matrix.row_count() as i64;
                let ids = ids.to_device(own);
                let inside = ids.clone().greater_equal_elem(0).bool_and(ids.clone().lower_elem(rows)).float().unsqueeze_dim::<3>(2);
                (matrix.rows(ids.clamp(0, (rows - 1).max(0))) * inside).to_device(&device)
            }
        }
    }
}

impl HostMatrix {
    /// The file's row of row `r`.
    fn file_row(&self, r: usize) -> usize {
        self.order.as_ref().map_or(r, |order| order[r])
    }

    /// Rows `range` as f32, row after row.
    fn decode(&self, range: std::ops::Range<usize>) -> Vec<f32> {
        let mut values = Vec::with_capacity(range.len() * self.matrix.cols);
        for r in range {
            self.matrix.dequantize_row(self.file_row(r), &mut values);
        }
        values
    }

    /// Rows per decoded slice.
    fn slice_rows(&self) -> usize {
        (self.slice_values / self.matrix.cols.max(1)).max(1)
    }
}

/// A module's frozen matrices kept quantized, by the name of the layer they stand in for
/// (`q_proj`, `embed_tokens`, …): that layer's own weight is then a placeholder of its shape.
#[derive(Clone, Debug, Default)]
pub struct FrozenWeights(Vec<(&'static str, FrozenMatrix)>);

impl FrozenWeights {
    /// The matrix standing in for layer `name`'s weight.
    pub fn get(&self, name: &str) -> Option<&FrozenMatrix> {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, m)| m)
    }

    /// Adds the matrix of layer `name`.
    pub fn insert(&mut self, name: &'static str, matrix: FrozenMatrix) {
        self.0.retain(|(n, _)| *n != name);
        self.0.push((name, matrix));
    }

    /// Removes and returns them all (their layers get real weights).
    pub fn take(&mut self) -> Vec<(&'static str, FrozenMatrix)> {
        std::mem::take(&mut self.0)
    }

    /// Bytes of the file's blocks they hold.
    pub fn bytes(&self) -> usize {
        self.0.iter().map(|(_, m)| m.bytes()).sum()
    }
}

/// A placeholder weight of `dims` holding one value (a broadcast view): what a layer keeps while
/// its [`FrozenMatrix`] computes for it.
pub fn placeholder(dims: [usize; 2], device: &Device) -> Tensor<2> {
    Tensor::<2>::zeros([1, 1], device).expand(dims)
}

/// [m, k] (the leading dimensions' product) → [m, rows] or, transposed, [m, cols].
fn product_shape(x: &Shape, weight: &HostMatrix, transposed: bool) -> Shape {
    let m = x.num_elements() / x[x.num_dims() - 1].max(1);
    Shape::new([m, if transposed { weight.matrix.cols } else { weight.matrix.rows }])
}

/// The product with a frozen matrix, on the CPU backend and through its autodiff.
#[backend_extension(Flex, Autodiff)]
pub trait FrozenOps: Backend {
    /// `x` [.., cols] · Wᵀ → [m, rows], or (`transposed`) `x` [.., rows] · W → [m, cols];
    /// `exact`: decode slices of W to f32 whatever `x`'s rows (else a few rows take the integer path).
    fn frozen_matmul(x: FloatTensor<Self>, weight: HostMatrix, transposed: bool, exact: bool) -> FloatTensor<Self>;
}

impl FrozenOps for Flex {
    fn frozen_matmul(x: FloatTensor<Self>, weight: HostMatrix, transposed: bool, exact: bool) -> FloatTensor<Self> {
        host_product::<Flex>(x, &weight, transposed, exact)
    }
}

/// [`FrozenOps::frozen_matmul`] with the backend's own ops on decoded slices.
fn host_product<B: Backend>(x: FloatTensor<B>, weight: &HostMatrix, transposed: bool, exact: bool) -> FloatTensor<B> {
    let shape = product_shape(&x.shape(), weight, transposed);
    let m = shape[0];
    let k = if transposed { weight.matrix.rows } else { weight.matrix.cols };
    let device = x.device();
    let x = B::float_reshape(x, Shape::new([m, k]));
    if !exact && !transposed && m <= FEW_ROWS {
        if let Some(y) = few_rows::<B>(x.clone(), weight, m) {
            return B::float_from_data(TensorData::new(y, [m, weight.matrix.rows]), &device);
        }
    }
    let step = weight.slice_rows();
    let mut parts = Vec::new();
    let mut sum: Option<FloatTensor<B>> = None;
    for start in (0..weight.matrix.rows).step_by(step) {
        let end = (start + step).min(weight.matrix.rows);
        let w = B::float_from_data(TensorData::new(weight.decode(start..end), [end - start, weight.matrix.cols]), &device);
        if transposed {
            // g[:, start..end] · W[start..end]
            let g = B::float_slice(x.clone(), &[Slice::from(0..m), Slice::from(start..end)]);
            let part = B::float_matmul(g, w);
            sum = Some(match sum {
                Some(acc) => B::float_add(acc, part),
                None => part,
            });
        } else {
            parts.push(B::float_matmul(x.clone(), B::float_transpose(w)));
        }
    }
    match (transposed, sum) {
        (true, Some(sum)) => sum,
        (true, None) => B::float_zeros(shape, &device, x.dtype().into()),
        (false, _) if parts.len() <= 1 => parts.pop().unwrap_or_else(|| B::float_zeros(shape, &device, x.dtype().into())),
        (false, _) => B::float_cat(parts, 1),
    }
}

/// `x · Wᵀ` for a few rows on the quantized blocks (16-bit integer activations), rows in
/// Hugging Face's order; `None` when `x`'s values cannot be read at once.
fn few_rows<B: Backend>(x: FloatTensor<B>, weight: &HostMatrix, m: usize) -> Option<Vec<f32>> {
    let x: Vec<f32> = B::float_into_data(x).now_or_never()?.ok()?.convert::<f32>().try_into_vec::<f32>().ok()?;
    let rows = weight.matrix.rows;
    let mut file_order = vec![0.0; m * rows];
    weight.matrix.matmul(&x, m, &mut file_order);
    Some(match &weight.order {
        None => file_order,
        Some(order) => (0..m).flat_map(|i| order.iter().map(move |&r| (i, r))).map(|(i, r)| file_order[i * rows + r]).collect(),
    })
}

impl<B: Backend + FrozenOps, C: CheckpointStrategy> FrozenOps for Autodiff<B, C> {
    fn frozen_matmul(x: FloatTensor<Self>, weight: HostMatrix, transposed: bool, _exact: bool) -> FloatTensor<Self> {
        /// The input's gradient: the other product with the same matrix, in the input's shape.
        #[derive(Debug)]
        struct FrozenProduct;

        impl<B: Backend + FrozenOps> Backward<B, 1> for FrozenProduct {
            type State = (HostMatrix, bool, Shape);

            fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
                let (weight, transposed, shape) = ops.state;
                unary::<B, _>(ops.parents, ops.node, grads, |grad| B::float_reshape(B::frozen_matmul(grad, weight, !transposed, true), shape));
            }
        }

        let shape = x.shape();
        let node = x.node();
        let out = B::frozen_matmul(x.into_primitive(), weight.clone(), transposed, true);
        match FrozenProduct.prepare::<C>([node]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish((weight, transposed, shape), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Tensor, TensorData};
    use half::f16;

    use super::*;
    use crate::formats::ggml::GgmlType;

    /// A Q8_0 matrix of `rows` × 64 values from a simple pattern, rows read in reverse order.
    fn q8_matrix(rows: usize) -> FrozenMatrix {
        let mut bytes = Vec::new();
        for r in 0..rows {
            for block in 0..2 {
                bytes.extend(f16::from_f32(0.01 * (r + block + 1) as f32).to_le_bytes());
                bytes.extend((0..32).map(|i| ((i * 7 + r * 13 + block * 5) % 255) as u8));
            }
        }
        let matrix = QMatrix::new(GgmlType::Q8_0, rows, 64, Arc::new(bytes), 0, "test").unwrap();
        let mut m = FrozenMatrix::host(matrix, Some((0..rows).rev().collect()));
        if let FrozenMatrix::Host(h) = &mut m {
            h.slice_values = 2 * 64; // two rows a slice: every product crosses slices
        }
        m
    }

    fn input(m: usize, device: &Device) -> Tensor<2> {
        let values: Vec<f32> = (0..m * 64).map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0).collect();
        Tensor::from_data(TensorData::new(values, [m, 64]), device)
    }

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap()
    }

    fn assert_close(what: &str, a: &[f32], b: &[f32], tolerance: f32) {
        assert_eq!(a.len(), b.len(), "{what}: lengths");
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= tolerance * (1.0 + y.abs()), "{what}[{i}]: {x} vs {y}");
        }
    }

    #[test]
    fn products_and_the_input_gradient_equal_the_dequantized_matrix() {
        let device = Device::flex().autodiff();
        let weight = q8_matrix(5);
        let dense = weight.dequantized(&device);
        let x = input(3, &device).require_grad();
        let picked = Tensor::<2>::from_data(TensorData::new((0..15).map(|i| i as f32 - 7.0).collect::<Vec<_>>(), [3, 5]), &device);
        let y = weight.matmul(x.clone());
        let expected = x.clone().matmul(dense.clone().transpose());
        assert_close("x · Wᵀ", &values(y.clone()), &values(expected.clone()), 1e-5);
        let grad = (y * picked.clone()).sum().backward();
        let grad_dense = (expected * picked.clone()).sum().backward();
        assert_close("∂/∂x", &values(x.grad(&grad).unwrap()), &values(x.grad(&grad_dense).unwrap()), 1e-5);
        // outside autodiff, a few rows take the integer path: close, not equal
        let plain = Device::flex();
        let y = weight.matmul(input(3, &plain));
        assert_close("x · Wᵀ on the integer path", &values(y), &values(input(3, &plain).matmul(dense.inner().transpose())), 1e-3);
        // a lookup reads rows in the matrix's order; an id past the end reads zeros
        let ids = Tensor::<2, Int>::from_data(TensorData::new(vec![4i64, 0, 9], [1, 3]), &plain);
        let rows = values(weight.lookup(ids));
        let dense = values(weight.dequantized(&plain));
        assert_eq!(&rows[..64], &dense[4 * 64..5 * 64]);
        assert_eq!(&rows[64..128], &dense[..64]);
        assert!(rows[128..].iter().all(|&v| v == 0.0));
    }
}
