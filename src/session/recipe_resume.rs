//! A recipe that continues a stored run instead of restarting it: webtune's checkpoint as the
//! files the recipe's `train.py` turns into the Trainer's `checkpoint-N/` folder — the weights,
//! the AdamW moments under the Hugging Face parameter names (PyTorch's `exp_avg`, `exp_avg_sq`),
//! the position and the best evaluation so far — so that the GPU run takes the next steps the
//! browser's run would have taken (tests/recipe.rs).

use serde_json::{Value, json};

use crate::{
    Error, Result,
    data::Dataset,
    models::bert::BertConfig,
    train::{
        Checkpoint, TrainOptions,
        checkpoint::{fingerprint, optimizer_from_bytes},
        optimizer::Moment,
    },
    weights::bert,
};

/// The `resume` entry of recipe.json and the `resume/` files of continuing checkpoint `c` of a
/// run with `options` on `train` (its rows in the run's label order).
pub async fn resume_files(c: &Checkpoint, options: &TrainOptions, train: &Dataset) -> Result<(Value, Vec<(String, Vec<u8>)>)> {
    if options.lora.is_some() {
        return Err(Error::Options(
            "a recipe continues full fine-tuning runs so far, not LoRA runs; write the recipe without the checkpoint (it trains from the start)".into(),
        ));
    }
    c.check_resumable(options, train.len(), &fingerprint(train))?;
    let text = std::str::from_utf8(&c.config).map_err(|_| Error::Weights("the checkpoint's config.json is not UTF-8 text".into()))?;
    let config = BertConfig::from_json(text)?;
    let device = crate::device::cpu();
    let (model, _) = bert::load_classifier_with(&config, c.weights.clone(), device.device(), false, options.seed)?;
    let saved = optimizer_from_bytes(&c.optimizer)?;
    saved.check(&model, c.state.step)?;
    if saved.common_time().is_some_and(|t| t != c.state.step) || (c.state.step > 0 && saved.common_time().is_none()) {
        return Err(Error::Weights(
            "optimizer.safetensors: its parameters were updated different numbers of times, which transformers' Trainer cannot continue; resume the run in webtune".into(),
        ));
    }
    let first = bert::export_classifier(&config, &saved.as_parameters(model.clone(), Moment::First), &device).await?;
    let second = bert::export_classifier(&config, &saved.as_parameters(model, Moment::Second), &device).await?;
    let mut files = vec![
        ("resume/config.json".to_string(), c.config.clone()),
        ("resume/model.safetensors".to_string(), c.weights.clone()),
        ("resume/exp_avg.safetensors".to_string(), first),
        ("resume/exp_avg_sq.safetensors".to_string(), second),
    ];
    if let Some(best) = &c.best_weights {
        files.push(("resume/best/model.safetensors".to_string(), best.clone()));
        files.push(("resume/best/config.json".to_string(), c.config.clone()));
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
