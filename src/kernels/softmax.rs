//! Softmax over the last dimension (attention probabilities), with a SIMD128 version for inference
//! on the browser's CPU path, where Burn's CPU backend computes each `exp` with scalar libm.
//! Everywhere else it is Burn's softmax.

use burn::tensor::{Tensor, activation::softmax};

/// `softmax(x, D - 1)`.
pub fn softmax_last<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    if let Some(y) = simd128::softmax_last(&x) {
        return y;
    }
    softmax(x, D - 1)
}

/// The kernel; public for the browser tests, which call it directly to prove it ran.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[doc(hidden)]
pub mod simd128 {
    use core::arch::wasm32::*;

    use burn::{
        backend::{Flex, flex::FlexTensor},
        tensor::{Tensor, TensorData},
    };

    /// `None` when the fast path does not apply (another backend, autograd, another dtype).
    pub fn softmax_last<const D: usize>(x: &Tensor<D>) -> Option<Tensor<D>> {
        let dims = x.dims();
        let len = dims[D - 1];
        if len == 0 {
            return None;
        }
        let x = x.clone().try_into_primitive::<Flex>().ok()?.to_contiguous();
        let xs = x.as_slice::<f32>()?;
        let mut out = vec![0.0f32; xs.len()];
        let whole = len - len % 4;
        for (row, dst) in xs.chunks_exact(len).zip(out.chunks_exact_mut(len)) {
            let max = f32x4_splat(row.iter().fold(f32::NEG_INFINITY, |m, v| m.max(*v)));
            let mut sum = f32x4_splat(0.0);
            // SAFETY: every pointer below addresses 4 floats inside `row` / `dst` (i + 4 ≤ whole).
            for i in (0..whole).step_by(4) {
                let e = exp(f32x4_sub(unsafe { v128_load(row.as_ptr().add(i) as *const v128) }, max));
                sum = f32x4_add(sum, e);
                unsafe { v128_store(dst.as_mut_ptr().add(i) as *mut v128, e) };
            }
            let mut total = f32x4_extract_lane::<0>(sum) + f32x4_extract_lane::<1>(sum)
                + f32x4_extract_lane::<2>(sum) + f32x4_extract_lane::<3>(sum);
            for i in whole..len {
                dst[i] = (row[i] - f32x4_extract_lane::<0>(max)).exp();
                total += dst[i];
            }
            let scale = f32x4_splat(1.0 / total);
            for i in (0..whole).step_by(4) {
                unsafe {
                    let p = dst.as_mut_ptr().add(i) as *mut v128;
                    v128_store(p, f32x4_mul(v128_load(p), scale));
                }
            }
            for v in &mut dst[whole..] {
                *v /= total;
            }
        }
        let y = FlexTensor::from_data(TensorData::new(out, dims.to_vec()));
        Some(Tensor::from_primitive::<Flex>(y))
    }

    /// `exp` as Cephes' `expf` (range reduction by ln 2, a degree-5 polynomial, 2ⁿ from the
    /// exponent bits): within 1 ulp of exact on [-87, 20] (checked in f32 against float64); inputs
    /// below -87.3 (the attention mask's -1e9) give 1.2e-38, not 0.
    #[inline(always)]
    fn exp(x: v128) -> v128 {
        const P: [f32; 6] = [1.987_569_1e-4, 1.398_2e-3, 8.333_452e-3, 4.166_579_6e-2, 1.666_666_5e-1, 5.000_000_1e-1];
        let x = f32x4_max(f32x4_min(x, f32x4_splat(88.376_26)), f32x4_splat(-87.336_55));
        let n = f32x4_floor(f32x4_add(f32x4_mul(x, f32x4_splat(std::f32::consts::LOG2_E)), f32x4_splat(0.5)));
        let r = f32x4_sub(f32x4_sub(x, f32x4_mul(n, f32x4_splat(0.693_359_4))), f32x4_mul(n, f32x4_splat(-2.121_944_4e-4)));
        let mut p = f32x4_splat(P[0]);
        for c in &P[1..] {
            p = f32x4_add(f32x4_mul(p, r), f32x4_splat(*c));
        }
        let y = f32x4_add(f32x4_add(f32x4_mul(p, f32x4_mul(r, r)), r), f32x4_splat(1.0));
        let pow2n = i32x4_shl(i32x4_add(i32x4_trunc_sat_f32x4(n), i32x4_splat(127)), 23);
        f32x4_mul(y, pow2n)
    }
}
