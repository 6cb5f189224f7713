/** What device webtune runs on. */
export interface DeviceInfo {
  /** "webgpu" in the browser, "wgpu" natively, "cpu" for the CPU path. */
  kind: "webgpu" | "wgpu" | "cpu";
  /** "BrowserWebGpu", "Vulkan", "Metal", … or "flex" (CPU). */
  backend: string;
  /** Adapter name (browsers may leave it empty). */
  adapter: string;
  /** "DiscreteGpu" | "IntegratedGpu" | "VirtualGpu" | "Cpu" | "Other". */
  deviceType: string;
  driver: string;
  /** Adapter maxBufferSize in bytes (GPU only). */
  maxBufferSize: number | null;
  /** Adapter maxStorageBufferBindingSize in bytes (GPU only). */
  maxStorageBufferBindingSize: number | null;
  autodiff: boolean;
  /** Why WebGPU was not used when `device: "auto"` fell back to the CPU. */
  fallback: string | null;
}

export interface DeviceOptions {
  /** Default "auto": WebGPU if available, else CPU. "webgpu" (alias "gpu") throws WebGpuUnavailableError instead of falling back. */
  device?: "auto" | "webgpu" | "gpu" | "cpu";
}

export interface SelfTestReport {
  device: DeviceInfo;
  lossBefore: number;
  lossAfter: number;
  millis: number;
}

export function init(options?: DeviceOptions): Promise<DeviceInfo>;
export function selfTest(options?: DeviceOptions): Promise<SelfTestReport>;
export function version(): Promise<string>;

export class WebtuneError extends Error {}
export class OptionsError extends WebtuneError {}
export class DataError extends WebtuneError {}
export class WeightsError extends WebtuneError {}
export class NetworkError extends WebtuneError {}
export class WebGpuUnavailableError extends WebtuneError {}
export class OutOfMemoryError extends WebtuneError {}
export class AbortError extends WebtuneError {}
export class BackendError extends WebtuneError {}
