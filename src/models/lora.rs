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
        bert::BertConfig,
        encoder_family::{EncoderFamily, EncoderHead},
        fresh,
        gpt2::Gpt2LMHeadModel,
        llama::LlamaForCausalLM,
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
    /// Which projections get adapters, by PEFT's module names (default as PEFT: `q_proj`, `v_proj`
    /// for Llama; `c_attn` for GPT-2 (`c_proj` names both its attention output and its MLP's);
    /// `query`, `value` for BERT and RoBERTa; `q_lin`, `v_lin` for DistilBERT).
    #[ts(optional, type = "Array<\"q_proj\" | \"k_proj\" | \"v_proj\" | \"o_proj\" | \"gate_proj\" | \"up_proj\" | \"down_proj\" | \"c_attn\" | \"c_proj\" | \"c_fc\" | \"query\" | \"key\" | \"value\" | \"q_lin\" | \"k_lin\" | \"v_lin\" | \"out_lin\" | \"lin1\" | \"lin2\">")]
    pub target_modules: Option<Vec<String>>,
    /// Dropout on the adapters' input while training, in [0, 1) (default 0, as PEFT; decoders only).
    pub dropout: f64,
    /// Rank-stabilised scale `alpha / √rank` instead of `alpha / rank` (default false).
    pub rslora: bool,
    /// How `A` starts (default `"kaiming"`, PEFT's default).
    pub init: LoraInit,
}

impl Default for LoraOptions {
    fn default() -> Self {
        LoraOptions { rank: 8, alpha: 16.0, target_modules: None, dropout: 0.0, rslora: false, init: LoraInit::Kaiming }
    }
}

/// What the adapters go on: a decoder (Llama, GPT-2), or an encoder of a family with a task head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoraBase {
    Llama,
    Gpt2,
    Encoder(EncoderFamily, EncoderHead),
}

impl std::fmt::Display for LoraBase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoraBase::Llama => f.write_str("Llama"),
            LoraBase::Gpt2 => f.write_str("GPT-2"),
            LoraBase::Encoder(EncoderFamily::Bert | EncoderFamily::Roberta | EncoderFamily::XlmRoberta, _) => f.write_str("BERT, RoBERTa"),
            LoraBase::Encoder(family, _) => f.write_str(family.title()),
        }
    }
}

impl LoraBase {
    /// A causal language model (PEFT's `CAUSAL_LM` task), rather than an encoder with a head.
    pub fn is_decoder(self) -> bool {
        matches!(self, LoraBase::Llama | LoraBase::Gpt2)
    }

