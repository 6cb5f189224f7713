//! JS option objects → typed Rust options. The Rust types are the one definition of the options
//! (their TypeScript declarations are generated from them): `deny_unknown_fields` rejects an
//! unknown key here, with the message the JS shim uses for its own keys.

use serde::de::DeserializeOwned;
use wasm_bindgen::{JsCast, JsValue};

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
    if !value.is_object() || js_sys::Array::is_array(&value) {
        return Err(Error::Options(format!("{call}: options must be an object")));
    }
    let json = to_json(call, &value, "")?;
    crate::options_json::from_json(call, json).map(Some)
}

/// An options object as JSON, keys whose value is `undefined` left out (as if not given). Through
/// JSON because serde_wasm_bindgen reads a struct's fields by name and never sees unknown keys,
/// where serde_json's `deny_unknown_fields` rejects them.
/// `path` names the value in errors (`lora.alpha`).
fn to_json(call: &str, value: &JsValue, path: &str) -> Result<serde_json::Value> {
    use serde_json::Value;
    if value.is_null() || value.is_undefined() {
        return Ok(Value::Null);
    }
    if let Some(b) = value.as_bool() {
        return Ok(Value::Bool(b));
    }
    if let Some(s) = value.as_string() {
        return Ok(Value::String(s));
    }
    if let Some(n) = value.as_f64() {
        // Whole numbers as integers, so that they read as counts (`epochs: 3`) as well as rates.
        let whole = n.fract() == 0.0 && n.abs() <= 9_007_199_254_740_991.0;
        return match serde_json::Number::from_f64(n) {
            _ if whole => Ok(Value::from(n as i64)),
            Some(number) => Ok(Value::Number(number)),
            None => Err(Error::Options(format!("{call}: {path} is {n}; give a finite number"))),
        };
    }
    if js_sys::Array::is_array(value) {
        let items = js_sys::Array::from(value).iter().enumerate().map(|(i, v)| to_json(call, &v, &format!("{path}[{i}]"))).collect::<Result<_>>()?;
        return Ok(Value::Array(items));
    }
    if value.is_object() && !value.is_function() {
        let mut map = serde_json::Map::new();
        for entry in js_sys::Object::entries(value.unchecked_ref()).iter() {
            let pair = js_sys::Array::from(&entry);
            let (key, v) = (pair.get(0).as_string().unwrap_or_default(), pair.get(1));
            if !v.is_undefined() {
                let inner = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                map.insert(key, to_json(call, &v, &inner)?);
            }
        }
        return Ok(Value::Object(map));
    }
    Err(Error::Options(format!("{call}: options hold a value that is not a number, string, boolean, array or plain object")))
}

/// A loaded model's `maxLength` (at least 2, capped at the model's `limit`) and `batchSize` (at
/// least 1) from load options, each kept at `current` when not given.
pub fn sizes(max_length: Option<usize>, batch_size: Option<usize>, limit: usize, current: (usize, usize)) -> Result<(usize, usize)> {
    if let Some(n) = max_length
        && n < 2
    {
        return Err(Error::Options(format!("maxLength must be at least 2 (got {n})")));
    }
    if batch_size == Some(0) {
        return Err(Error::Options("batchSize must be at least 1".into()));
    }
    Ok((max_length.map_or(current.0, |n| n.min(limit)), batch_size.unwrap_or(current.1)))
}
