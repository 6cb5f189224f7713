//! Browser WebGPU fix-ups needed for Burn/CubeCL's kernels to be valid (see webgpu_compat.js):
//! the "subgroups" device feature, requested while webtune creates its device; and the watch on
//! that device's `lost` promise.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/src/device/webgpu_compat.js")]
extern "C" {
    fn install() -> JsValue;
    fn uninstall(original: JsValue);
    /// Why webtune's WebGPU device was lost, once it was.
    #[wasm_bindgen(js_name = lostReason)]
    pub(super) fn lost() -> Option<String>;
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
