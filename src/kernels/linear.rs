//! `x · W + b` for Burn's `Linear`: LoRA adapters computed as PEFT does, and a faster path for
//! inference on the browser's CPU.
//!
//! Every model calls [`linear`] instead of `Linear::forward`.
//! - A layer with a LoRA adapter computes `x·W + b + scale · dropout(x)·A·B` (PEFT's `lora.Linear`)
//!   instead of Burn's `x·(W + scale·A·B)`, which forms a dense weight-sized delta (and its
//!   gradient) on every forward; the dropout is the caller's ([`linear_with_adapter_dropout`]).
//! - On wasm32 with SIMD128, when the tensors live on the CPU backend (`flex`) without autograd and
//!   there are enough rows to amortise packing the weight, the product runs in this file's kernel:
//!   the weight is packed into panels of 8 columns once per call and a 4×8 register-blocked
//!   SIMD128 kernel walks them (Burn's `gemm` there also repacks the weight inside every call).
//! - Everywhere else — GPUs, native CPUs, training — it is `Linear::forward`, unchanged.

use burn::{
    module::LoraAdapter,
    nn::{Dropout, Linear},
    tensor::{Tensor, module::linear as affine},
};

use super::frozen::FrozenMatrix;

/// `x`: [..., d_in] → [..., d_out], as `layer.forward(x)`.
pub fn linear<const D: usize>(layer: &Linear, x: Tensor<D>) -> Tensor<D> {
    if let Some(adapter) = layer.weight.adapter() {
        return adapted(layer, adapter, x.clone(), x);
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    if let Some(y) = simd128::forward::<D, false>(layer, &x) {
        return y;
    }
    layer.forward(x)
}

/// [`linear`] for a layer that may carry a LoRA adapter, with `dropout` on the adapter's input
/// (PEFT's `lora_dropout`; inactive outside training).
pub fn linear_with_adapter_dropout<const D: usize>(layer: &Linear, x: Tensor<D>, dropout: &Dropout) -> Tensor<D> {
    match layer.weight.adapter() {
        Some(adapter) => adapted(layer, adapter, dropout.forward(x.clone()), x),
        None => linear(layer, x),
    }
}

/// [`linear_with_adapter_dropout`] for a layer whose frozen weight may stay quantized: with
/// `frozen`, `x·Wᵀ` is that matrix's (the layer's own weight is a placeholder), plus its bias and
/// adapter.
pub fn projection<const D: usize>(layer: &Linear, frozen: Option<&FrozenMatrix>, x: Tensor<D>, dropout: &Dropout) -> Tensor<D> {
    let Some(frozen) = frozen else {
        return linear_with_adapter_dropout(layer, x, dropout);
    };
    let mut base = frozen.matmul(x.clone());
    if let Some(bias) = &layer.bias {
        base = base + bias.val().unsqueeze();
    }
    match layer.weight.adapter() {
        Some(adapter) => base + low_rank(adapter, dropout.forward(x)),
        None => base,
    }
}

/// `x·W + b + scale · (adapter_input·A)·B`, the frozen base and the factors kept apart.
fn adapted<const D: usize>(layer: &Linear, adapter: &LoraAdapter, adapter_input: Tensor<D>, x: Tensor<D>) -> Tensor<D> {
    affine(x, layer.weight.base(), layer.bias.as_ref().map(|b| b.val())) + low_rank(adapter, adapter_input)
}

/// `scale · (input·A)·B`.
fn low_rank<const D: usize>(adapter: &LoraAdapter, input: Tensor<D>) -> Tensor<D> {
    affine(affine(input, adapter.a.val(), None), adapter.b.val(), None).mul_scalar(adapter.scale)
}

/// Exact (erf) GELU of `linear(layer, x)`, fused into the product on the fast path (BERT's
/// feed-forward); `None` where the fast path does not apply: the caller composes the two.
pub fn linear_gelu<const D: usize>(layer: &Linear, x: &Tensor<D>) -> Option<Tensor<D>> {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return simd128::forward::<D, true>(layer, x);
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        let _ = (layer, x);
        None
    }
}

/// The kernel; public for the browser tests, which call it directly to prove it ran.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[doc(hidden)]
pub mod simd128 {
    use core::arch::wasm32::*;
    use std::cell::RefCell;

    use burn::{
        backend::{Flex, flex::FlexTensor},
        nn::Linear,
        tensor::{DType, Tensor, TensorData},
    };

    /// Fewer rows than this (token-by-token generation) go to Burn: packing the weight would cost
    /// as much as the product.
    const MIN_ROWS: usize = 16;
    /// Rows per block: a block of `x` stays in cache while every weight panel passes over it.
    const ROW_BLOCK: usize = 64;

    /// The packing buffer is kept between calls up to this many floats (16 MB; MiniLM's largest
    /// layer needs 0.6 M); a bigger one (a large vocabulary's head) is freed after its call.
    const KEEP_PACKED: usize = 4 << 20;

    thread_local! {
        /// The packed weight, reused from call to call.
        static PACKED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    }

