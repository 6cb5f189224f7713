//! Matrix products on the GPU (WebGPU, wgpu) whose weights stay quantized: a CubeCL kernel that
//! decodes each weight's integer and scale as it multiplies, so a GGUF model's matrices take about
//! the file's size in GPU memory instead of 4–8× as f32.
//!
//! The file's blocks are re-laid on upload into one of two GPU layouts, each 32 values a group
//! (the [`crate::formats::ggml::group`] form `value = scale · q + min`, so every type the CPU path
//! reads is read here, with the same values):
//! - **4-bit** (Q4_0, Q4_1, Q4_K): 32 nibbles in 4 words, one scale and one offset per group
//!   (24 bytes per 32 values; Q4_1's file has 20, Q4_K's 18);
//! - **8-bit** (Q5_1, Q5_K, Q6_K): 32 signed bytes in 8 words, a scale per 16 values and an offset
//!   per group (44 bytes per 32);
//! - **8-bit symmetric** (Q5_0, Q8_0: one scale per block, no offset): 32 signed bytes in 8 words
//!   and one scale per group (36 bytes per 32; Q8_0's file has 34, Q5_0's 22).
//!
//! Words are u32 in a Burn Int tensor, scales and offsets f32 tensors; the kernels run through a
//! Burn backend extension (`Cube` runtimes only: the CPU path has [`super::quantized`]). The
//! product takes part in autodiff (LoRA beside a frozen quantized base): the input's gradient is
//! the transposed product `g · W`, a third kernel on the same layouts; the matrix takes none.

use burn::{
    backend::{
        Autodiff, AutodiffBackend, Backend, Dispatch, TensorMetadata,
        autodiff::{
            checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
            grads::Gradients,
            ops::{Backward, Ops, OpsKind, unary},
        },
        backend_extension,
        tensor::{FloatTensor, IntTensor},
    },
    tensor::{DType, Device, Int, Shape, Tensor, TensorData},
};
use burn_cubecl::{CubeBackend, kernel::into_contiguous, ops::numeric::empty_device_dtype};
use cubecl::prelude::{CubeCount, CubeDim};

use self::kernel::{BYTES, BYTES_SYMMETRIC, NIBBLES, quantized_matmul_kernel, quantized_matmul_t_kernel, quantized_rows_kernel};

use super::quantized::QMatrix;
use crate::formats::ggml::{self, GgmlType};

/// Units of the product kernel that share one output value, each taking 8 of the row's values at
/// a time (their partial sums meet in shared memory, one barrier).
const LANES: u32 = 8;
/// Output values per cube of the product kernel.
const OUTPUTS: u32 = 8;

/// A `[rows, cols]` weight matrix on the GPU in one of the two quantized layouts.
#[derive(Clone, Debug)]
pub struct GpuQMatrix {
    words: Tensor<1, Int>,
    scales: Tensor<1>,
    mins: Tensor<1>,
    pub rows: usize,
    pub cols: usize,
    /// [`kernel::NIBBLES`], [`kernel::BYTES`] or [`kernel::BYTES_SYMMETRIC`].
    bits: u32,
    /// The file's type (for `info`).
    pub kind: GgmlType,
}

/// The layout a ggml type is re-laid into, and the value added to each `q` to make it a nibble.
fn layout(kind: GgmlType) -> Option<(u32, i32)> {
    match kind {
        GgmlType::Q4_0 => Some((NIBBLES, 8)),
        GgmlType::Q4_1 | GgmlType::Q4K => Some((NIBBLES, 0)),
        GgmlType::Q5_1 | GgmlType::Q5K | GgmlType::Q6K => Some((BYTES, 0)),
        GgmlType::Q5_0 | GgmlType::Q8_0 => Some((BYTES_SYMMETRIC, 0)),
        GgmlType::F32 | GgmlType::F16 | GgmlType::Bf16 => None,
    }
}