    /// PEFT's `task_type`: which `PeftModelFor…` class loads the adapters (and its head).
    pub fn peft_task_type(self) -> Result<&'static str> {
        match self {
            LoraBase::Llama | LoraBase::Gpt2 => Ok("CAUSAL_LM"),
            LoraBase::Encoder(_, EncoderHead::SequenceClassification) => Ok("SEQ_CLS"),
            LoraBase::Encoder(_, EncoderHead::TokenClassification) => Ok("TOKEN_CLS"),
            LoraBase::Encoder(_, EncoderHead::QuestionAnswering) => Ok("QUESTION_ANS"),
            LoraBase::Encoder(_, EncoderHead::MaskedLm) => {
                Err(Error::Options("LoRA is not available for masked-LM training (PEFT has no task type for it): leave lora out to train every weight".into()))
            }
        }
    }

    /// PEFT's names of the projections that can take adapters, and their paths in one of our layers.
    fn modules(self) -> &'static [(&'static str, &'static str)] {
        match self {
            LoraBase::Llama => &[
                ("q_proj", "self_attn.q_proj"),
                ("k_proj", "self_attn.k_proj"),
                ("v_proj", "self_attn.v_proj"),
                ("o_proj", "self_attn.o_proj"),
                ("gate_proj", "mlp.gate_proj"),
                ("up_proj", "mlp.up_proj"),
                ("down_proj", "mlp.down_proj"),
            ],
            // HF `Conv1D` layers (weights `[in, out]`: PEFT's `fan_in_fan_out`); PEFT matches
            // `c_proj` by suffix, so it names both projections back to the residual stream.
            LoraBase::Gpt2 => &[("c_attn", "attn.c_attn"), ("c_proj", "attn.c_proj"), ("c_fc", "mlp.c_fc"), ("c_proj", "mlp.c_proj")],
            LoraBase::Encoder(EncoderFamily::DistilBert, _) => &[
                ("q_lin", "attention.self_attn.query"),
                ("k_lin", "attention.self_attn.key"),
                ("v_lin", "attention.self_attn.value"),
                ("out_lin", "attention.output.dense"),
                ("lin1", "intermediate.dense"),
                ("lin2", "output.dense"),
            ],
            LoraBase::Encoder(..) => &[("query", "attention.self_attn.query"), ("key", "attention.self_attn.key"), ("value", "attention.self_attn.value")],
        }
    }

    /// PEFT's names of the projections that can take adapters, each once.
    fn module_names(self) -> Vec<&'static str> {
        let mut names: Vec<&str> = Vec::new();
        for (name, _) in self.modules() {
            if !names.contains(name) {
                names.push(name);
            }
        }
        names
    }

    /// Where our layers are (`{prefix}.{i}.…`).
    fn layers(self) -> &'static str {
        match self {
            LoraBase::Llama => "model.layers",
            LoraBase::Gpt2 => "transformer.h",
            LoraBase::Encoder(..) => "bert.encoder.layer",
        }
    }

    /// PEFT's default targets for the architecture.
    fn default_targets(self) -> &'static [&'static str] {
        match self {
            LoraBase::Llama => &["q_proj", "v_proj"],
            LoraBase::Gpt2 => &["c_attn"],
            LoraBase::Encoder(EncoderFamily::DistilBert, _) => &["q_lin", "v_lin"],
            LoraBase::Encoder(..) => &["query", "value"],
        }
    }

    /// The head, trained in full beside the adapters (PEFT's `modules_to_save`): PEFT's module
    /// names, and our path prefixes. A sequence classifier's includes its first layer (BERT's
    /// pooler, RoBERTa's `classifier.dense`, DistilBERT's `pre_classifier`): base checkpoints often
    /// lack it, and a frozen fresh layer would not be in the adapter file. Token classifiers and
    /// question answering have one layer on every token (`classifier`, `qa_outputs`); a masked
    /// LM's head is tied to the embeddings and takes no LoRA ([`Self::peft_task_type`]).
    pub fn modules_to_save(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            LoraBase::Llama | LoraBase::Gpt2 | LoraBase::Encoder(_, EncoderHead::MaskedLm) => (&[], &[]),
            LoraBase::Encoder(EncoderFamily::Bert, EncoderHead::SequenceClassification) => (&["pooler", "classifier"], &["bert.pooler.", "classifier."]),
            LoraBase::Encoder(EncoderFamily::DistilBert, EncoderHead::SequenceClassification) => {
                (&["pre_classifier", "classifier"], &["bert.pooler.", "classifier."])
            }
            LoraBase::Encoder(_, EncoderHead::SequenceClassification) => (&["classifier"], &["bert.pooler.", "classifier."]),
            LoraBase::Encoder(_, EncoderHead::TokenClassification) => (&["classifier"], &["classifier."]),
            LoraBase::Encoder(_, EncoderHead::QuestionAnswering) => (&["qa_outputs"], &["qa_outputs."]),
        }
    }

    /// The trainable parameters of the head ([`Self::modules_to_save`]) of an encoder of config
    /// `c` with `outputs` scores per position (labels, tags, or 2 for an answer's start and end).
    fn head_parameters(self, c: &BertConfig, outputs: usize) -> usize {
        let h = c.hidden_size;
        match self {
            LoraBase::Encoder(_, EncoderHead::SequenceClassification) => h * h + h + (h + 1) * outputs,
            LoraBase::Encoder(_, EncoderHead::TokenClassification | EncoderHead::QuestionAnswering) => (h + 1) * outputs,
            _ => 0,
        }
    }
}

