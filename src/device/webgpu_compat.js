// Makes Burn/CubeCL's WGSL kernels valid on browser WebGPU (Chrome, Edge).
//
// CubeCL writes `enable subgroups;` into any kernel that reads a subgroup builtin (several matmul
// kernels do), but wgpu's WebGPU backend never requests the "subgroups" device feature, so Chrome
// rejects those shaders. A rejected shader does not fail the launch on wasm (errors arrive later,
// asynchronously): it invalidates the whole command buffer it was recorded into, and the reads
// that follow return stale memory — wrong numbers, not an error. Some of the same kernels also
// call `subgroupAdd` where Chrome's uniformity analysis cannot prove uniform control flow (native
// Vulkan, where CubeCL tests them, has no such check), so the check is relaxed for those modules.
//
// The patch is installed only while webtune requests its device, and applies only to that device.
// It also watches that device's `lost` promise (a driver reset, a GPU process crash, destroy()):
// reads then fail, and `lostReason()` says why.

let lost = null;

/** Why webtune's device was lost (`"destroyed: …"`, `"unknown: …"`), or null while it is alive. */
export function lostReason() {
  return lost;
}

/** Wraps GPUAdapter.prototype.requestDevice; returns the original (to pass to `uninstall`). */
export function install() {
  if (typeof GPUAdapter === "undefined") return null;
  const original = GPUAdapter.prototype.requestDevice;
  GPUAdapter.prototype.requestDevice = async function (descriptor = {}) {
    const features = [...(descriptor.requiredFeatures ?? [])];
    const subgroups = this.features.has("subgroups");
    if (subgroups && !features.includes("subgroups")) features.push("subgroups");
    const device = await original.call(this, { ...descriptor, requiredFeatures: features });
    device.lost.then((info) => { lost = `${info.reason}${info.message ? `: ${info.message}` : ""}`; });
    if (subgroups) {
      const create = device.createShaderModule.bind(device);
      device.createShaderModule = (desc) =>
        /^\s*enable subgroups;/m.test(desc.code)
          ? create({ ...desc, code: "diagnostic(off, subgroup_uniformity);\n" + desc.code })
          : create(desc);
    }
    return device;
  };
  return original;
}

/** Puts back the original requestDevice. */
export function uninstall(original) {
  if (original) GPUAdapter.prototype.requestDevice = original;
}