impl GpuQMatrix {
    /// Bytes of one row in the largest of the GPU buffers `m` is uploaded into (its words; f32
    /// for the float types): what a GPU's `maxStorageBufferBindingSize` bounds.
    pub fn row_binding_bytes(m: &QMatrix) -> u64 {
        match layout(m.kind) {
            Some((NIBBLES, _)) => m.cols as u64 / 2,
            Some(_) => m.cols as u64,
            None => m.cols as u64 * 4,
        }
    }

    /// Uploads `m` to `device`, with its rows in the order `row_order` gives (`row_order[i]` = the
    /// file's row that becomes row `i`; q/k rows un-permuted from llama.cpp's order), or the file's
    /// order; `None` for the float types (uploaded as f32 by the caller).
    pub fn upload(m: &QMatrix, row_order: Option<&[usize]>, device: &Device) -> Option<Self> {
        let (bits, bias) = layout(m.kind)?;
        let per_row = m.cols / 32;
        let groups = m.rows * per_row;
        let mut words = Vec::with_capacity(groups * if bits == NIBBLES { 4 } else { 8 });
        let mut scales = Vec::with_capacity(groups * if bits == BYTES { 2 } else { 1 });
        let mut mins = Vec::with_capacity(groups);
        let (block_bytes, per_block) = (m.kind.block_bytes(), ggml::groups_per_block(m.kind));
        for r in 0..m.rows {
            let row = m.row(row_order.map_or(r, |order| order[r]));
            for block in row.chunks_exact(block_bytes) {
                for g in 0..per_block {
                    let group = ggml::group(m.kind, block, g);
                    if bits == NIBBLES {
                        for chunk in group.q.chunks_exact(8) {
                            let nibble = |i: usize| (((chunk[i] as i32 + bias) as u32) & 15) << (4 * i);
                            words.push((0..8).map(nibble).fold(0, |w, n| w | n));
                        }
                        scales.push(group.scale[0]);
                        mins.push(group.min - bias as f32 * group.scale[0]);
                    } else {
                        for chunk in group.q.chunks_exact(4) {
                            words.push(u32::from_le_bytes([chunk[0] as u8, chunk[1] as u8, chunk[2] as u8, chunk[3] as u8]));
                        }
                        if bits == BYTES {
                            scales.extend(group.scale);
                            mins.push(group.min);
                        } else {
                            scales.push(group.scale[0]); // Q5_0, Q8_0: one scale, no offset
                        }
                    }
                }
            }
        }
        let floats = |v: Vec<f32>| {
            let n = v.len();
            Tensor::<1>::from_data(TensorData::new(v, [n]), device)
        };
        if mins.is_empty() {
            mins.push(0.0); // the symmetric layout reads none; a GPU buffer cannot be empty
        }
        let n = words.len();
        Some(GpuQMatrix {
            words: Tensor::<1, Int>::from_data(TensorData::new(words, [n]), (device, DType::U32)),
            scales: floats(scales),
            mins: floats(mins),
            rows: m.rows,
            cols: m.cols,
            bits,
            kind: m.kind,
        })
    }

    /// The device the matrix is on.
    pub fn device(&self) -> Device {
        self.words.device()
    }

    /// Bytes held on the GPU.
    pub fn bytes(&self) -> usize {
        (self.words.shape().num_elements() + self.scales.shape().num_elements() + self.mins.shape().num_elements()) * 4
    }

