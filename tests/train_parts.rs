//! The pure parts of training, checked against the reference formulas: HF's warmup schedules
//! and scikit-learn's classification metrics, memory plans, and the comparison helpers.
#![cfg(not(target_family = "wasm"))] // native only: the browser suite is tests/browser.rs

mod common;

use webtune::train::{LrSchedule, Metrics, Schedule, schedule::{StepDecay, warmup_steps}};

/// The parity helpers every comparison uses cannot pass over NaN, infinities or a length mismatch.
#[test]
fn comparisons_fail_on_nan_infinity_and_length() {
    use common::parity::{assert_close, max_abs_diff};
    let fails = |ours: Vec<f32>, reference: Vec<f32>| {
        std::panic::catch_unwind(|| assert_close("t", &ours, &reference, 1e-3)).is_err()
    };
    assert!(fails(vec![f32::NAN; 4], vec![0.0; 4]), "an all-NaN output fails");
    assert!(fails(vec![0.0, 1.0], vec![0.0, f32::NAN]), "a NaN in the reference fails");
    assert!(fails(vec![f32::INFINITY], vec![f32::INFINITY]), "infinities fail even when equal");
    assert!(fails(vec![0.0; 3], vec![0.0; 4]), "a length mismatch fails");
    assert!(fails(vec![0.0, 0.5], vec![0.0, 0.0]), "a real difference fails");
    assert!(!fails(vec![0.0, 0.5], vec![0.0, 0.5005]), "within tolerance passes");
    assert_eq!(max_abs_diff("t", &[1.0, 2.0, 3.5], &[1.0, 2.0, 3.0]), (2, 0.5));
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn schedules_match_transformers() {
    // transformers.get_linear_schedule_with_warmup(opt, 10, 100), base lr 1.0:
    // step 0 → 0, 5 → 0.5, 10 → 1.0, 55 → 0.5, 100 → 0
    let lin = LrSchedule { kind: Schedule::Linear, peak: 1.0, warmup_steps: 10, total_steps: 100, decay: None };
    for (s, want) in [(0, 0.0), (5, 0.5), (10, 1.0), (55, 0.5), (100, 0.0), (120, 0.0)] {
        assert!(close(lin.lr(s), want), "linear step {s}: {} vs {want}", lin.lr(s));
    }
    // get_cosine_schedule_with_warmup(opt, 10, 100): step 55 → 0.5, 100 → 0, 32.5 → cos(pi/4) mid
    let cos = LrSchedule { kind: Schedule::Cosine, ..lin };
    assert!(close(cos.lr(55), 0.5));
    assert!(close(cos.lr(100), 0.0));
    assert!(close(cos.lr(10), 1.0));
    let con = LrSchedule { kind: Schedule::Constant, ..lin };
    assert!(close(con.lr(5), 0.5) && close(con.lr(99), 1.0));
    // no warmup: full rate from step 0
    let nw = LrSchedule { warmup_steps: 0, ..lin };
    assert!(close(nw.lr(0), 1.0));
    // torch.optim.lr_scheduler.StepLR(step_size=5, gamma=0.5) stepped once per 3-step epoch:
    // 1.0 for steps 0–14, 0.5 for 15–29, 0.25 from 30
    let step_lr = LrSchedule { kind: Schedule::Constant, warmup_steps: 0, decay: Some(StepDecay { every: 15, gamma: 0.5 }), ..lin };
    for (s, want) in [(0, 1.0), (14, 1.0), (15, 0.5), (29, 0.5), (30, 0.25)] {
        assert!(close(step_lr.lr(s), want), "step decay at {s}: {}", step_lr.lr(s));
    }
    assert_eq!(warmup_steps(None, Some(0.1), 250).unwrap(), 25);
    assert_eq!(warmup_steps(None, Some(0.1), 251).unwrap(), 26, "HF rounds up");
    assert!(warmup_steps(Some(1), Some(0.1), 10).is_err());
    assert!("step".parse::<Schedule>().unwrap_err().to_string().contains("\"cosine\""));
}

#[test]
fn metrics_match_scikit_learn() {
    // sklearn.metrics.classification_report(y_true=[0,0,1,1,2,2], y_pred=[0,1,1,1,2,0]):
    // precision [0.5, 0.6667, 1.0], recall [0.5, 1.0, 0.5], f1 [0.5, 0.8, 0.6667]; accuracy 0.6667
    let labels: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
    let m = Metrics::compute(&[0, 0, 1, 1, 2, 2], &[0, 1, 1, 1, 2, 0], &labels, Some(0.3));
    assert!((m.accuracy - 4.0 / 6.0).abs() < 1e-12);
    let p: Vec<f64> = m.per_class.iter().map(|c| c.precision).collect();
    let f: Vec<f64> = m.per_class.iter().map(|c| c.f1).collect();
    assert!((p[1] - 2.0 / 3.0).abs() < 1e-12 && (f[1] - 0.8).abs() < 1e-12 && (f[2] - 2.0 / 3.0).abs() < 1e-12);
    assert!((m.macro_f1 - (0.5 + 0.8 + 2.0 / 3.0) / 3.0).abs() < 1e-12);
    assert_eq!(m.confusion_matrix, vec![vec![1, 1, 0], vec![0, 2, 0], vec![1, 0, 1]]);
    assert_eq!(m.get("loss"), Some(0.3));
    // a class never predicted: precision 0, not NaN (zero_division=0)
    let m = Metrics::compute(&[0, 1], &[0, 0], &labels[..2], None);
    assert_eq!(m.per_class[1].precision, 0.0);
    assert!(m.macro_f1.is_finite());
}

/// The pre-flight plan counts exactly the parameters the checkpoint holds, and refuses a batch
/// whose attention scores cannot be bound by the GPU.
#[test]
fn memory_plan_counts_parameters_and_refuses_oversized_batches() {
    use webtune::{DeviceInfo, models::bert::BertConfig, train::memory::{check, plan_training}};
    let dir = common::parity::fixture_path("tiny-cls3");
    let config = BertConfig::from_json(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let in_file: usize = st
        .tensors()
        .iter()
        .filter(|(name, t)| !name.ends_with("position_ids") && t.dtype() != safetensors::Dtype::I64)
        .map(|(_, t)| t.shape().iter().product::<usize>())
        .sum();
    assert_eq!(config.parameters(3), in_file as u64, "BertForSequenceClassification with 3 labels");

    // all-MiniLM-L6-v2's shape: 128 × 512 tokens needs a 1.6 GB buffer for its attention scores
    let minilm = BertConfig {
        vocab_size: 30522, hidden_size: 384, num_hidden_layers: 6, num_attention_heads: 12, intermediate_size: 1536,
        max_position_embeddings: 512, ..config
    };
    let gpu = DeviceInfo {
        kind: "webgpu".into(), backend: "BrowserWebGpu".into(), adapter: String::new(), device_type: "Cpu".into(),
        driver: String::new(), max_buffer_size: Some(1 << 30), max_storage_buffer_binding_size: Some(1 << 30),
        autodiff: true, fallback: None,
    };
    let big = plan_training(&minilm, 2, 128, 512, None);
    assert_eq!(big.largest_tensor_bytes, 128 * 12 * 512 * 512 * 4);
    let err = check(&big, &gpu).unwrap_err().to_string();
    assert!(err.contains("attention scores (128 × 12 heads × 512 × 512)") && err.contains("1074 MB") && err.contains("batchSize"), "{err}");
    let ok = plan_training(&minilm, 2, 16, 64, None);
    check(&ok, &gpu).unwrap();
    assert_eq!(ok.optimizer_bytes, 2 * ok.weight_bytes);
    assert!(ok.total_bytes > 4 * ok.weight_bytes, "activations count too");

    // loading: Llama 3's 128,256 × 2,048 token embeddings (1.05 GB as f32) do not fit WebGPU's
    // default 128 MiB binding; SmolLM2-135M's 49,152 × 576 (113 MB) do
    let gpu = DeviceInfo { max_storage_buffer_binding_size: Some(128 << 20), ..gpu };
    let e = webtune::weights::check_embeddings_fit(128_256, 2048, &gpu).unwrap_err();
    assert_eq!(e.js_name(), "OutOfMemoryError");
    assert!(e.to_string().contains("(128256 × 2048) take 1051 MB") && e.to_string().contains("device \"cpu\""), "{e}");
    webtune::weights::check_embeddings_fit(49_152, 576, &gpu).unwrap();
}

/// GPT-2's plan: the parameters of gpt2 (124,439,808 — transformers' count, the tied head once),
/// LoRA's trainable count on PEFT's default `c_attn` (rank 8: 12 × 8 × (768 + 2304) = 294,912,
/// PEFT's `print_trainable_parameters`), and its 154 MB token embeddings refused on a GPU that
/// binds 128 MiB.
#[test]
fn gpt2_memory_plan_counts_parameters_and_names_the_embeddings() {
    use webtune::{DeviceInfo, models::{gpt2::{Gpt2Config, Gpt2LMHeadModel}, lora::LoraOptions}, train::memory::{check, plan_decoder}, weights::decoder_family::DecoderFamily};
    let gpt2 = Gpt2Config::from_json("{}").unwrap(); // HF's defaults are gpt2's shape
    assert_eq!(gpt2.parameters(), 124_439_808);
    let sizes = Gpt2LMHeadModel::lora_sizes(&gpt2, &LoraOptions::default());
    assert_eq!(sizes.0, 294_912);
    let lora = plan_decoder(&Gpt2LMHeadModel::shape(&gpt2), 4, 128, Some(sizes));
    assert_eq!(lora.optimizer_bytes, 2 * 294_912 * 4, "AdamW moments for the adapters only");
    let full = plan_decoder(&Gpt2LMHeadModel::shape(&gpt2), 4, 128, None);
    assert_eq!((full.largest_tensor_bytes, full.largest_tensor.as_str()), (50_257 * 768 * 4, "token embeddings (50257 × 768)"));
    let gpu = DeviceInfo {
        kind: "webgpu".into(), backend: "BrowserWebGpu".into(), adapter: String::new(), device_type: "Cpu".into(),
        driver: String::new(), max_buffer_size: Some(256 << 20), max_storage_buffer_binding_size: Some(128 << 20),
        autodiff: true, fallback: None,
    };
    let e = check(&full, &gpu).unwrap_err().to_string();
    assert!(e.contains("token embeddings (50257 × 768)") && e.contains("154 MB"), "{e}");
}
