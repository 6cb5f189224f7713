//! JS option objects → typed Rust options. The public shim (`www/lib/`) already rejects unknown
//! keys with its own message; `deny_unknown_fields` here is the backstop for callers of the raw
//! core, and serde's message (which names the key and the expected fields) is passed on as is.

use serde::de::DeserializeOwned;
use wasm_bindgen::JsValue;

use crate::{DevicePreference, Error, Result};

/// Options of `init()` / `selfTest()`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitOptions {
    /// "auto" | "webgpu" | "gpu" | "cpu".
    pub device: Option<String>,
}

impl InitOptions {
    pub fn device(&self) -> Result<DevicePreference> {
        self.device.as_deref().map_or(Ok(DevicePreference::default()), str::parse)
    }
}

/// `undefined`/`null` → `T::default()`; an object → `T`, or an `OptionsError` naming `call`.
pub fn parse_options<T: DeserializeOwned + Default>(call: &str, value: JsValue) -> Result<T> {
    Ok(parse_optional(call, value)?.unwrap_or_default())
}

/// `undefined`/`null` → `None`.
pub fn parse_optional<T: DeserializeOwned>(call: &str, value: JsValue) -> Result<Option<T>> {
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    if !value.is_object() {
        return Err(Error::Options(format!("{call}: options must be an object")));
    }
    serde_wasm_bindgen::from_value(value).map(Some).map_err(|e| Error::Options(format!("{call}: {e}")))
}
