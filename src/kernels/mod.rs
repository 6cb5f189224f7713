//! Compute kernels the models call instead of Burn's ops where webtune has a faster or
//! different path: [`linear`] (`x·W + b`, LoRA adapters as PEFT computes them, and a SIMD128
//! kernel for the browser's CPU), [`softmax`] (SIMD128 softmax over the last dimension),
//! [`argmax`] on the host, and the products on GGUF's quantized blocks ([`quantized`] on the CPU,
//! [`gpu_quantized`] in CubeCL kernels, [`frozen`] for a frozen base that LoRA trains beside).

pub mod argmax;
pub mod frozen;
pub mod gpu_matrix;
pub mod gpu_quantized;
pub mod linear;
pub mod quantized;
pub mod softmax;
