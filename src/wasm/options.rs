//! JS option objects → typed Rust options. Unknown keys are rejected with the list of valid ones
//! (serde's `deny_unknown_fields` message names the key and every expected field).

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
    serde_wasm_bindgen::from_value(value).map(Some).map_err(|e| {
        let msg = e.to_string();
        let msg = if msg.starts_with("unknown field") {
            let m = msg.replacen("unknown field", "unknown option", 1);
            if m.contains(", expected one of") {
                m.replacen(", expected one of", "; valid options are", 1)
            } else {
                m.replacen(", expected", "; valid options are", 1)
            }
        } else {
            msg
        };
        Error::Options(format!("{call}: {msg}"))
    })
}
