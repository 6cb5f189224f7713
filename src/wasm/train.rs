//! `fineTune` for JS: fine-tunes a classifier from a labelled file and returns it as an `Encoder`.

use std::rc::Rc;

use js_sys::{Function, Promise, Uint8Array};
use serde::Deserialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::{JsEncoder, errors::to_js, options::parse_options, to_value};
use crate::{
    data::{Columns, Dataset, parse_named, train_and_validation},
    device,
    infer::{Encoder, ModelFiles},
    train::{TrainOptions, fine_tune},
};

/// Where the data is and what runs it (the training options travel separately).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Setup {
    /// "auto" | "webgpu" | "gpu" | "cpu"; default: the device of the last `init()`.
    device: Option<String>,
    /// Which columns hold text, second text and label (default `text`, `label`).
    #[serde(default)]
    columns: Columns,
    /// File name of the training data (its extension gives the format: .csv, .tsv, .jsonl, .json).
    data_name: String,
    /// File name of the validation data, when there is some.
    validation_name: Option<String>,
    /// Without validation data: the fraction of the training data held out (default 0.1; 0 = none).
    validation_split: Option<f64>,
}

impl Default for Setup {
    fn default() -> Self {
        Setup { device: None, columns: Columns::default(), data_name: "data.csv".into(), validation_name: None, validation_split: None }
    }
}

/// Fine-tunes `config`/`weights`/`tokenizer` on `data` (bytes of a CSV/TSV/JSONL/JSON file);
/// `onEvent(event)` gets every training event, `isCancelled()` is polled between steps. Resolves
/// to an `Encoder` holding the trained model (the best evaluation's, by default).
#[wasm_bindgen(js_name = fineTune)]
#[allow(clippy::too_many_arguments)]
pub fn fine_tune_js(
    config: Uint8Array,
    weights: Uint8Array,
    tokenizer: Uint8Array,
    data: Uint8Array,
    validation: Option<Uint8Array>,
    setup: JsValue,
    options: JsValue,
    on_event: Function,
    is_cancelled: Function,
) -> Promise {
    let files = ModelFiles { config: config.to_vec(), weights: weights.to_vec(), tokenizer: tokenizer.to_vec() };
    let (data, validation) = (data.to_vec(), validation.map(|v| v.to_vec()));
    future_to_promise(async move {
        let setup: Setup = parse_options("fineTune", setup).map_err(to_js)?;
        let options: TrainOptions = parse_options("fineTune options", options).map_err(to_js)?;
        let train = Dataset::from_table(&parse_named(&data, &setup.data_name).map_err(to_js)?, &setup.columns).map_err(to_js)?;
        let validation = match &validation {
            Some(bytes) => Some(parse_named(bytes, setup.validation_name.as_deref().unwrap_or("validation.csv")).map_err(to_js)?),
            None => None,
        };
        let split = setup.validation_split.unwrap_or(0.1);
        let (train, validation) =
            train_and_validation(train, validation.as_ref(), &setup.columns, split, options.seed).map_err(to_js)?;
        let dev = match &setup.device {
            Some(d) => device::select(d.parse().map_err(to_js)?).await.map_err(to_js)?,
            None => super::current_device().await.map_err(to_js)?,
        };
        let mut emit = |event| {
            if let Ok(v) = to_value(&event) {
                let _ = on_event.call1(&JsValue::NULL, &v);
            }
        };
        let cancelled = || is_cancelled.call0(&JsValue::NULL).map(|v| v.is_truthy()).unwrap_or(false);
        let trained = fine_tune(&files, &dev, &train, validation.as_ref(), &options, &mut emit, &cancelled).await.map_err(to_js)?;
        Ok(JsEncoder::from(Rc::new(Encoder::from_trained(trained, &files))).into())
    })
}
