//! The JS bindings: the only code that imports wasm-bindgen / js-sys / web-sys.
//!
//! These are the low-level exports of `webtune_core.js`; the public, documented API is the JS shim
//! in `www/lib/` that wraps them. Errors become JS `Error`s whose `name` is stable
//! (see [`crate::Error::js_name`]).

mod errors;
mod options;

use std::cell::RefCell;

use wasm_bindgen::prelude::*;

use crate::{ComputeDevice, device};
use errors::to_js;
use options::InitOptions;

thread_local! {
    /// The device chosen by the last `init()`; later calls run on it.
    static DEVICE: RefCell<Option<ComputeDevice>> = const { RefCell::new(None) };
}

/// Runs once when the module is instantiated: readable panics and Burn/CubeCL logs in the console
/// (shader validation errors on wasm are only logged, never raised — BURN-NOTES §2.3).
#[wasm_bindgen(start)]
pub fn start() {
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
    let opts = InitOptions::parse(options).map_err(to_js)?;
    let dev = device::select(opts.device).await.map_err(to_js)?;
    let info = serde_wasm_bindgen::to_value(dev.info()).map_err(|e| JsValue::from_str(&e.to_string()))?;
    DEVICE.with(|d| *d.borrow_mut() = Some(dev));
    Ok(info)
}

/// One forward/backward/AdamW step on the device chosen by `init()` (or a device named in the
/// options); returns `{ device, lossBefore, lossAfter, millis }`.
#[wasm_bindgen(js_name = selfTest)]
pub async fn self_test(options: JsValue) -> Result<JsValue, JsValue> {
    let opts = InitOptions::parse_optional(options).map_err(to_js)?;
    let dev = match (opts, DEVICE.with(|d| d.borrow().clone())) {
        (Some(o), _) => device::select(o.device).await.map_err(to_js)?,
        (None, Some(d)) => d,
        (None, None) => device::select(Default::default()).await.map_err(to_js)?,
    };
    let report = crate::train::self_test(&dev).await.map_err(to_js)?;
    serde_wasm_bindgen::to_value(&report).map_err(|e| JsValue::from_str(&e.to_string()))
}
