//! A recipe that continues a stored run instead of restarting it: webtune's checkpoint as the
//! files the recipe's `train.py` turns into the Trainer's `checkpoint-N/` folder — the weights,
//! the AdamW moments under the Hugging Face parameter names (PyTorch's `exp_avg`, `exp_avg_sq`; a
//! LoRA run's under PEFT's names of its adapters and head),
//! the position and the best evaluation so far — so that the GPU run takes the next steps the
//! browser's run would have taken (tests/recipe.rs).

use serde_json::{Value, json};

use crate::{
    Error, Result,
    data::Dataset,
    infer::ModelFiles,
    models::{bert::BertConfig, encoder_family::EncoderHead},
    train::{
        Checkpoint, TrainOptions,
        checkpoint::{fingerprint, optimizer_from_bytes},
        encoder_lora::EncoderLora,
        optimizer::Moment,
        trainer::WeightsOrigin,
    },
    weights::bert,
};

/// What continuing a LoRA run needs beyond its checkpoint: the base model (the adapters' frame)
/// and PEFT's `adapter_config.json` for the recipe.
pub struct LoraResume<'a> {
    pub base: &'a ModelFiles,
    pub adapter_config: &'a [u8],
}

/// The `resume` entry of recipe.json and the `resume/` files of continuing checkpoint `c` of a
/// run with `options` on `train` (its rows in the run's label order); a LoRA run's with `lora`.
pub async fn resume_files(c: &Checkpoint, options: &TrainOptions, train: &Dataset, lora: Option<LoraResume<'_>>) -> Result<(Value, Vec<(String, Vec<u8>)>)> {
    c.check_resumable(options, train.len(), &fingerprint(train))?;
    let text = std::str::from_utf8(&c.config).map_err(|_| Error::Weights("the checkpoint's config.json is not UTF-8 text".into()))?;
    let config = BertConfig::from_json(text)?;
    let device = crate::device::cpu();
    let saved = optimizer_from_bytes(&c.optimizer)?;
    let common_time = || {
        if saved.common_time().is_some_and(|t| t != c.state.step) || (c.state.step > 0 && saved.common_time().is_none()) {
            return Err(Error::Weights(
                "optimizer.safetensors: its parameters were updated different numbers of times, which transformers' Trainer cannot continue; resume the run in webtune".into(),
            ));
        }
        Ok(())
    };
    let (weights, first, second) = match (&options.lora, lora) {
        (None, _) => {
            let (model, _) = bert::load_classifier_with(&config, c.weights.clone(), device.device(), false, options.seed)?;
            saved.check(&model, c.state.step)?;
            common_time()?;
            let first = bert::export_classifier(&config, &saved.as_parameters(model.clone(), Moment::First), &device).await?;
            let second = bert::export_classifier(&config, &saved.as_parameters(model, Moment::Second), &device).await?;
            (vec![("config.json", c.config.clone()), ("model.safetensors", c.weights.clone())], first, second)
        }
        // the checkpoint's weights are the adapters and head (PEFT's file); the moments are written
        // under PEFT's names of those
        (Some(_), Some(LoraResume { base, adapter_config })) => {
            let lora = EncoderLora::for_run(options, &config, EncoderHead::SequenceClassification, base, None)?
                .ok_or_else(|| Error::Backend("a LoRA run without lora options".into()))?;
            let load_base = |weights| bert::load_classifier_with(&config, weights, device.device(), false, options.seed);
            let (model, _) = lora.load(load_base, &c.weights, WeightsOrigin::Saved, options.seed)?;
            saved.check(&model, c.state.step)?;
            common_time()?;
            let first = lora.export(&saved.as_parameters(model.clone(), Moment::First), &device).await?;
            let second = lora.export(&saved.as_parameters(model, Moment::Second), &device).await?;
            (vec![("adapter_config.json", adapter_config.to_vec()), ("adapter_model.safetensors", c.weights.clone())], first, second)
        }
        (Some(_), None) => {
            return Err(Error::Options(
                "continuing a LoRA run in a recipe needs the base model's weights (the adapters' frame): give the folder with model.safetensors".into(),
            ));
        }
    };
    let mut files: Vec<(String, Vec<u8>)> = weights.iter().map(|(name, bytes)| (format!("resume/{name}"), bytes.clone())).collect();
    files.push(("resume/exp_avg.safetensors".to_string(), first));
    files.push(("resume/exp_avg_sq.safetensors".to_string(), second));
    if let Some(best) = &c.best_weights {
        // the best weights beside the same second file (config.json, or adapter_config.json)
        files.push((format!("resume/best/{}", weights[1].0), best.clone()));
        files.push((format!("resume/best/{}", weights[0].0), weights[0].1.clone()));
    }
    let s = &c.state;
    let entry = json!({
        "folder": "resume",
        "step": s.step,
        "epoch": s.epoch,
        "window": s.window,
        "best": s.best,
        "bad_evals": s.bad_evals,
    });
    Ok((entry, files))
}
