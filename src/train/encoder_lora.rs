//! LoRA on an encoder task (classification, token classification, question answering): the
//! adapters' settings, the frozen base weights they go on, and PEFT's adapter to start from — one
//! place for what every encoder [`super::trainer::Task`] does with them.

use burn::module::Module;

use super::{TrainOptions, trainer::WeightsOrigin};
use crate::{
    ComputeDevice, Error, Result,
    infer::ModelFiles,
    models::{
        bert::BertConfig,
        encoder_family::{EncoderFamily, EncoderHead},
        lora::{LoraBase, LoraOptions},
    },
    weights::{
        LoadReport, bert,
        peft::{AdapterLayout, export_adapter, load_adapter},
    },
};

/// A run's LoRA on an encoder with `head`.
pub struct EncoderLora {
    pub options: LoraOptions,
    family: EncoderFamily,
    head: EncoderHead,
    layers: usize,
    /// The checkpoint's weights: every load starts from them (the adapters and head change).
    base_weights: Vec<u8>,
    /// PEFT's `adapter_model.safetensors` made with the same options, to start from.
    start: Option<Vec<u8>>,
}

impl EncoderLora {
    /// The run's LoRA, when `options.lora` asks for it (checked against the family's projections);
    /// `adapter` (a PEFT file to start from) needs it.
    pub fn for_run(
        options: &TrainOptions,
        config: &BertConfig,
        head: EncoderHead,
        files: &ModelFiles,
        adapter: Option<&[u8]>,
    ) -> Result<Option<Self>> {
        let Some(lora) = &options.lora else {
            if adapter.is_some() {
                return Err(Error::Options("an adapter to start from needs lora options (its rank, alpha and target modules)".into()));
            }
            return Ok(None);
        };
        lora.validate(LoraBase::Encoder(config.family, head))?;
        Ok(Some(EncoderLora {
            options: lora.clone(),
            family: config.family,
            head,
            layers: config.num_hidden_layers,
            base_weights: files.weights.clone(),
            start: adapter.map(<[u8]>::to_vec),
        }))
    }

    fn layout(&self) -> AdapterLayout {
        bert::adapter_layout(self.family, self.head)
    }

    /// The model to train: `load_base` reads the checkpoint's weights (drawing a new head where
    /// it needs one), adapters go on it drawn from `seed`, then — for saved `weights` (a
    /// checkpoint's adapters and head) or PEFT's adapter to start from — their values are set.
    pub fn load<M: Module>(
        &self,
        load_base: impl FnOnce(Vec<u8>) -> Result<(M, LoadReport)>,
        weights: &[u8],
        origin: WeightsOrigin,
        seed: u64,
    ) -> Result<(M, LoadReport)> {
        let (model, report) = load_base(self.base_weights.clone())?;
        let model = self.options.apply(model, LoraBase::Encoder(self.family, self.head), self.layers, seed)?;
        let model = match (origin, &self.start) {
            (WeightsOrigin::Saved, _) => load_adapter(model, &self.layout(), weights)?,
            (WeightsOrigin::Start, Some(start)) => load_adapter(model, &self.layout(), start)?,
            (WeightsOrigin::Start, None) => model,
        };
        Ok((model, report))
    }

    /// The adapters and head as PEFT's `adapter_model.safetensors` (a checkpoint's weights).
    pub async fn export<M: Module>(&self, model: &M, device: &ComputeDevice) -> Result<Vec<u8>> {
        export_adapter(model, &self.layout(), device).await
    }
}

/// Where a fine-tuning run starts its weights: the checkpoint's own (all weights trained), or
/// none (LoRA reads them itself through [`EncoderLora::load`], and a resumed run from its checkpoint).
pub fn start_weights(files: &ModelFiles, lora: Option<&EncoderLora>, resuming: bool) -> Vec<u8> {
    if resuming || lora.is_some() {
        Vec::new()
    } else {
        files.weights.clone()
    }
}
