//! LoRA for decoders: which weights get adapters (PEFT's `target_modules`), Burn's built-in LoRA
//! attached to them (the base frozen, `W + (alpha / rank) · A·B`), and the adapters in PEFT's
//! files — `adapter_model.safetensors` and `adapter_config.json` — which `peft` loads.
//!
//! Burn keeps a Linear weight as `[in, out]` with adapter factors `a: [in, rank]`,
//! `b: [rank, out]`; PEFT keeps `lora_A.weight: [rank, in]` and `lora_B.weight: [out, rank]`, so
//! each factor is transposed on the way out and back in.

use std::collections::HashMap;

use ::safetensors::{Dtype, SafeTensors};
use burn::{
    module::{Lora, Module, ModuleMapper, ModuleVisitor, Param, ParamGroup},
    tensor::{Tensor, TensorData},
};
use serde::{Deserialize, Serialize};

use crate::{
    ComputeDevice, Error, Result,
    models::llama::{LlamaConfig, LlamaForCausalLM},
    weights::export::f32_safetensors,
};

/// LoRA settings (PEFT's `LoraConfig` names: `r` is `rank`, `lora_alpha` is `alpha`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct LoraOptions {
    /// Rank of the adapters (default 8).
    pub rank: usize,
    /// Scale numerator: adapters add `alpha / rank · A·B` (default 16).
    pub alpha: f64,
    /// Which projections get adapters (default `q_proj`, `v_proj`, as PEFT for Llama).
    pub target_modules: Vec<String>,
}

impl Default for LoraOptions {
    fn default() -> Self {
        LoraOptions { rank: 8, alpha: 16.0, target_modules: vec!["q_proj".into(), "v_proj".into()] }
    }
}

/// Projections that can take adapters, and the block that holds each.
const MODULES: &[(&str, &str)] = &[
    ("q_proj", "self_attn"),
    ("k_proj", "self_attn"),
    ("v_proj", "self_attn"),
    ("o_proj", "self_attn"),
    ("gate_proj", "mlp"),
    ("up_proj", "mlp"),
    ("down_proj", "mlp"),
];

impl LoraOptions {
    /// Checks the settings, naming the option and what is valid.
    pub fn validate(&self) -> Result<()> {
        if self.rank == 0 {
            return Err(Error::Options("lora.rank must be at least 1 (8 or 16 are common)".into()));
        }
        if !(self.alpha > 0.0 && self.alpha.is_finite()) {
            return Err(Error::Options(format!("lora.alpha must be a positive number, got {}", self.alpha)));
        }
        if self.target_modules.is_empty() {
            return Err(Error::Options("lora.targetModules is empty; name at least one projection, e.g. [\"q_proj\", \"v_proj\"]".into()));
        }
        for m in &self.target_modules {
            if !MODULES.iter().any(|(name, _)| name == m) {
                let valid: Vec<&str> = MODULES.iter().map(|(n, _)| *n).collect();
                return Err(Error::Options(format!("lora.targetModules: unknown module {m:?}; valid modules are {}", valid.join(", "))));
            }
        }
        Ok(())
    }

    /// Our paths of the adapted weights (`model.layers.0.self_attn.q_proj.weight`, …).
    fn paths(&self, layers: usize) -> Vec<String> {
        (0..layers)
            .flat_map(|i| {
                MODULES
                    .iter()
                    .filter(|(m, _)| self.target_modules.iter().any(|t| t == m))
                    .map(move |(m, block)| format!("model.layers.{i}.{block}.{m}.weight"))
            })
            .collect()
    }

    /// `model` with adapters on the target weights and every other parameter frozen (A random,
    /// B zero: the model computes what it did before).
    pub fn apply(&self, model: LlamaForCausalLM) -> LlamaForCausalLM {
        let layers = model.model.layers.len();
        model.apply_lora(Lora::new(self.rank, self.alpha).set_param_group(ParamGroup::from_paths(self.paths(layers))))
    }

    /// For a model of config `c`: the adapters' trainable parameters, and the elements of the
    /// weights they adapt.
    pub fn sizes(&self, c: &LlamaConfig) -> (u64, u64) {
        let (h, i) = (c.hidden_size, c.intermediate_size);
        let (q, kv) = (c.num_attention_heads * c.head_dim(), c.kv_heads() * c.head_dim());
        let (mut adapters, mut adapted) = (0, 0);
        for m in &self.target_modules {
            let (din, dout) = match m.as_str() {
                "q_proj" => (h, q),
                "k_proj" | "v_proj" => (h, kv),
                "o_proj" => (q, h),
                "down_proj" => (i, h),
                _ => (h, i), // gate_proj, up_proj (validate() refused any other name)
            };
            adapters += self.rank * (din + dout);
            adapted += din * dout;
        }
        let layers = c.num_hidden_layers;
        ((layers * adapters) as u64, (layers * adapted) as u64)
    }