impl LoraOptions {
    /// Checks the settings that do not depend on the model, naming the option and what is valid.
    pub fn check(&self) -> Result<()> {
        if self.rank == 0 {
            return Err(Error::Options("lora.rank must be at least 1 (8 or 16 are common)".into()));
        }
        if !(self.alpha > 0.0 && self.alpha.is_finite()) {
            return Err(Error::Options(format!("lora.alpha must be a positive number, got {}", self.alpha)));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::Options(format!("lora.dropout must be in [0, 1) (0 = off, 0.05 or 0.1 are common), got {}", self.dropout)));
        }
        let head = EncoderHead::SequenceClassification; // the targets do not depend on the head
        let bases = [LoraBase::Llama, LoraBase::Gpt2, LoraBase::Encoder(EncoderFamily::Bert, head), LoraBase::Encoder(EncoderFamily::DistilBert, head)];
        for m in self.target_modules.iter().flatten() {
            if !bases.iter().any(|b| b.modules().iter().any(|(name, _)| name == m)) {
                let valid: Vec<String> = bases
                    .iter()
                    .map(|b| format!("{} ({b})", b.module_names().join(", ")))
                    .collect();
                return Err(Error::Options(format!("lora.targetModules: unknown module {m:?}; valid modules are {}", valid.join("; "))));
            }
        }
        Ok(())
    }

    /// [`LoraOptions::check`], and that the targets exist in `base` (PEFT's names).
    pub fn validate(&self, base: LoraBase) -> Result<()> {
        self.check()?;
        base.peft_task_type()?;
        if self.dropout > 0.0 && !base.is_decoder() {
            return Err(Error::Options("lora.dropout is only supported for decoders so far; leave it out (0) for an encoder".into()));
        }
        let targets = self.targets(base);
        if targets.is_empty() {
            let example = base.default_targets().iter().map(|t| format!("{t:?}")).collect::<Vec<_>>().join(", ");
            return Err(Error::Options(format!("lora.targetModules is empty; name at least one projection, e.g. [{example}]")));
        }
        for (i, m) in targets.iter().enumerate() {
            if targets[..i].contains(m) {
                return Err(Error::Options(format!("lora.targetModules names {m:?} twice; name each projection once")));
            }
            if !base.modules().iter().any(|(name, _)| name == m) {
                return Err(Error::Options(format!("lora.targetModules: unknown module {m:?}; valid modules are {}", base.module_names().join(", "))));
            }
        }
        Ok(())
    }

    /// The target modules: as given, else PEFT's default for `base`.
    pub fn targets(&self, base: LoraBase) -> Vec<String> {
        self.target_modules.clone().unwrap_or_else(|| base.default_targets().iter().map(|t| t.to_string()).collect())
    }

    /// What the adapters' product is multiplied by: `alpha / rank`, or `alpha / √rank` with `rslora`.
    pub fn scale(&self) -> f64 {
        if self.rslora { self.alpha / (self.rank as f64).sqrt() } else { self.alpha / self.rank as f64 }
    }

    /// Our paths of the adapted weights (`model.layers.0.self_attn.q_proj.weight`, …).
    fn paths(&self, base: LoraBase, layers: usize) -> Vec<String> {
        let targets = self.targets(base);
        let adapted: Vec<&str> = base.modules().iter().filter(|(m, _)| targets.iter().any(|t| t == m)).map(|(_, p)| *p).collect();
        (0..layers).flat_map(|i| adapted.iter().map(move |p| format!("{}.{i}.{p}.weight", base.layers()))).collect()
    }

    /// `model` (of `layers` layers) with adapters on the target weights and every other parameter
    /// frozen but the head's (`B` is zero: the model computes what it did before); `A` is drawn
    /// from `seed`.
    pub fn apply<M: Module>(&self, model: M, base: LoraBase, layers: usize, seed: u64) -> Result<M> {
        self.validate(base)?;
        let group = ParamGroup::from_paths(self.paths(base, layers));
        let model = model.apply_reparameterization(PeftLora { lora: Lora::new(self.rank, self.alpha).set_param_group(group), options: self, seed });
        let (_, head) = base.modules_to_save();
        if head.is_empty() {
            return Ok(model);
        }
        let pattern = format!("^({})", head.iter().map(|p| regex::escape(p)).collect::<Vec<_>>().join("|"));
        let head = ParamGroup::from_regex(&pattern).map_err(|e| Error::Backend(format!("LoRA head pattern: {e:?}")))?;
        Ok(model.set_require_grad_group(head, true))
    }

    /// [`LoraOptions::apply`] on a Llama decoder, with the adapters' input dropout set.
    pub fn apply_llama(&self, model: LlamaForCausalLM, seed: u64) -> Result<LlamaForCausalLM> {
        let layers = model.model.layers.len();
        let mut model = self.apply(model, LoraBase::Llama, layers, seed)?;
        for layer in &mut model.model.layers {
            layer.self_attn.adapter_dropout = self.dropout_module();
            layer.mlp.adapter_dropout = self.dropout_module();
        }
        Ok(model)
    }

    /// [`LoraOptions::apply`] on a GPT-2, with the adapters' input dropout set.
    pub fn apply_gpt2(&self, model: Gpt2LMHeadModel, seed: u64) -> Result<Gpt2LMHeadModel> {
        let layers = model.transformer.h.len();
        let mut model = self.apply(model, LoraBase::Gpt2, layers, seed)?;
        for block in &mut model.transformer.h {
            block.attn.adapter_dropout = self.dropout_module();
            block.mlp.adapter_dropout = self.dropout_module();
        }
        Ok(model)
    }

    /// The adapters' input dropout ([`Self::validate`] checked its probability).
    fn dropout_module(&self) -> Dropout {
        DropoutConfig::new(self.dropout).init()
    }

    /// For a decoder of `layers` layers on `base`: the adapters' trainable parameters, and the
    /// activation elements they keep per token for the backward pass (`x·A`, `x·A·B`, and the
    /// dropped-out input); `projections` gives the `(in, out)` shapes a target module names in one
    /// layer (the family config's `lora_projections`).
    pub fn decoder_sizes(&self, base: LoraBase, layers: usize, projections: impl Fn(&str) -> Vec<(usize, usize)>) -> (u64, u64) {
        let (mut adapters, mut per_token) = (0, 0);
        for (din, dout) in self.targets(base).iter().flat_map(|m| projections(m)) {
            adapters += self.rank * (din + dout);
            per_token += self.rank + dout + if self.dropout > 0.0 { din } else { 0 };
        }
        ((layers * adapters) as u64, (layers * per_token) as u64)
    }

    /// For an encoder of config `c` with `head` (`outputs` scores per position): the trainable
    /// parameters (adapters and the head), and the activation elements the adapters keep per
    /// token (`x·A`, `x·A·B`).
    pub fn encoder_sizes(&self, c: &BertConfig, head: EncoderHead, outputs: usize) -> (u64, u64) {
        let (h, i) = (c.hidden_size, c.intermediate_size);
        let base = LoraBase::Encoder(c.family, head);
        let (mut adapters, mut per_token) = (0, 0);
        for m in &self.targets(base) {
            let (din, dout) = match m.as_str() {
                "lin1" => (h, i),
                "lin2" => (i, h),
                _ => (h, h), // the attention projections
            };
            adapters += self.rank * (din + dout);
            per_token += self.rank + dout;
        }
        let layers = c.num_hidden_layers;
        ((layers * adapters + base.head_parameters(c, outputs)) as u64, (layers * per_token) as u64)
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