    /// `x · Wᵀ`: [.., cols] → [.., rows].
    pub fn matmul<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let mut dims = x.dims();
        debug_assert_eq!(dims[D - 1], self.cols);
        let y = Dispatch::quantized_matmul(
            x.into_dispatch(),
            self.words.clone().into_dispatch(),
            self.scales.clone().into_dispatch(),
            self.mins.clone().into_dispatch(),
            self.rows,
            self.bits,
        );
        dims[D - 1] = self.rows;
        Tensor::<2>::from_dispatch(y).reshape(dims)
    }

    /// Rows `ids` of the matrix as f32 (an embedding lookup): [batch, seq] → [batch, seq, cols].
    /// Ids past the last row read as zeros.
    pub fn rows(&self, ids: Tensor<2, Int>) -> Tensor<3> {
        let [batch, seq] = ids.dims();
        let y = Dispatch::quantized_rows(
            ids.reshape([batch * seq]).into_dispatch(),
            self.words.clone().into_dispatch(),
            self.scales.clone().into_dispatch(),
            self.mins.clone().into_dispatch(),
            self.rows,
            self.cols,
            self.bits,
        );
        Tensor::<2>::from_dispatch(y).reshape([batch, seq, self.cols])
    }
}

/// [m, k] · ([n, k] packed)ᵀ → [m, n]: the output shape of [`QuantizedOps::quantized_matmul`].
fn product_shape(x: &Shape, rows: &usize) -> Shape {
    let m = x.num_elements() / x[x.num_dims() - 1].max(1);
    Shape::new([m, *rows])
}

/// [m, rows] · the packed [rows, cols] matrix → [m, cols].
fn transposed_product_shape(g: &Shape, cols: &usize) -> Shape {
    Shape::new([g.num_elements() / g[g.num_dims() - 1].max(1), *cols])
}

/// [t] ids → [t, cols].
fn rows_shape(ids: &Shape, cols: &usize) -> Shape {
    Shape::new([ids.num_elements(), *cols])
}

/// The operations, for the CubeCL runtimes (WebGPU, wgpu's Vulkan/Metal/DX12).
#[backend_extension(Cube, Fusion, Autodiff)]
pub trait QuantizedOps: Backend {
    /// `x` [.., k] times the transpose of the packed [rows, k] matrix → [m, rows] (`m` = the
    /// leading dimensions' product).
    #[fusion(dtype = x, shape = product_shape(x, rows))]
    fn quantized_matmul(x: FloatTensor<Self>, words: IntTensor<Self>, scales: FloatTensor<Self>, mins: FloatTensor<Self>, rows: usize, bits: u32) -> FloatTensor<Self>;

    /// `g` [.., rows] times the packed [rows, cols] matrix → [m, cols].
    #[fusion(dtype = g, shape = transposed_product_shape(g, cols))]
    fn quantized_matmul_t(g: FloatTensor<Self>, words: IntTensor<Self>, scales: FloatTensor<Self>, mins: FloatTensor<Self>, cols: usize, bits: u32) -> FloatTensor<Self>;

    /// Rows `ids` (`[t]`) of the packed `[rows, cols]` matrix → `[t, cols]`.
    #[fusion(dtype = scales, shape = rows_shape(ids, cols))]
    fn quantized_rows(ids: IntTensor<Self>, words: IntTensor<Self>, scales: FloatTensor<Self>, mins: FloatTensor<Self>, rows: usize, cols: usize, bits: u32) -> FloatTensor<Self>;
}

impl QuantizedOps for CubeBackend {
    fn quantized_matmul(x: FloatTensor<Self>, words: IntTensor<Self>, scales: FloatTensor<Self>, mins: FloatTensor<Self>, rows: usize, bits: u32) -> FloatTensor<Self> {
        let x = into_contiguous(x);
        let k = x.meta.shape()[x.meta.num_dims() - 1];
        let shape = product_shape(x.meta.shape(), &rows);
        let m = shape[0];
        let out = empty_device_dtype(x.client.clone(), x.device.clone(), shape, DType::F32);
        // OUTPUTS values of one input row per cube
        let per_row = rows.div_ceil(OUTPUTS as usize);
        quantized_matmul_kernel::launch(
            &x.client,
            grid(per_row * m),
            CubeDim::new_2d(LANES, OUTPUTS),
            x.clone().into_tensor_arg(),
            into_contiguous(words).into_tensor_arg(),
            into_contiguous(scales).into_tensor_arg(),
            into_contiguous(mins).into_tensor_arg(),
            out.clone().into_tensor_arg(),
            k as u32,
            rows as u32,
            m as u32,
            bits,
        );
        out
    }

