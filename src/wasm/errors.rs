//! [`crate::Error`] → JS `Error` with a stable `name`.

use wasm_bindgen::JsValue;

/// Converts a webtune error into a JS `Error` whose `name` is [`crate::Error::js_name`].
pub fn to_js(err: crate::Error) -> JsValue {
    let e = js_sys::Error::new(&err.to_string());
    e.set_name(err.js_name());
    e.into()
}
