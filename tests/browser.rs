//! Engine tests inside headless Chromium (wasm-bindgen-test). Run by `pkg-config/test.sh` as
//! `cargo test --target wasm32-unknown-unknown --test browser`; browser flags in
//! `pkg-config/webdriver.json`. They FAIL when Chromium exposes no WebGPU adapter: a CPU fallback
//! never passes for a WebGPU test.
#![cfg(target_family = "wasm")]

mod common;

use common::{
    attentions::check_attentions,
    llama::check_llama,
    lm_training::{Family, check_family_steps_match_pytorch, check_lm_steps_match_pytorch},
    parity::check_model,
    quantized::{TINY_GEMMA3, TINY_LLAMA3, TINY_QWEN2, TINY_QWEN3, check_qlora_trains_as_dequantized, check_tiny_gemma3, check_tiny_kquant, check_tiny_llama3, check_tiny_qwen2, check_tiny_qwen3, tiny_kquant},
    training::check_steps_match_pytorch,
};
use wasm_bindgen_test::*;
use webtune::{DevicePreference, device, train::self_test};

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn self_test_runs_on_webgpu() {
    let dev = device::select(DevicePreference::Gpu)
        .await
        .unwrap_or_else(|e| panic!("WebGPU adapter required (is --enable-unsafe-webgpu set?): {e}"));
    let info = dev.info();
    assert_eq!(info.kind, "webgpu", "{info:?}");
    assert_eq!(info.backend, "BrowserWebGpu", "{info:?}");
    let report = self_test(&dev).await.unwrap();
    assert_eq!(report.device.kind, "webgpu");
    assert!(report.passed(), "loss did not fall on WebGPU: {report:?}");
}

#[wasm_bindgen_test]
async fn self_test_runs_on_the_cpu_path() {
    let dev = device::select(DevicePreference::Cpu).await.unwrap();
    assert_eq!(dev.info().kind, "cpu");
    let report = self_test(&dev).await.unwrap();
    assert_eq!(report.device.backend, "flex");
    assert!(report.passed(), "loss did not fall on the wasm CPU path: {report:?}");
}

/// "auto" takes a hardware WebGPU adapter, never a fallback one (SwiftShader here): then the CPU
/// path, saying why.
#[wasm_bindgen_test]
async fn auto_picks_webgpu_unless_it_is_a_fallback_adapter() {
    let gpu = device::select(DevicePreference::Gpu).await.expect("WebGPU adapter required");
    let auto = device::select(DevicePreference::Auto).await.unwrap();
    if gpu.info().is_software_gpu() {
        assert_eq!(auto.info().kind, "cpu");
        let why = auto.info().fallback.clone().unwrap_or_default();
        assert!(why.contains("software renderer") && why.contains("device: \"webgpu\""), "{why}");
    } else {
        assert_eq!(auto.info().kind, "webgpu", "Auto fell back: {:?}", auto.info().fallback);
    }
}

#[wasm_bindgen_test]
async fn tiny_berts_match_transformers_on_webgpu() {
    let dev = device::select(DevicePreference::Gpu).await.expect("WebGPU adapter required");
    assert_eq!(dev.info().kind, "webgpu");
    for fx in [embedded_fixture!("tiny-base"), embedded_fixture!("tiny-mlm"), embedded_fixture!("tiny-cls3"), embedded_fixture!("tiny-cls3-f16")] {
        check_model(fx, &dev, 1e-3).await;
    }
}

#[wasm_bindgen_test]
async fn bert_attention_weights_match_transformers_on_webgpu() {
    let dev = device::select(DevicePreference::Gpu).await.expect("WebGPU adapter required");
    assert_eq!(dev.info().kind, "webgpu");
    let file = |name: &str| -> Vec<u8> {
        match name {
            "config" => include_bytes!("fixtures/encoders/bert/config.json").to_vec(),
            "weights" => include_bytes!("fixtures/encoders/bert/model.safetensors").to_vec(),
            _ => include_bytes!("fixtures/encoders/bert/tokenizer.json").to_vec(),
        }
    };
    let files = webtune::infer::ModelFiles { config: file("config"), weights: file("weights"), tokenizer: file("tokenizer") };
    let enc = webtune::infer::Encoder::load(files, &dev).unwrap();
    let all: serde_json::Value = serde_json::from_str(include_str!("fixtures/encoders/attentions.json")).unwrap();
    check_attentions(&enc, "bert", &all, 1e-3, "webgpu").await;
}

