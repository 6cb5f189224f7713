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
/** The GPU reported an error (a rejected kernel, a lost device): results on it can no longer be trusted. Reload for a fresh device, or use device "cpu". */
export class GpuError extends WebtuneError {}

/** A file given as a URL, a File/Blob, or bytes. */
export type FileSource = string | URL | Blob | ArrayBuffer | ArrayBufferView;

export interface LoadEncoderOptions extends DeviceOptions {
  /** Longest input in tokens, special tokens included (default and cap: the model's max_position_embeddings). */
  maxLength?: number;
  /** Cut longer texts (default true); false makes them a DataError. */
  truncate?: boolean;
  /** Texts per forward pass (default 32). */
  batchSize?: number;
  signal?: AbortSignal;
}

export interface EncoderInfo {
  device: DeviceInfo;
  /** Class labels in id order (config.json id2label; LABEL_i when missing). */
  labels: string[];
  hiddenSize: number;
  numLayers: number;
  maxLength: number;
  /** What loading noticed: freshly initialised heads, ignored keys, upcast tensors. */
  warnings: string[];
}

export interface EmbedOptions {
  /** "mean" (default; over real tokens, as sentence-transformers) or "cls". */
  pooling?: "mean" | "cls";
  /** Scale each vector to unit length (default false). */
  normalize?: boolean;
}

export interface LabelScore {
  label: string;
  score: number;
}

export class EncoderModel {
  readonly info: EncoderInfo;
  embed(texts: string | string[], options?: EmbedOptions): Promise<number[][]>;
  classify(texts: string | string[]): Promise<LabelScore[][]>;
  dispose(): void;
}

/** Loads a BERT-family model from a folder URL (config.json, model.safetensors, tokenizer.json) or from the three files. */
export function loadEncoder(
  source: string | URL | { config: FileSource; weights: FileSource; tokenizer: FileSource },
  options?: LoadEncoderOptions,
): Promise<EncoderModel>;