    /// `layer.forward(x)`, then exact GELU if `GELU`; `None` when the fast path does not apply
    /// (another backend, autograd, another dtype or weight layout, too few rows): the caller then
    /// uses Burn.
    pub fn forward<const D: usize, const GELU: bool>(layer: &Linear, x: &Tensor<D>) -> Option<Tensor<D>> {
        let mut dims = x.dims();
        let k = dims[D - 1];
        let m = dims[..D - 1].iter().product::<usize>();
        if m < MIN_ROWS {
            return None;
        }
        let x = x.clone().try_into_primitive::<Flex>().ok()?.to_contiguous();
        let w = layer.weight.val().try_into_primitive::<Flex>().ok()?;
        if w.dtype() != DType::F32 {
            return None;
        }
        let bias = match &layer.bias {
            Some(b) => Some(b.val().try_into_primitive::<Flex>().ok()?.to_contiguous()),
            None => None,
        };
        let [wk, n] = [w.layout().shape()[0], w.layout().shape()[1]];
        if wk != k {
            return None; // Burn's forward reports the shape error
        }
        let xs = x.as_slice::<f32>()?;
        let bias = match &bias {
            Some(b) => Some(b.as_slice::<f32>()?),
            None => None,
        };
        let out = PACKED.with_borrow_mut(|packed| {
            pack(&w, k, n, packed)?;
            let mut out = Vec::<f32>::with_capacity(m * n);
            // SAFETY: `xs` is m×k, `packed` holds ⌈n/8⌉ panels of k×8, `bias` n; `matmul` writes
            // all m×n outputs before the length is read.
            unsafe {
                matmul::<GELU>(xs, packed, bias, out.spare_capacity_mut().as_mut_ptr() as *mut f32, m, n, k);
                out.set_len(m * n);
            }
            if packed.len() > KEEP_PACKED {
                *packed = Vec::new();
            }
            Some(out)
        })?;
        dims[D - 1] = n;
        let y = FlexTensor::from_data(TensorData::new(out, dims.to_vec()));
        Some(Tensor::from_primitive::<Flex>(y))
    }

    /// Packs the `[k, n]` row-major weight (the layout every loader here produces) into ⌈n/8⌉
    /// panels of `k` rows × 8 columns, the last one padded with zeros; `None` for another layout.
    fn pack(w: &FlexTensor, k: usize, n: usize, packed: &mut Vec<f32>) -> Option<()> {
        if w.layout().strides() != [n as isize, 1] {
            return None;
        }
        let panels = n.div_ceil(8);
        if packed.len() < panels * k * 8 {
            packed.resize(panels * k * 8, 0.0);
        }
        if n % 8 != 0 {
            packed[(panels - 1) * k * 8..panels * k * 8].fill(0.0); // the padding columns
        }
        let start = w.layout().start_offset();
        let w = &w.storage::<f32>()[start..start + k * n];
        for p in 0..panels {
            let cols = (n - p * 8).min(8);
            let panel = &mut packed[p * k * 8..(p + 1) * k * 8];
            for (kk, row) in panel.chunks_exact_mut(8).enumerate() {
                let src = &w[kk * n + p * 8..kk * n + p * 8 + cols];
                if cols == 8 {
                    // SAFETY: both slices hold 8 floats; v128 loads/stores need no alignment.
                    unsafe {
                        v128_store(row.as_mut_ptr() as *mut v128, load(src.as_ptr()));
                        v128_store(row.as_mut_ptr().add(4) as *mut v128, load(src.as_ptr().add(4)));
                    }
                } else {
                    row[..cols].copy_from_slice(src);
                }
            }
        }
        Some(())
    }

    /// `out[m×n] = x[m×k] · W + bias`, W packed by [`pack`].
    unsafe fn matmul<const GELU: bool>(x: &[f32], packed: &[f32], bias: Option<&[f32]>, op: *mut f32, m: usize, n: usize, k: usize) {
        let xp = x.as_ptr();
        for i0 in (0..m).step_by(ROW_BLOCK) {
            let rows = ROW_BLOCK.min(m - i0);
            for p in 0..n.div_ceil(8) {
                let j = p * 8;
                let cols = (n - j).min(8);
                let mut b = [0.0f32; 8];
                if let Some(bias) = bias {
                    b[..cols].copy_from_slice(&bias[j..j + cols]);
                }
                let panel = unsafe { packed.as_ptr().add(p * k * 8) };
                let mut i = i0;
                while i + 4 <= i0 + rows {
                    unsafe { block4::<GELU>(xp.add(i * k), k, panel, &b, op.add(i * n + j), n, cols) };
                    i += 4;
                }
                for i in i..i0 + rows {
                    unsafe { block1::<GELU>(xp.add(i * k), k, panel, &b, op.add(i * n + j), cols) };
                }
            }
        }
    }

