//! Checkpoints: everything a run needs to continue exactly where it stopped — the weights, the
//! AdamW moments, the step (which fixes the learning rate, the data position and the dropout
//! stream), the early-stopping state and the keep-best weights. Laid out like Hugging Face
//! Trainer's `checkpoint-N/` folder: `config.json`, `model.safetensors` (loadable by
//! transformers), `optimizer.safetensors`, `trainer_state.json`, and `best.safetensors` when
//! keep-best holds weights from an earlier evaluation.

use std::collections::BTreeMap;

use ::safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

use super::{Best, TrainOptions, optimizer::SavedState};
use crate::{Error, Result, data::Dataset, weights::export::f32_safetensors};

/// Version of the checkpoint layout, checked on resume.
pub const FORMAT: u32 = 1;

/// Where a run stands; `trainer_state.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrainerState {
    pub format: u32,
    /// Optimizer steps done.
    pub step: usize,
    /// The next batch: epoch and optimizer-step index within it.
    pub epoch: usize,
    pub window: usize,
    pub options: TrainOptions,
    /// Size and fingerprint of the training data, so that a resume on other data is refused.
    pub train_examples: usize,
    pub data_fingerprint: String,
    pub best: Option<Best>,
    pub bad_evals: usize,
}

/// A checkpoint in memory. [`Checkpoint::files`] / [`Checkpoint::from_files`] convert it to and
/// from named files (a folder natively, OPFS or a download in the browser).
#[derive(Clone)]
pub struct Checkpoint {
    pub state: TrainerState,
    pub config: Vec<u8>,
    pub weights: Vec<u8>,
    pub optimizer: Vec<u8>,
    pub best_weights: Option<Vec<u8>>,
}

pub const STATE_FILE: &str = "trainer_state.json";

impl Checkpoint {
    /// The files of the checkpoint folder, by name.
    pub fn files(&self) -> Result<Vec<(&'static str, Vec<u8>)>> {
        let state = serde_json::to_vec_pretty(&self.state).map_err(|e| Error::Backend(format!("{STATE_FILE}: {e}")))?;
        let mut files = vec![
            ("config.json", self.config.clone()),
            ("model.safetensors", self.weights.clone()),
            ("optimizer.safetensors", self.optimizer.clone()),
            (STATE_FILE, state),
        ];
        if let Some(b) = &self.best_weights {
            files.push(("best.safetensors", b.clone()));
        }
        Ok(files)
    }

    /// Reads a checkpoint folder; `get(name)` returns a file's bytes, `None` when it is absent.
    pub fn from_files(get: impl Fn(&str) -> Option<Vec<u8>>) -> Result<Self> {
        let need = |name: &str| {
            get(name).ok_or_else(|| Error::Weights(format!("the checkpoint has no {name}; pass the folder a run wrote")))
        };
        let state: TrainerState = serde_json::from_slice(&need(STATE_FILE)?)
            .map_err(|e| Error::Weights(format!("{STATE_FILE} is not a webtune trainer state: {e}")))?;
        if state.format != FORMAT {
            return Err(Error::Weights(format!(
                "{STATE_FILE} has format {} but this webtune reads format {FORMAT}",
                state.format
            )));
        }
        Ok(Checkpoint {
            state,
            config: need("config.json")?,
            weights: need("model.safetensors")?,
            optimizer: need("optimizer.safetensors")?,
            best_weights: get("best.safetensors"),
        })
    }

    /// Refuses to resume with other options or other data than the run that wrote it
    /// (`logEvery`, `checkpointEvery`, `gradientCheckpointing` and `dequantizeBase` may change;
    /// they do not change the result).
    pub fn check_resumable(&self, options: &TrainOptions, examples: usize, data_fingerprint: &str) -> Result<()> {
        let s = &self.state;
        // Reporting and checkpointing do not change the run; neither do how clipping is turned off,
        // recomputing activations and where the frozen base is held.
        let comparable = |o: &TrainOptions| TrainOptions {
            log_every: 1,
            checkpoint_every: None,
            max_grad_norm: o.clip_norm(),
            gradient_checkpointing: false,
            dequantize_base: false,
            ..o.clone()
        };
        let (was, now) = (to_map(&comparable(&s.options)), to_map(&comparable(options)));
        for (key, value) in &was {
            if now.get(key) != Some(value) {
                let now = now.get(key).map_or("nothing".to_string(), |v| v.to_string());
                return Err(Error::Options(format!(
                    "cannot resume: option {key} was {value} in the checkpointed run but is {now} now; use the same options"
                )));
            }
        }
        if s.train_examples != examples || s.data_fingerprint != data_fingerprint {
            return Err(Error::Data(format!(
                "cannot resume: the training data differs from the checkpointed run's ({} rows then, {examples} now); use the same file",
                s.train_examples,
            )));
        }
        Ok(())
    }
}

fn to_map(o: &TrainOptions) -> BTreeMap<String, serde_json::Value> {
    match serde_json::to_value(o) {
        Ok(serde_json::Value::Object(m)) => m.into_iter().collect(),
        _ => BTreeMap::new(),
    }
}

/// FNV-1a over the texts and label ids: the same data gives the same string.
pub fn fingerprint(data: &Dataset) -> String {
    fnv(data.examples.iter().flat_map(|e| {
        [e.text.as_bytes().to_vec(), vec![0], e.pair.as_deref().unwrap_or("").as_bytes().to_vec(), (e.label as u64).to_le_bytes().to_vec()]
    }))
}

/// FNV-1a over byte strings, as 16 hex digits.
pub fn fnv(parts: impl IntoIterator<Item = Vec<u8>>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part {
            h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// The optimizer state as safetensors: `{path}.exp_avg`, `{path}.exp_avg_sq` (PyTorch's names)
/// and the step count of each parameter in the metadata.
pub fn optimizer_to_bytes(saved: SavedState) -> Result<Vec<u8>> {
    let steps = saved.0.iter().map(|(p, (t, _, _))| (format!("{p}.step"), t.to_string())).collect();
    let tensors = saved
        .0
        .into_iter()
        .flat_map(|(path, (_, m, v))| [(format!("{path}.exp_avg"), vec![m.len()], m), (format!("{path}.exp_avg_sq"), vec![v.len()], v)])
        .collect();
    f32_safetensors(tensors, steps)
}

/// Reads [`optimizer_to_bytes`]' output back.
pub fn optimizer_from_bytes(bytes: &[u8]) -> Result<SavedState> {
    let bad = |m: String| Error::Weights(format!("optimizer.safetensors: {m}; the checkpoint is damaged, resume from another"));
    let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| bad(e.to_string()))?;
    let st = SafeTensors::deserialize(bytes).map_err(|e| bad(e.to_string()))?;
    let steps = meta.metadata().clone().unwrap_or_default();
    let mut out = BTreeMap::new();
    for (key, time) in steps {
        let Some(path) = key.strip_suffix(".step") else { continue };
        let time: usize = time.parse().map_err(|_| bad(format!("step of {path} is not a number")))?;
        let read = |suffix: &str| -> Result<Vec<f32>> {
            let t = st.tensor(&format!("{path}.{suffix}")).map_err(|e| bad(e.to_string()))?;
            if t.dtype() != Dtype::F32 {
                return Err(bad(format!("{path}.{suffix} is not f32")));
            }
            Ok(t.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
        };
        out.insert(path.to_string(), (time, read("exp_avg")?, read("exp_avg_sq")?));
    }
    Ok(SavedState(out))
}