#[wasm_bindgen_test]
async fn tiny_llamas_match_transformers_on_webgpu() {
    let dev = device::select(DevicePreference::Gpu).await.expect("WebGPU adapter required");
    assert_eq!(dev.info().kind, "webgpu");
    // Llama 2 (separate and tied heads), Llama 3's scaled RoPE, Qwen2's biases, Qwen3's q/k norms,
    // Gemma 3's sandwich norms and sliding-window layers
    for fx in [
        embedded_llama!("tiny"),
        embedded_llama!("tiny-tied"),
        embedded_llama!("tiny-llama3"),
        embedded_llama!("tiny-qwen2"),
        embedded_llama!("tiny-qwen3"),
        embedded_llama!("tiny-gemma3"),
    ] {
        check_llama(fx, &dev, 1e-3).await;
    }
}

#[wasm_bindgen_test]
async fn tiny_llama_matches_transformers_on_the_wasm_cpu_path() {
    let dev = device::select(DevicePreference::Cpu).await.unwrap();
    assert_eq!(dev.info().backend, "flex");
    check_llama(embedded_llama!("tiny"), &dev, 1e-4).await;
}

#[wasm_bindgen_test]
async fn quantized_weights_match_transformers_on_the_wasm_cpu_path() {
    // every block type decoded by the SIMD128 kernels, against transformers on the dequantized weights
    let dev = device::select(DevicePreference::Cpu).await.unwrap();
    check_tiny_kquant(&tiny_kquant(true, &dev), 1e-3).await;
}

#[wasm_bindgen_test]
async fn lora_on_a_gguf_kept_quantized_on_the_wasm_cpu_path_trains_as_its_dequantized_file() {
    let dev = device::select(DevicePreference::Cpu).await.unwrap();
    assert_eq!(dev.info().backend, "flex");
    check_qlora_trains_as_dequantized(&dev, 1e-4).await;
}

#[wasm_bindgen_test]
async fn lora_on_a_gguf_kept_quantized_on_webgpu_trains_as_its_dequantized_file() {
    let dev = device::select(DevicePreference::Gpu).await.expect("WebGPU adapter required");
    assert_eq!(dev.info().kind, "webgpu");
    check_qlora_trains_as_dequantized(&dev, 1e-3).await; // SwiftShader's f32 math, as the dense Llamas
}

#[wasm_bindgen_test]
async fn quantized_weights_stay_quantized_on_webgpu_and_match_transformers() {
    // the CubeCL kernels decoding every block type inside the products, compiled to WGSL
    let dev = device::select(DevicePreference::Gpu).await.expect("WebGPU adapter required");
    assert_eq!(dev.info().kind, "webgpu");
    let decoder = tiny_kquant(true, &dev);
    assert!(matches!(decoder.model, webtune::models::decoder::DecoderModel::GpuPacked(_)), "WebGPU keeps GGUF weights quantized");
    check_tiny_kquant(&decoder, 1e-3).await; // as the dense Llamas on WebGPU (SwiftShader's f32 math)
    // a Qwen2 file: q/k rows as stored (rotate-half), q/k/v biases
    let qwen2 = webtune::infer::Decoder::from_gguf(TINY_QWEN2, &dev).unwrap();
    check_tiny_qwen2(&qwen2, 1e-3).await;
    // a Gemma 3 file: sliding and global layers, q/k and sandwich norms, symmetric 8-bit blocks
    let gemma = webtune::infer::Decoder::from_gguf(TINY_GEMMA3, &dev).unwrap();
    check_tiny_gemma3(&gemma, 1e-3).await;
    // Qwen3 (q/k norms) and Llama 3.1 (rope_freqs factors) files
    check_tiny_qwen3(&webtune::infer::Decoder::from_gguf(TINY_QWEN3, &dev).unwrap(), 1e-3).await;
    check_tiny_llama3(&webtune::infer::Decoder::from_gguf(TINY_LLAMA3, &dev).unwrap(), 1e-3).await;
}

#[wasm_bindgen_test]
async fn tiny_bert_matches_transformers_on_the_wasm_cpu_path() {
    let dev = device::select(DevicePreference::Cpu).await.unwrap();
    assert_eq!(dev.info().backend, "flex");
    check_model(embedded_fixture!("tiny-cls3"), &dev, 1e-4).await;
}

