//! LoRA adapters in PEFT's files: `adapter_model.safetensors` (keys
//! `base_model.model.….lora_A.weight`) and `adapter_config.json`, which `peft` loads.
//!
//! Burn keeps a Linear weight as `[in, out]` with adapter factors `a: [in, rank]`,
//! `b: [rank, out]`; PEFT keeps `lora_A.weight: [rank, in]` and `lora_B.weight: [out, rank]`, so
//! each factor is transposed on the way out and back in.

use std::collections::HashMap;

use ::safetensors::{Dtype, SafeTensors};
use burn::{
    module::{Module, ModuleMapper, ModuleVisitor, Param},
    tensor::{Tensor, TensorData},
};

use crate::{
    ComputeDevice, Error, Result,
    models::{
        lora::{LoraBase, LoraInit, LoraOptions},
    },
    weights::export::f32_safetensors,
};

/// PEFT's `adapter_config.json` for adapters made with `options` on `base` (a model of that
/// architecture named `base_model`).
pub fn adapter_config(options: &LoraOptions, base: LoraBase, base_model: &str) -> Result<Vec<u8>> {
    let init = match options.init {
        LoraInit::Kaiming => serde_json::Value::Bool(true),
        LoraInit::Gaussian => serde_json::Value::from("gaussian"),
    };
    let config = serde_json::json!({
        "peft_type": "LORA",
        "task_type": base.peft_task_type()?,
        "base_model_name_or_path": base_model,
        "r": options.rank,
        "lora_alpha": options.alpha,
        "lora_dropout": options.dropout,
        "target_modules": options.targets(base),
        "modules_to_save": base.modules_to_save().0,
        "bias": "none",
        // GPT-2's projections are HF `Conv1D` layers, whose weights are `[in, out]`
        "fan_in_fan_out": base == LoraBase::Gpt2,
        "inference_mode": true,
        "init_lora_weights": init,
        "use_rslora": options.rslora,
        "use_dora": false,
    });
    serde_json::to_vec_pretty(&config).map_err(|e| Error::Backend(format!("adapter_config.json: {e}")))
}

/// How a model's trained parameters are named in PEFT's file: `key` maps our parameter path to
/// its Hugging Face key (`model.layers.0.self_attn.q_proj.weight`,
/// `roberta.encoder.layer.0.attention.self.query.weight`); `head` lists our path prefixes that
/// are trained in full and saved whole (PEFT's `modules_to_save`).
pub struct AdapterLayout {
    pub key: Box<dyn Fn(&str) -> String>,
    pub head: &'static [&'static str],
}

impl AdapterLayout {
    /// PEFT's key for our parameter at `path`, and whether it is stored transposed (Burn keeps
    /// Linear weights and the factors as `[in, out]`, PyTorch as `[out, in]`): an adapter factor
    /// (`….q_proj.weight.lora.a` → `base_model.model.….q_proj.lora_A.weight`) or a head parameter.
    fn peft_key(&self, path: &str) -> Option<(String, bool)> {
        if let Some((module, factor)) = path.rsplit_once(".weight.lora.") {
            let factor = match factor {
                "a" => "lora_A",
                "b" => "lora_B",
                _ => return None,
            };
            let hf = (self.key)(&format!("{module}.weight"));
            return Some((format!("base_model.model.{}.{factor}.weight", hf.strip_suffix(".weight")?), true));
        }
        if self.head.iter().any(|h| path.starts_with(h)) {
            return Some((format!("base_model.model.{}", (self.key)(path)), path.ends_with(".weight")));
        }
        None
    }
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

/// Collects the adapter factors and the head, in PEFT's names and layout.
struct Factors<'a> {
    layout: &'a AdapterLayout,
    path: Path,
    out: Vec<(String, Vec<usize>, Tensor<1>)>,
}

impl ModuleVisitor for Factors<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.enter(name);
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.exit();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let Some((key, transposed)) = self.layout.peft_key(&self.path.get()) else { return };
        let t = if transposed && D == 2 { param.val().swap_dims(0, 1) } else { param.val() };
        let shape = t.dims().to_vec();
        let n: usize = shape.iter().product();
        self.out.push((key, shape, t.reshape([n])));
    }
}

/// The adapters (and head) of `model` as PEFT's `adapter_model.safetensors` (f32).
pub async fn export_adapter<M: Module>(model: &M, layout: &AdapterLayout, device: &ComputeDevice) -> Result<Vec<u8>> {
    let mut f = Factors { layout, path: Path::default(), out: Vec::new() };
    model.visit(&mut f);
    if !f.out.iter().any(|(key, _, _)| key.ends_with(".lora_A.weight")) {
        return Err(Error::Options("this model has no LoRA adapters: fine-tune it with lora: { … } to save format \"peft\"".into()));
    }
    let values = device.read_all(f.out.iter().map(|(_, _, t)| t.clone()).collect()).await?;
    let tensors = f.out.into_iter().zip(values).map(|((key, shape, _), v)| (key, shape, v)).collect();
    f32_safetensors(tensors, [("format".to_string(), "pt".to_string())].into_iter().collect())
}

/// Puts the factors (and head) of a PEFT `adapter_model.safetensors` into `model`'s adapters
/// (applied with the same options); every adapter must be in the file, with the right shape.
pub fn load_adapter<M: Module>(model: M, layout: &AdapterLayout, bytes: &[u8]) -> Result<M> {
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
    let in_file = tensors.len();
    let mut setter = SetFactors { layout, path: Path::default(), tensors, error: None, set: 0 };
    let model = model.map(&mut setter);
    if let Some(e) = setter.error {
        return Err(bad(e));
    }
    if setter.set == 0 {
        return Err(bad("no adapter of this model is in the file (other target modules?)".into()));
    }
    if setter.set < in_file {
        return Err(bad(format!(
            "the file holds {in_file} adapter factors but this model's adapters take {}: it adapts more projections; \
             train with its targetModules",
            setter.set
        )));
    }
    Ok(model)
}

struct SetFactors<'a> {
    layout: &'a AdapterLayout,
    path: Path,
    tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
    error: Option<String>,
    set: usize,
}

impl ModuleMapper for SetFactors<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.enter(name);
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.exit();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some((key, transposed)) = self.layout.peft_key(&self.path.get()) else { return param };
        let (id, tensor, mapper) = param.consume();
        let dims = tensor.dims();
        let mut want = dims.to_vec(); // PEFT's layout
        if transposed && D == 2 {
            want.reverse();
        }
        match self.tensors.get(&key) {
            Some((shape, values)) if shape[..] == want[..] => {
                let peft = Tensor::<D>::from_data(TensorData::new(values.clone(), want), &tensor.device());
                let mut t: Tensor<D> = if transposed && D == 2 { peft.swap_dims(0, 1) } else { peft };
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
