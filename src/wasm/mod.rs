//! The JS bindings: the only code that imports wasm-bindgen / js-sys / web-sys.
//!
//! These are the low-level exports of `webtune_core.js`; the public, documented API is the JS shim
//! in `www/lib/` that wraps them. Errors become JS `Error`s whose `name` is stable
//! (see [`crate::Error::js_name`]).

mod callbacks;
mod decoder;
mod encoder;
mod errors;
mod finetune;
mod masked_lm;
mod options;
mod question_answering;
mod runs;
mod setfit;
mod tagger;
mod train;
mod trained;

use std::cell::RefCell;

use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::{ComputeDevice, Result, device};
use errors::to_js;
use options::{InitOptions, parse_optional, parse_options};

pub use decoder::JsDecoder;
pub use encoder::JsEncoder;
pub use masked_lm::JsMaskedLm;
pub use question_answering::JsQuestionAnswerer;
pub use tagger::JsTokenClassifier;

thread_local! {
    /// The device chosen by the last `init()`; later calls run on it.
    static DEVICE: RefCell<Option<ComputeDevice>> = const { RefCell::new(None) };
}

/// Runs once when the module is instantiated: readable panics and Burn/CubeCL logs in the console
/// (shader validation errors on wasm are only logged, never raised — BURN-NOTES §2.3).
#[wasm_bindgen(start)]
pub fn start() {
    crate::device::run_static_constructors();
    console_error_panic_hook::set_once();
    let _ = console_log::init_with_level(log::Level::Warn);
}

/// The crate version.
#[wasm_bindgen]
pub fn version() -> String {
    crate::VERSION.to_string()
}

/// Chooses the device (`{ device: "auto" | "webgpu" | "cpu" }`, default `"auto"`) and returns its
/// `DeviceInfo` as a plain object.
#[wasm_bindgen]
pub async fn init(options: JsValue) -> Result<JsValue, JsValue> {
    let opts: InitOptions = parse_options("init", options).map_err(to_js)?;
    let dev = device::select(opts.device().map_err(to_js)?).await.map_err(to_js)?;
    let info = to_value(dev.info())?;
    DEVICE.with(|d| *d.borrow_mut() = Some(dev));
    Ok(info)
}

/// The device of the last `init()`, or the default choice (stored for later calls).
async fn current_device() -> Result<ComputeDevice> {
    if let Some(d) = DEVICE.with(|d| d.borrow().clone()) {
        return Ok(d);
    }
    let dev = device::select(Default::default()).await?;
    DEVICE.with(|d| *d.borrow_mut() = Some(dev.clone()));
    Ok(dev)
}

/// The device named in `{ device }` options, or the current one when there are none.
async fn named_or_current_device(call: &str, options: JsValue) -> Result<ComputeDevice> {
    match parse_optional::<InitOptions>(call, options)? {
        Some(o) => device::select(o.device()?).await,
        None => current_device().await,
    }
}

/// One forward/backward/AdamW step on the device chosen by `init()` (or a device named in the
/// options); returns `{ device, lossBefore, lossAfter, updateSize, millis }`.
#[wasm_bindgen(js_name = selfTest)]
pub async fn self_test(options: JsValue) -> Result<JsValue, JsValue> {
    let dev = named_or_current_device("selfTest", options).await.map_err(to_js)?;
    let report = crate::train::self_test(&dev).await.map_err(to_js)?;
    to_value(&report)
}

/// A first look at a data file (`name`'s extension gives the format): columns, first rows, the
/// guessed text and label columns, label counts and warnings (see `data::inspect`).
#[wasm_bindgen(js_name = inspectData)]
pub fn inspect_data(bytes: &[u8], name: &str, options: JsValue) -> Result<JsValue, JsValue> {
    let options: crate::data::InspectOptions = parse_options("inspectData", options).map_err(to_js)?;
    let table = crate::data::parse_named(bytes, name).map_err(to_js)?;
    to_value(&crate::data::inspect(&table, &options))
}

/// A first look at a data file for `task` (token-classification, question-answering, fill-mask):
/// what its reader makes of it — sentences and entities, questions and answers in context, texts —
/// with counts and warnings (see `session::inspect`).
#[wasm_bindgen(js_name = inspectTaskData)]
pub fn inspect_task_data(bytes: &[u8], name: &str, task: &str, options: JsValue) -> Result<JsValue, JsValue> {
    let options: crate::session::TaskInspectOptions = parse_options("inspectData", options).map_err(to_js)?;
    let task = crate::session::Task::parse(task).map_err(to_js)?;
    let file = crate::session::DataFile { bytes: bytes.to_vec(), name: name.to_string() };
    to_value(&crate::session::inspect_task_data(&file, task, &options).map_err(to_js)?)
}

/// What the memory pools of a device (`{ device }`, default the current one) hold:
/// `{ allocations, bytesInUse, bytesReserved }`, or null where the backend does not report it (the
/// CPU path). For tests and benchmarks (tests/bench/soak.mjs).
#[wasm_bindgen(js_name = memoryPoolUsage)]
pub async fn memory_pool_usage(options: JsValue) -> Result<JsValue, JsValue> {
    let dev = named_or_current_device("memoryPoolUsage", options).await.map_err(to_js)?;
    match dev.device().memory_pool_usage() {
        Some(u) => to_value(&serde_json::json!({ "allocations": u.number_allocs, "bytesInUse": u.bytes_in_use, "bytesReserved": u.bytes_reserved })),
        None => Ok(JsValue::NULL),
    }
}

/// Panics on purpose (test builds only, feature `test-hooks`): the package tests use it to check
/// that a trapped instance is replaced and reported as `InternalError`.
#[cfg(feature = "test-hooks")]
#[wasm_bindgen(js_name = panicForTest)]
pub fn panic_for_test(what: &str) {
    panic!("panicForTest: {what}");
}

/// Rust value → plain JS object (maps as objects, not `Map`s).
fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, JsValue> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsValue::from_str(&format!("internal error: cannot convert the result to JS: {e}")))
}

/// Files by name as a JS object of Uint8Arrays.
/// A JS object of files by name (`{ name: Uint8Array }`) as name, bytes pairs; entries that
/// are not Uint8Arrays are left out (the core names whatever file it then misses).
fn named_bytes(value: &JsValue) -> Vec<(String, Vec<u8>)> {
    use wasm_bindgen::JsCast;
    if !value.is_object() {
        return Vec::new();
    }
    js_sys::Object::keys(value.unchecked_ref::<js_sys::Object>())
        .iter()
        .filter_map(|k| {
            let name = k.as_string()?;
            let bytes = js_sys::Reflect::get(value, &k).ok()?.dyn_into::<js_sys::Uint8Array>().ok()?;
            Some((name, bytes.to_vec()))
        })
        .collect()
}

fn files_object(files: impl IntoIterator<Item = (impl AsRef<str>, impl AsRef<[u8]>)>) -> Result<JsValue, JsValue> {
    let out = js_sys::Object::new();
    for (name, bytes) in files {
        let _ = js_sys::Reflect::set(&out, &name.as_ref().into(), &js_sys::Uint8Array::from(bytes.as_ref()));
    }
    Ok(out.into())
}