    fn quantized_matmul_t(g: FloatTensor<Self>, words: IntTensor<Self>, scales: FloatTensor<Self>, mins: FloatTensor<Self>, cols: usize, bits: u32) -> FloatTensor<Self> {
        let g = into_contiguous(g);
        let rows = g.meta.shape()[g.meta.num_dims() - 1];
        let shape = transposed_product_shape(g.meta.shape(), &cols);
        let (count, dim) = unit_per_value(shape.num_elements());
        let out = empty_device_dtype(g.client.clone(), g.device.clone(), shape, DType::F32);
        quantized_matmul_t_kernel::launch(
            &g.client,
            count,
            dim,
            g.clone().into_tensor_arg(),
            into_contiguous(words).into_tensor_arg(),
            into_contiguous(scales).into_tensor_arg(),
            into_contiguous(mins).into_tensor_arg(),
            out.clone().into_tensor_arg(),
            cols as u32,
            rows as u32,
            bits,
        );
        out
    }

    fn quantized_rows(ids: IntTensor<Self>, words: IntTensor<Self>, scales: FloatTensor<Self>, mins: FloatTensor<Self>, rows: usize, cols: usize, bits: u32) -> FloatTensor<Self> {
        let ids = into_contiguous(ids);
        let shape = rows_shape(ids.meta.shape(), &cols);
        let (count, dim) = unit_per_value(shape.num_elements());
        let out = empty_device_dtype(ids.client.clone(), ids.device.clone(), shape, DType::F32);
        let int = burn::backend::cubecl::dtype_to_storage_type(ids.dtype);
        quantized_rows_kernel::launch(
            &ids.client,
            count,
            dim,
            ids.clone().into_tensor_arg(),
            into_contiguous(words).into_tensor_arg(),
            into_contiguous(scales).into_tensor_arg(),
            into_contiguous(mins).into_tensor_arg(),
            out.clone().into_tensor_arg(),
            cols as u32,
            rows as u32,
            bits,
            int,
        );
        out
    }
}

/// Under autodiff: the product's input takes its gradient through the transposed product; the
/// matrix (words, scales, offsets) and the other operations' results are constants.
impl<B: Backend + QuantizedOps, C: CheckpointStrategy> QuantizedOps for Autodiff<B, C> {
    fn quantized_matmul(x: FloatTensor<Self>, words: IntTensor<Self>, scales: FloatTensor<Self>, mins: FloatTensor<Self>, rows: usize, bits: u32) -> FloatTensor<Self> {
        /// `g · W` in the input's shape.
        #[derive(Debug)]
        struct TransposedProduct;

        impl<B: Backend + QuantizedOps> Backward<B, 1> for TransposedProduct {
            type State = (IntTensor<B>, FloatTensor<B>, FloatTensor<B>, Shape, u32);

            fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
                let (words, scales, mins, shape, bits) = ops.state;
                let cols = shape[shape.num_dims() - 1];
                unary::<B, _>(ops.parents, ops.node, grads, |grad| B::float_reshape(B::quantized_matmul_t(grad, words, scales, mins, cols, bits), shape));
            }
        }

