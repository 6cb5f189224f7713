//! Browser WebGPU fix-ups needed for Burn/CubeCL's kernels to be valid (see webgpu_compat.js):
//! the "subgroups" device feature, requested while webtune creates its device.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/src/device/webgpu_compat.js")]
extern "C" {
    fn install() -> JsValue;
    fn uninstall(original: JsValue);
}

/// The patch, in place until dropped.
pub(super) struct Installed(JsValue);

impl Installed {
    pub(super) fn new() -> Self {
        Installed(install())
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        uninstall(std::mem::replace(&mut self.0, JsValue::NULL));
    }
}