#[wasm_bindgen_test]
async fn fine_tuning_matches_pytorch_step_by_step_on_webgpu() {
    let dev = device::select(DevicePreference::Gpu).await.expect("WebGPU adapter required");
    assert_eq!(dev.info().kind, "webgpu");
    let trained = check_steps_match_pytorch(&dev, 1e-3).await;
    assert_eq!(trained.device.info().kind, "webgpu");
}

#[wasm_bindgen_test]
async fn fine_tuning_matches_pytorch_step_by_step_on_the_wasm_cpu_path() {
    let dev = device::select(DevicePreference::Cpu).await.unwrap();
    check_steps_match_pytorch(&dev, 1e-4).await;
}

#[wasm_bindgen_test]
async fn lm_and_lora_fine_tuning_match_pytorch_and_peft_on_webgpu() {
    let dev = device::select(DevicePreference::Gpu).await.expect("WebGPU adapter required");
    assert_eq!(dev.info().kind, "webgpu");
    for (family, run) in [(Family::Llama, "pairs"), (Family::Llama, "lora"), (Family::Gpt2, "lora")] {
        let (_, trained) = check_family_steps_match_pytorch(family, &dev, run, 1e-3).await;
        assert_eq!(trained.device.info().kind, "webgpu");
    }
}

#[wasm_bindgen_test]
async fn lora_fine_tuning_matches_peft_on_the_wasm_cpu_path() {
    let dev = device::select(DevicePreference::Cpu).await.unwrap();
    check_lm_steps_match_pytorch(&dev, "lora", 1e-4).await;
}

/// Burn's fused GELU backward on GPU backends is the tanh approximation's derivative and WGSL's
/// `tanh` is NaN on WebGPU (SwiftShader) for large arguments: it made every MiniLM gradient below
/// layer 3 NaN. Both GELUs (`models/activation.rs`: BERT's exact one, written with erf; GPT-2's
/// tanh one, its argument clamped where tanh saturates) must give finite values and gradients on
/// WebGPU equal to the CPU's — Φ(x) + x·φ(x) for the exact one.
#[wasm_bindgen_test]
async fn gelu_values_and_gradients_are_finite_and_exact_on_webgpu_for_large_inputs() {
    use burn::tensor::{Tensor, TensorData};
    use webtune::models::activation::{gelu_erf, gelu_tanh};
    let xs: Vec<f32> = (0..4096).map(|i| (i as f32 - 2048.0) / 2048.0 * 60.0).collect(); // -60 .. 60
    let run = async |dev: webtune::ComputeDevice, tanh: bool| {
        let x = Tensor::<1>::from_data(TensorData::new(xs.clone(), [xs.len()]), dev.device()).require_grad();
        let y = if tanh { gelu_tanh(x.clone()) } else { gelu_erf(x.clone()) };
        let grads = y.clone().sum().backward();
        let read = async |t: Tensor<1>| dev.read(t).await.unwrap().try_to_vec::<f32>().unwrap();
        (read(y).await, read(x.grad(&grads).unwrap()).await)
    };
    let gpu = device::select(DevicePreference::Gpu).await.expect("WebGPU adapter required").with_autodiff();
    assert_eq!(gpu.info().kind, "webgpu");
    for tanh in [false, true] {
        let what = if tanh { "gelu_tanh" } else { "gelu_erf" };
        let (got, got_grad) = run(gpu.clone(), tanh).await;
        let (want, want_grad) = run(device::cpu().with_autodiff(), tanh).await;
        for (i, x) in xs.iter().enumerate() {
            let (v, w, g, wg) = (got[i], want[i], got_grad[i], want_grad[i]);
            assert!(v.is_finite() && (v - w).abs() <= 1e-4 * w.abs().max(1.0), "{what}({x}): WebGPU {v}, CPU {w}");
            assert!(g.is_finite() && (g - wg).abs() < 1e-4, "d {what}/dx at {x}: WebGPU {g}, CPU {wg}");
        }
        assert!(want_grad[0].abs() < 1e-6 && (want_grad[4095] - 1.0).abs() < 1e-6, "{what}: the gradient at ±60 is 0 / 1");
    }
}