        let (scales, mins) = (scales.into_primitive(), mins.into_primitive());
        let shape = x.shape();
        let node = x.node();
        let out = B::quantized_matmul(x.into_primitive(), words.clone(), scales.clone(), mins.clone(), rows, bits);
        match TransposedProduct.prepare::<C>([node]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish((words, scales, mins, shape, bits), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }

    fn quantized_matmul_t(g: FloatTensor<Self>, words: IntTensor<Self>, scales: FloatTensor<Self>, mins: FloatTensor<Self>, cols: usize, bits: u32) -> FloatTensor<Self> {
        Self::from_inner(B::quantized_matmul_t(g.into_primitive(), words, scales.into_primitive(), mins.into_primitive(), cols, bits))
    }

    fn quantized_rows(ids: IntTensor<Self>, words: IntTensor<Self>, scales: FloatTensor<Self>, mins: FloatTensor<Self>, rows: usize, cols: usize, bits: u32) -> FloatTensor<Self> {
        Self::from_inner(B::quantized_rows(ids, words, scales.into_primitive(), mins.into_primitive(), rows, cols, bits))
    }
}

/// The launch of a kernel with one unit per output value: 256 units a workgroup.
fn unit_per_value(values: usize) -> (CubeCount, CubeDim) {
    let cube = 256usize;
    (grid(values.div_ceil(cube)), CubeDim::new_1d(cube as u32))
}

/// `cubes` workgroups laid over the three dimensions (WebGPU allows 65,535 per dimension): the
/// kernels number them with `cube_index` and skip the ones past the end.
fn grid(cubes: usize) -> CubeCount {
    let across = cubes.clamp(1, 32_768);
    let down = cubes.div_ceil(across).clamp(1, 32_768);
    CubeCount::Static(across as u32, down as u32, cubes.div_ceil(across * down).max(1) as u32)
}

/// The CubeCL kernels (their own module: CubeCL's `Tensor`/`Int` are not Burn's).
mod kernel {
    use cubecl::prelude::*;

    use super::{LANES, OUTPUTS};

    /// The layouts (the kernels' comptime `bits`): 4-bit values with a scale and an offset per
    /// group; 8-bit values with a scale per 16 and an offset per group; 8-bit values with one
    /// scale per group and no offset.
    pub const NIBBLES: u32 = 4;
    pub const BYTES: u32 = 8;
    pub const BYTES_SYMMETRIC: u32 = 9;

    /// This workgroup's number in a [`super::grid`].
    #[cube]
    pub(super) fn cube_index() -> usize {
        ((CUBE_POS_Z * CUBE_COUNT_Y + CUBE_POS_Y) * CUBE_COUNT_X + CUBE_POS_X) as usize
    }

    /// 8 values of group `g` starting at `part · 8` (`part` < 4) as f32 integers, one at a time by
    /// `i` (< 8): a nibble of word `g·4 + part` (4-bit) or a signed byte of words `g·8 + part·2 ..`.
    #[cube]
    pub(super) fn quantized_value(words: &Tensor<u32>, g: usize, part: usize, i: u32, #[comptime] bits: u32) -> f32 {
        if bits == NIBBLES {
            let w = words[g * 4 + part];
            f32::cast_from((w >> (4 * i)) & 15u32)
        } else {
            let w = words[g * 8 + part * 2 + (i / 4) as usize];
            let b = (w >> (8 * (i % 4))) & 255u32;
            f32::cast_from(b) - f32::cast_from(b >= 128u32) * 256.0
        }
    }

    /// The scale of value `within` (< 32) of group `g`: one per 16 ([`BYTES`]), else one per group.
    #[cube]
    pub(super) fn group_scale(scales: &Tensor<f32>, g: usize, within: usize, #[comptime] bits: u32) -> f32 {
        if bits == BYTES { scales[g * 2 + within / 16] } else { scales[g] }
    }

    /// The offset of group `g` (none in [`BYTES_SYMMETRIC`]).
    #[cube]
    pub(super) fn group_min(mins: &Tensor<f32>, g: usize, #[comptime] bits: u32) -> f32 {
        if bits == BYTES_SYMMETRIC { f32::new(0.0) } else { mins[g] }
    }