    /// Four rows of `a` (row stride `k`) times one packed panel, plus the bias, into four rows of
    /// `c` (row stride `ldc`; only the first `cols` of the panel's 8 columns are written). Unrolled
    /// by hand: at the package's opt-level "s" LLVM keeps a loop over rows (an array of
    /// accumulators), and the kernel runs at half speed.
    #[inline(always)]
    unsafe fn block4<const GELU: bool>(a: *const f32, k: usize, panel: *const f32, bias: &[f32; 8], c: *mut f32, ldc: usize, cols: usize) {
        unsafe {
            let b = (load(bias.as_ptr()), load(bias.as_ptr().add(4)));
            let (mut c0, mut c1, mut c2, mut c3) = (b, b, b, b);
            let (a0, a1, a2, a3) = (a, a.add(k), a.add(2 * k), a.add(3 * k));
            for kk in 0..k {
                let w = (load(panel.add(kk * 8)), load(panel.add(kk * 8 + 4)));
                c0 = axpy(c0, *a0.add(kk), w);
                c1 = axpy(c1, *a1.add(kk), w);
                c2 = axpy(c2, *a2.add(kk), w);
                c3 = axpy(c3, *a3.add(kk), w);
            }
            store::<GELU>(c, c0, cols);
            store::<GELU>(c.add(ldc), c1, cols);
            store::<GELU>(c.add(2 * ldc), c2, cols);
            store::<GELU>(c.add(3 * ldc), c3, cols);
        }
    }

    /// One row: [`block4`] for the rows left over at the end of a block.
    #[inline(always)]
    unsafe fn block1<const GELU: bool>(a: *const f32, k: usize, panel: *const f32, bias: &[f32; 8], c: *mut f32, cols: usize) {
        unsafe {
            let mut c0 = (load(bias.as_ptr()), load(bias.as_ptr().add(4)));
            for kk in 0..k {
                c0 = axpy(c0, *a.add(kk), (load(panel.add(kk * 8)), load(panel.add(kk * 8 + 4))));
            }
            store::<GELU>(c, c0, cols);
        }
    }

    /// `acc + x · w` for one row's 8 accumulators.
    #[inline(always)]
    fn axpy(acc: (v128, v128), x: f32, w: (v128, v128)) -> (v128, v128) {
        let x = f32x4_splat(x);
        (f32x4_add(acc.0, f32x4_mul(x, w.0)), f32x4_add(acc.1, f32x4_mul(x, w.1)))
    }

    #[inline(always)]
    unsafe fn load(p: *const f32) -> v128 {
        unsafe { v128_load(p as *const v128) }
    }

    /// Writes the first `cols` (≤ 8) of the 8 values `(lo, hi)` to `row` (their GELU if `GELU`).
    #[inline(always)]
    unsafe fn store<const GELU: bool>(row: *mut f32, (lo, hi): (v128, v128), cols: usize) {
        let (lo, hi) = if GELU { (gelu(lo), gelu(hi)) } else { (lo, hi) };
        unsafe {
            if cols == 8 {
                v128_store(row as *mut v128, lo);
                v128_store(row.add(4) as *mut v128, hi);
            } else {
                let mut tmp = [0.0f32; 8];
                v128_store(tmp.as_mut_ptr() as *mut v128, lo);
                v128_store(tmp.as_mut_ptr().add(4) as *mut v128, hi);
                std::ptr::copy_nonoverlapping(tmp.as_ptr(), row, cols);
            }
        }
    }

    /// Exact GELU, `x/2 · (1 + erf(x/√2))`.
    #[inline(always)]
    fn gelu(x: v128) -> v128 {
        let cdf = f32x4_add(f32x4_splat(1.0), erf(f32x4_mul(x, f32x4_splat(std::f32::consts::FRAC_1_SQRT_2))));
        f32x4_mul(f32x4_mul(x, f32x4_splat(0.5)), cdf)
    }

    /// `erf` as Eigen's `generic_fast_erf_float`: a rational function of degree 13/8 on
    /// [-4, 4] (±1 in f32 beyond); at most 4.2e-7 from the exact value (libm's is ~1 ulp).
    #[inline(always)]
    fn erf(x: v128) -> v128 {
        const ALPHA: [f32; 7] = [
            -2.726_142_3e-10, 2.770_681_4e-8, -2.101_024e-6, -5.692_506_4e-5, -7.349_906_3e-4, -2.954_6e-3, -1.609_603_3e-2,
        ];
        const BETA: [f32; 5] = [-1.456_607_2e-5, -2.133_740_6e-4, -1.682_827e-3, -7.373_329_2e-3, -1.426_473_9e-2];
        let x = f32x4_max(f32x4_min(x, f32x4_splat(4.0)), f32x4_splat(-4.0));
        let x2 = f32x4_mul(x, x);
        let mut p = f32x4_splat(ALPHA[0]);
        for a in &ALPHA[1..] {
            p = f32x4_add(f32x4_mul(p, x2), f32x4_splat(*a));
        }
        let mut q = f32x4_splat(BETA[0]);
        for b in &BETA[1..] {
            q = f32x4_add(f32x4_mul(q, x2), f32x4_splat(*b));
        }
        f32x4_div(f32x4_mul(x, p), q)
    }
}
