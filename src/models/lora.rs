//! LoRA adapters as PEFT defines them: which weights get adapters (`target_modules`), how the
//! factors start (`init_lora_weights`), how they are scaled (`lora_alpha`, `use_rslora`) and the
//! dropout on their input (`lora_dropout`).
//!
//! The factors live on Burn's `Param` (its `LoraAdapter`: `a: [in, rank]`, `b: [rank, out]`, the
//! base frozen); [`crate::kernels::linear`] computes an adapted layer as PEFT does,
//! `x·W + scale · dropout(x)·A·B`. The PEFT files are written and read by [`crate::weights::peft`].

use burn::{
    module::{Lora, LoraAdapter, Module, Param, ParamGroup, Reparameterizer},
    nn::{Dropout, DropoutConfig},
    tensor::Tensor,
};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::{
    Error, Result,
    models::{
        fresh,
        llama::{LlamaConfig, LlamaForCausalLM},
    },
};

/// How the `A` factor starts (`B` always starts at zero, so an adapted model first computes what
/// its base does). The names are PEFT's `init_lora_weights` values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum LoraInit {
    /// PEFT's default (`init_lora_weights=True`): Kaiming-uniform with `a = √5` over the adapted
    /// layer's fan-in, i.e. U(−1/√fan_in, 1/√fan_in).
    #[default]
    Kaiming,
    /// PEFT's `"gaussian"`: normal with standard deviation 1/rank — also what Burn's `Lora` draws.
    Gaussian,
}

impl std::str::FromStr for LoraInit {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "kaiming" => Ok(LoraInit::Kaiming),
            "gaussian" => Ok(LoraInit::Gaussian),
            _ => Err(Error::Options(format!("lora.init: unknown initialisation {s:?}; valid values are \"kaiming\" (PEFT's default) and \"gaussian\""))),
        }
    }
}

/// LoRA settings (PEFT's `LoraConfig`: `r` is `rank`, `lora_alpha` is `alpha`, `lora_dropout` is
/// `dropout`, `use_rslora` is `rslora`, `init_lora_weights` is `init`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct LoraOptions {
    /// Rank of the adapters (default 8).
    pub rank: usize,
    /// Scale numerator: adapters add `alpha / rank · A·B` (default 16).
    pub alpha: f64,
    /// Which projections get adapters (default `q_proj`, `v_proj`, as PEFT for Llama).
    #[ts(type = "Array<\"q_proj\" | \"k_proj\" | \"v_proj\" | \"o_proj\" | \"gate_proj\" | \"up_proj\" | \"down_proj\">")]
    pub target_modules: Vec<String>,
    /// Dropout on the adapters' input while training, in [0, 1) (default 0, as PEFT).
    pub dropout: f64,
    /// Rank-stabilised scale `alpha / √rank` instead of `alpha / rank` (default false).
    pub rslora: bool,
    /// How `A` starts (default `"kaiming"`, PEFT's default).
    pub init: LoraInit,
}

