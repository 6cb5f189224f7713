//! JS option objects → typed Rust options. Unknown keys are rejected with the list of valid ones.

use serde::Deserialize;
use wasm_bindgen::JsValue;

use crate::{DevicePreference, Error, Result};

/// Options of `init()` / `selfTest()`.
#[derive(Debug, Default)]
pub struct InitOptions {
    pub device: DevicePreference,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawInit {
    device: Option<String>,
}

impl InitOptions {
    /// `undefined`/`null` → defaults.
    pub fn parse(value: JsValue) -> Result<Self> {
        Ok(Self::parse_optional(value)?.unwrap_or_default())
    }

    /// `undefined`/`null` → `None`.
    pub fn parse_optional(value: JsValue) -> Result<Option<Self>> {
        if value.is_undefined() || value.is_null() {
            return Ok(None);
        }
        let raw: RawInit = serde_wasm_bindgen::from_value(value)
            .map_err(|e| Error::Options(format!("invalid options: {e}")))?;
        let device = match raw.device {
            Some(d) => d.parse()?,
            None => DevicePreference::default(),
        };
        Ok(Some(InitOptions { device }))
    }
}