    /// PEFT's `adapter_config.json` for these adapters on `base_model`.
    pub fn peft_config(&self, base_model: &str) -> Result<Vec<u8>> {
        let config = serde_json::json!({
            "peft_type": "LORA",
            "task_type": "CAUSAL_LM",
            "base_model_name_or_path": base_model,
            "r": self.rank,
            "lora_alpha": self.alpha,
            "lora_dropout": 0.0,
            "target_modules": self.target_modules,
            "bias": "none",
            "fan_in_fan_out": false,
            "inference_mode": true,
            "init_lora_weights": true,
            "use_rslora": false,
            "use_dora": false,
        });
        serde_json::to_vec_pretty(&config).map_err(|e| Error::Backend(format!("adapter_config.json: {e}")))
    }
}

/// Our adapter factor path (`….q_proj.weight.lora.a`) → PEFT's key
/// (`base_model.model.….q_proj.lora_A.weight`).
fn peft_key(path: &str) -> Option<String> {
    let (module, factor) = path.rsplit_once(".weight.lora.")?;
    let factor = match factor {
        "a" => "lora_A",
        "b" => "lora_B",
        _ => return None,
    };
    Some(format!("base_model.model.{module}.{factor}.weight"))
}

/// Walks a module keeping the dotted path of the current parameter.
#[derive(Default)]
struct Path(Vec<String>);

impl Path {
    fn enter(&mut self, name: &str) {
        self.0.push(name.to_string());
    }
    fn exit(&mut self) {
        self.0.pop();
    }
    fn get(&self) -> String {
        self.0.join(".")
    }
}

/// Collects the adapter factors, transposed to PEFT's layout.
#[derive(Default)]
struct Factors {
    path: Path,
    out: Vec<(String, Vec<usize>, Tensor<1>)>,
}

impl ModuleVisitor for Factors {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.enter(name);
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.exit();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let Some(key) = peft_key(&self.path.get()) else { return };
        let t = param.val().swap_dims(0, 1);
        let shape = t.dims().to_vec();
        let n: usize = shape.iter().product();
        self.out.push((key, shape, t.reshape([n])));
    }
}

/// The adapters of `model` as PEFT's `adapter_model.safetensors` (f32).
pub async fn export_adapter(model: &LlamaForCausalLM, device: &ComputeDevice) -> Result<Vec<u8>> {
    let mut f = Factors::default();
    model.visit(&mut f);
    if f.out.is_empty() {
        return Err(Error::Options("this model has no LoRA adapters: fine-tune it with lora: { … } to save format \"peft\"".into()));
    }
    let values = device.read_all(f.out.iter().map(|(_, _, t)| t.clone()).collect()).await?;
    let tensors = f.out.into_iter().zip(values).map(|((key, shape, _), v)| (key, shape, v)).collect();
    f32_safetensors(tensors, [("format".to_string(), "pt".to_string())].into_iter().collect())
}

/// Puts the factors of a PEFT `adapter_model.safetensors` into `model`'s adapters (applied with
/// the same options); every adapter must be in the file, with the right shape.
pub fn load_adapter(model: LlamaForCausalLM, bytes: &[u8]) -> Result<LlamaForCausalLM> {
    let bad = |m: String| Error::Weights(format!("adapter_model.safetensors: {m}"));
    let st = SafeTensors::deserialize(bytes).map_err(|e| bad(format!("{e}; pass the file a LoRA run saved")))?;
    let mut tensors = HashMap::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(bad(format!("{name} is {:?}; only f32 adapters are read", view.dtype())));
        }
        let values: Vec<f32> = view.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        tensors.insert(name, (view.shape().to_vec(), values));
    }
    let mut setter = SetFactors { path: Path::default(), tensors, error: None, set: 0 };
    let model = model.map(&mut setter);
    if let Some(e) = setter.error {
        return Err(bad(e));
    }
    if setter.set == 0 {
        return Err(bad("no adapter of this model is in the file (other target modules?)".into()));
    }
    Ok(model)
}

struct SetFactors {
    path: Path,
    tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
    error: Option<String>,
    set: usize,
}

impl ModuleMapper for SetFactors {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.enter(name);
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.exit();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(key) = peft_key(&self.path.get()) else { return param };
        let (id, tensor, mapper) = param.consume();
        let dims = tensor.dims();
        let want = [dims[1], dims[0]]; // PEFT's layout
        match self.tensors.get(&key) {
            Some((shape, values)) if shape[..] == want[..] => {
                let peft = Tensor::<2>::from_data(TensorData::new(values.clone(), want), &tensor.device());
                let mut t: Tensor<D> = peft.swap_dims(0, 1).reshape(dims);
                if tensor.is_require_grad() {
                    t = t.require_grad();
                }
                self.set += 1;
                Param::from_mapped_value(id, t, mapper)
            }
            found => {
                self.error.get_or_insert(match found {
                    Some((shape, _)) => format!("{key} has shape {shape:?} but this model's adapter is {want:?} (another rank or model?)"),
                    None => format!("{key} is missing (the file is for other target modules or another model)"),
                });
                Param::from_mapped_value(id, tensor, mapper)
            }
        }
    }
}
