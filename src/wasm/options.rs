//! JS option objects → typed Rust options. The Rust types are the one definition of the options
//! (their TypeScript declarations are generated from them): `deny_unknown_fields` rejects an
//! unknown key here, with the message the JS shim uses for its own keys.

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
    serde_wasm_bindgen::from_value(value).map(Some).map_err(|e| Error::Options(describe(call, &e.to_string())))
}

/// serde's "unknown field `x`, expected one of `a`, `b`" as the shim words it; other messages as
/// they are.
fn describe(call: &str, serde_message: &str) -> String {
    if let Some(rest) = serde_message.strip_prefix("unknown field `")
        && let Some((key, expected)) = rest.split_once("`, expected ")
    {
        let valid = expected.trim_start_matches("one of ").replace('`', "");
        return format!("{call}: unknown option \"{key}\"; valid options are {valid}");
    }
    format!("{call}: {serde_message}")
}
