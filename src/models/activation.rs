//! The feed-forward activations, written with elementary ops that autodiff differentiates exactly
//! and that stay finite on every backend. Burn's fused GELUs are not: on its GPU backends the
//! exact GELU's backward is the tanh approximation's derivative, and WGSL's `tanh` (Chromium's
//! SwiftShader; Metal, which CubeCL works around) returns NaN for large arguments — which the
//! approximation's cubic reaches for inputs above ~9, common in pretrained feed-forwards.

use burn::{nn::activation::Activation, tensor::Tensor};

/// `act(x)`, with the GELUs as below.
pub fn activate<const D: usize>(act: &Activation, x: Tensor<D>) -> Tensor<D> {
    match act {
        Activation::Gelu(gelu) if gelu.approximate => gelu_tanh(x),
        Activation::Gelu(_) => gelu_erf(x),
        other => other.forward(x),
    }
}

/// Exact GELU, `x/2 · (1 + erf(x/√2))` (BERT's `"gelu"`). Pretrained MiniLM's activations reach
/// the inputs where Burn's GPU backward is NaN: every gradient below its third layer was NaN.
pub fn gelu_erf<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    let cdf = x.clone().div_scalar(std::f64::consts::SQRT_2).erf().add_scalar(1.0).mul_scalar(0.5);
    x * cdf
}

/// Beyond this, `tanh` is 1 in f32 (1 − tanh(10) ≈ 4e-9 is below f32's epsilon near 1), and
/// its derivative ≈ 8e-9: clamping there changes neither the value nor, in f32, the gradient.
const TANH_SATURATES: f64 = 10.0;

/// GPT-2's `gelu_new` (PyTorch's `gelu(approximate="tanh")`):
/// `x/2 · (1 + tanh(√(2/π) · (x + 0.044715·x³)))`, its `tanh` argument clamped where `tanh`
/// saturates so that no backend sees a large one.
pub fn gelu_tanh<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    let sqrt_2_over_pi = (2.0 / std::f64::consts::PI).sqrt();
    let inner = (x.clone() + x.clone().powi_scalar(3).mul_scalar(0.044715)).mul_scalar(sqrt_2_over_pi);
    let cdf = inner.clamp(-TANH_SATURATES, TANH_SATURATES).tanh().add_scalar(1.0).mul_scalar(0.5);
    x * cdf
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Tensor, TensorData};

    /// Against the formula in f64, across the range where the clamp acts (|x| > ~9.3).
    #[test]
    fn gelu_tanh_is_pytorchs_tanh_gelu() {
        let xs: Vec<f32> = (0..1201).map(|i| (i as f32 - 600.0) / 10.0).collect(); // -60 .. 60
        let device = crate::device::cpu();
        let x = Tensor::<1>::from_data(TensorData::new(xs.clone(), [xs.len()]), device.device());
        let got = super::gelu_tanh(x).into_data().try_to_vec::<f32>().unwrap();
        for (x, y) in xs.iter().map(|&x| x as f64).zip(got) {
            let want = 0.5 * x * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x.powi(3))).tanh());
            assert!((y as f64 - want).abs() <= 1e-6 * want.abs().max(1.0), "gelu_tanh({x}) = {y}, want {want}");
        }
    }
}