impl Default for LoraOptions {
    fn default() -> Self {
        LoraOptions {
            rank: 8,
            alpha: 16.0,
            target_modules: vec!["q_proj".into(), "v_proj".into()],
            dropout: 0.0,
            rslora: false,
            init: LoraInit::Kaiming,
        }
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
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::Options(format!("lora.dropout must be in [0, 1) (0 = off, 0.05 or 0.1 are common), got {}", self.dropout)));
        }
        if self.target_modules.is_empty() {
            return Err(Error::Options("lora.targetModules is empty; name at least one projection, e.g. [\"q_proj\", \"v_proj\"]".into()));
        }
        for (i, m) in self.target_modules.iter().enumerate() {
            if self.target_modules[..i].contains(m) {
                return Err(Error::Options(format!("lora.targetModules names {m:?} twice; name each projection once")));
            }
            if !MODULES.iter().any(|(name, _)| name == m) {
                let valid: Vec<&str> = MODULES.iter().map(|(n, _)| *n).collect();
                return Err(Error::Options(format!("lora.targetModules: unknown module {m:?}; valid modules are {}", valid.join(", "))));
            }
        }
        Ok(())
    }

    /// What the adapters' product is multiplied by: `alpha / rank`, or `alpha / √rank` with `rslora`.
    pub fn scale(&self) -> f64 {
        if self.rslora { self.alpha / (self.rank as f64).sqrt() } else { self.alpha / self.rank as f64 }
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

    /// `model` with adapters on the target weights, every other parameter frozen, and the
    /// adapters' input dropout set (`B` is zero: the model computes what it did before); `A` is
    /// drawn from `seed`.
    pub fn apply(&self, model: LlamaForCausalLM, seed: u64) -> Result<LlamaForCausalLM> {
        self.validate()?;
        let layers = model.model.layers.len();
        let group = ParamGroup::from_paths(self.paths(layers));
        let mut model = model.apply_reparameterization(PeftLora { lora: Lora::new(self.rank, self.alpha).set_param_group(group), options: self, seed });
        for layer in &mut model.model.layers {
            layer.self_attn.adapter_dropout = self.dropout_module();
            layer.mlp.adapter_dropout = self.dropout_module();
        }
        Ok(model)
    }

    /// The adapters' input dropout ([`Self::validate`] checked its probability).
    fn dropout_module(&self) -> Dropout {
        DropoutConfig::new(self.dropout).init()
    }

    /// For a model of config `c`: the adapters' trainable parameters, and the activation elements
    /// they keep per token for the backward pass (`x·A`, `x·A·B`, and the dropped-out input).
    pub fn sizes(&self, c: &LlamaConfig) -> (u64, u64) {
        let (h, i) = (c.hidden_size, c.intermediate_size);
        let (q, kv) = (c.num_attention_heads * c.head_dim(), c.kv_heads() * c.head_dim());
        let (mut adapters, mut per_token) = (0, 0);
        for m in &self.target_modules {
            let (din, dout) = match m.as_str() {
                "q_proj" => (h, q),
                "k_proj" | "v_proj" => (h, kv),
                "o_proj" => (q, h),
                "down_proj" => (i, h),
                _ => (h, i), // gate_proj, up_proj (validate() refused any other name)
            };
            adapters += self.rank * (din + dout);
            per_token += self.rank + dout + if self.dropout > 0.0 { din } else { 0 };
        }
        let layers = c.num_hidden_layers;
        ((layers * adapters) as u64, (layers * per_token) as u64)
    }
}

/// Burn's `Lora` (frozen base, `B` zero) with PEFT's initialisation of `A` — drawn on the host from
/// `seed` (see [`super::fresh`]) so that every device starts from the same adapters — and PEFT's scale.
struct PeftLora<'a> {
    lora: Lora,
    options: &'a LoraOptions,
    seed: u64,
}

impl Reparameterizer for PeftLora<'_> {
    type Reparam = LoraAdapter;

    fn reparameterize<const D: usize>(&mut self, path: &str, param: Param<Tensor<D>>) -> (Param<Tensor<D>>, Option<LoraAdapter>) {
        let (base, adapter) = self.lora.reparameterize(path, param);
        let adapter = adapter.map(|mut adapter| {
            adapter.scale = self.options.scale();
            adapter.a = Param::from_tensor(self.draw_a(&adapter.a.val(), path));
            adapter
        });
        (base, adapter)
    }
}

impl PeftLora<'_> {
    /// A new `A` (`[fan_in, rank]`, same dtype and device) for the weight at `path`: PEFT's
    /// `kaiming_uniform_(lora_A.weight, a=√5)` (gain √(2 / (1 + 5)), bound gain·√(3 / fan_in) =
    /// 1/√fan_in), or its `"gaussian"` (standard deviation 1/rank).
    fn draw_a(&self, a: &Tensor<2>, path: &str) -> Tensor<2> {
        let [fan_in, rank] = a.dims();
        let path = format!("{path}.lora_A");
        let data = match self.options.init {
            LoraInit::Kaiming => fresh::uniform([fan_in, rank], 1.0 / (fan_in as f64).sqrt(), self.seed, &path),
            LoraInit::Gaussian => fresh::normal([fan_in, rank], 1.0 / rank as f64, self.seed, &path),
        };
        let device = a.device();
        // A parameter: allocated where the module's other persistent weights live (as Burn's `Lora`).
        device.memory_persistent_allocations((), |_| Tensor::<2>::from_data(data.clone(), &device).cast(a.dtype()))
    }
}
