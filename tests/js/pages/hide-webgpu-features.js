// Hides the optional WebGPU features "subgroups" and "shader-f16" from every adapter, as Firefox
// and Safari 26 offer WebGPU today, and records what webtune asks for: a device request for a
// hidden feature fails (as it would there), and shaders that enable one are counted.
const HIDDEN = ["subgroups", "shader-f16"];
const features = Object.getOwnPropertyDescriptor(GPUAdapter.prototype, "features");
Object.defineProperty(GPUAdapter.prototype, "features", {
  configurable: true,
  get() {
    return new Set([...features.get.call(this)].filter((f) => !HIDDEN.includes(f)));
  },
});
self.requestedFeatures = [];
self.shadersNeedingHidden = 0;
const requestDevice = GPUAdapter.prototype.requestDevice;
GPUAdapter.prototype.requestDevice = function (descriptor = {}) {
  const asked = [...(descriptor.requiredFeatures ?? [])];
  self.requestedFeatures.push(...asked);
  if (asked.some((f) => HIDDEN.includes(f))) return Promise.reject(new TypeError(`this adapter has no ${asked.filter((f) => HIDDEN.includes(f))}`));
  return requestDevice.call(this, descriptor);
};
const createShaderModule = GPUDevice.prototype.createShaderModule;
GPUDevice.prototype.createShaderModule = function (descriptor) {
  if (/^\s*enable\s+(subgroups|f16)\s*;/m.test(descriptor.code)) self.shadersNeedingHidden++;
  return createShaderModule.call(this, descriptor);
};