/// The wasm CPU path's own Linear kernel (`models/linear.rs`) against Burn's `Linear::forward`:
/// rows and columns that do not fill its 4×8 blocks, with and without bias, and with the fused
/// exact GELU. It is called directly, so a silent fallback to Burn cannot pass.
#[wasm_bindgen_test]
async fn simd128_linear_kernel_matches_burn_on_the_wasm_cpu_path() {
    use burn::{
        backend::Flex,
        module::Param,
        nn::{Linear, LinearConfig},
        tensor::{Distribution, Tensor},
    };
    use webtune::{kernels::linear::simd128, models::activation::gelu_erf};
    let dev = device::cpu();
    let d = dev.device();
    let read = async |t: Tensor<3>| dev.read(t).await.unwrap().try_to_vec::<f32>().unwrap();
    for (m, k, n, bias) in [(37, 19, 13, true), (64, 384, 1536, true), (16, 8, 8, false), (22, 33, 41, true)] {
        let layer = LinearConfig::new(k, n).with_bias(bias).init(d);
        let x = Tensor::<3>::random([2, m, k], Distribution::Normal(0.0, 2.0), d);
        for gelu in [false, true] {
            let want = layer.forward(x.clone());
            let want = read(if gelu { gelu_erf(want) } else { want }).await;
            let got = if gelu { simd128::forward::<3, true>(&layer, &x) } else { simd128::forward::<3, false>(&layer, &x) };
            let got = got.unwrap_or_else(|| panic!("the kernel took {m}×{k}·{k}×{n}"));
            assert_eq!(got.dims(), [2, m, n]);
            for (i, (g, w)) in read(got).await.iter().zip(&want).enumerate() {
                assert!((g - w).abs() <= 1e-4 * w.abs().max(1.0), "{m}×{k}·{k}×{n} gelu {gelu}, output {i}: kernel {g}, Burn {w}");
            }
        }
    }
    // Burn keeps what the kernel does not do: too few rows, autograd, a weight that is not
    // row-major `[in, out]` (here the transposed view of PyTorch's `[out, in]`).
    let layer = LinearConfig::new(8, 8).init(d);
    assert!(simd128::forward::<2, false>(&layer, &Tensor::<2>::ones([3, 8], d)).is_none(), "3 rows go to Burn");
    let torch = Tensor::<2>::random([8, 8], Distribution::Default, d).transpose();
    let view = Linear { weight: Param::from_tensor(torch), bias: None };
    assert_eq!(view.weight.val().try_into_primitive::<Flex>().unwrap().layout().strides(), [1, 8], "a transposed view");
    assert!(simd128::forward::<2, false>(&view, &Tensor::<2>::ones([32, 8], d)).is_none(), "a transposed weight goes to Burn");
    let ad = dev.with_autodiff();
    let layer = LinearConfig::new(8, 8).init(ad.device());
    assert!(simd128::forward::<2, false>(&layer, &Tensor::<2>::ones([32, 8], ad.device())).is_none(), "autograd goes to Burn");
}

/// The wasm CPU path's softmax (`models/softmax.rs`) against Burn's: rows that do not fill its
/// 4-lane vectors, the attention mask's -1e9, large and tiny scores. Called directly.
#[wasm_bindgen_test]
async fn simd128_softmax_matches_burn_on_the_wasm_cpu_path() {
    use burn::tensor::{Distribution, Tensor, TensorData, activation::softmax};
    use webtune::kernels::softmax::simd128;
    let dev = device::cpu();
    let d = dev.device();
    for len in [1, 3, 4, 13, 64] {
        let x = Tensor::<4>::random([2, 3, 5, len], Distribution::Normal(0.0, 8.0), d);
        let masked: Vec<f32> = (0..2 * 3 * 5 * len).map(|i| if i % 7 == 3 && len > 1 { -1e9 } else { 0.0 }).collect();
        let x = x + Tensor::<4>::from_data(TensorData::new(masked, [2, 3, 5, len]), d);
        let want = dev.read(softmax(x.clone(), 3)).await.unwrap().try_to_vec::<f32>().unwrap();
        let got = simd128::softmax_last(&x).expect("the kernel applies on the CPU backend");
        let got = dev.read(got).await.unwrap().try_to_vec::<f32>().unwrap();
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!((g - w).abs() <= 1e-6, "row length {len}, element {i}: kernel {g}, Burn {w}");
        }
    }
    let ad = dev.with_autodiff();
    assert!(simd128::softmax_last(&Tensor::<2>::ones([4, 4], ad.device())).is_none(), "autograd goes to Burn");
}