    /// `OUTPUTS` output values `out[row][col..]` per cube, `LANES` units each: a unit takes 8 input
    /// values at a time, decodes the matching weights, and the lanes' partial dot products are
    /// summed in shared memory.
    #[cube(launch)]
    pub(super) fn quantized_matmul_kernel(
        x: &Tensor<f32>,
        words: &Tensor<u32>,
        scales: &Tensor<f32>,
        mins: &Tensor<f32>,
        out: &mut Tensor<f32>,
        k: u32,
        n: u32,
        m: u32,
        #[comptime] bits: u32,
    ) {
        let per_row = (n as usize).div_ceil(OUTPUTS as usize);
        let row = cube_index() / per_row;
        let col = (cube_index() % per_row) * OUTPUTS as usize + UNIT_POS_Y as usize;
        let lane = UNIT_POS_X as usize;
        let slot = UNIT_POS_Y as usize * LANES as usize;
        let k = k as usize;
        let n = n as usize;
        let mut acc = 0.0f32;
        let live = col < n && row < m as usize;
        if live {
            let units = k / 8;
            let mut u = lane;
            while u < units {
                let g = col * (k / 32) + u / 4;
                let part = u % 4;
                let base = row * k + u * 8;
                let mut dot = 0.0f32;
                let mut sum = 0.0f32;
                #[unroll]
                for i in 0..8u32 {
                    let v = x[base + i as usize];
                    dot += quantized_value(words, g, part, i, bits) * v;
                    sum += v;
                }
                acc += group_scale(scales, g, part * 8, bits) * dot + group_min(mins, g, bits) * sum;
                u += LANES as usize;
            }
        }
        let mut partial = Shared::new_slice((LANES * OUTPUTS) as usize);
        partial[slot + lane] = acc;
        sync_cube();
        if lane == 0 && live {
            let mut total = 0.0f32;
            #[unroll]
            for i in 0..LANES {
                total += partial[slot + i as usize];
            }
            out[row * n + col] = total;
        }
    }

    /// One unit per output value `out[i][c] = Σ_r g[i][r] · W[r][c]`, walking down column `c`
    /// (neighbouring units read the same words).
    #[cube(launch)]
    pub(super) fn quantized_matmul_t_kernel(
        g: &Tensor<f32>,
        words: &Tensor<u32>,
        scales: &Tensor<f32>,
        mins: &Tensor<f32>,
        out: &mut Tensor<f32>,
        cols: u32,
        rows: u32,
        #[comptime] bits: u32,
    ) {
        let at = cube_index() * CUBE_DIM_X as usize + UNIT_POS_X as usize;
        let cols = cols as usize;
        let rows = rows as usize;
        if at < out.len() {
            let i = at / cols;
            let c = at % cols;
            let part = (c % 32) / 8;
            let mut acc = 0.0f32;
            let mut r = 0usize;
            while r < rows {
                let grp = r * (cols / 32) + c / 32;
                let w = group_scale(scales, grp, c % 32, bits) * quantized_value(words, grp, part, (c % 8) as u32, bits) + group_min(mins, grp, bits);
                acc += g[i * rows + r] * w;
                r += 1;
            }
            out[at] = acc;
        }
    }

    /// One unit per output value: value `c` of row `ids[t]`, or 0 when the id is past the last row.
    #[cube(launch)]
    pub(super) fn quantized_rows_kernel<I: Int>(
        ids: &Tensor<I>,
        words: &Tensor<u32>,
        scales: &Tensor<f32>,
        mins: &Tensor<f32>,
        out: &mut Tensor<f32>,
        cols: u32,
        rows: u32,
        #[comptime] bits: u32,
        #[define(I)] _int: ElemType,
    ) {
        let at = cube_index() * CUBE_DIM_X as usize + UNIT_POS_X as usize;
        let cols = cols as usize;
        if at < out.len() {
            let t = at / cols;
            let c = at % cols;
            let id = ids[t];
            let mut value = 0.0f32;
            if id >= I::new(0) && u32::cast_from(id) < rows {
                let g = u32::cast_from(id) as usize * (cols / 32) + c / 32;
                let part = (c % 32) / 8;
                let q = quantized_value(words, g, part, (c % 8) as u32, bits);
                value = group_scale(scales, g, c % 32, bits) * q + group_min(mins, g, bits);
            }
            out[at] = value;
        }
    }
}
