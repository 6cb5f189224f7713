// Error classes of the public API. Every error webtune throws is one of these, with a stable
// `name` to switch on and a message that says what to do.

export class WebtuneError extends Error {
  constructor(message, options) {
    super(message, options);
    this.name = new.target.name;
  }
}
export class OptionsError extends WebtuneError {}
export class DataError extends WebtuneError {}
export class WeightsError extends WebtuneError {}
export class NetworkError extends WebtuneError {}
export class WebGpuUnavailableError extends WebtuneError {}
export class OutOfMemoryError extends WebtuneError {}
export class AbortError extends WebtuneError {}
export class BackendError extends WebtuneError {}
export class GpuError extends WebtuneError {}
export class TrainingError extends WebtuneError {}

const CLASSES = {
  OptionsError, DataError, WeightsError, NetworkError, WebGpuUnavailableError,
  OutOfMemoryError, AbortError, BackendError, GpuError, TrainingError,
};

/** Turns an error thrown by the wasm core (an Error with a `name`) into the matching class. */
export function fromCore(err) {
  if (err instanceof WebtuneError) return err;
  const Cls = CLASSES[err?.name];
  if (Cls) return new Cls(err.message);
  // A Rust panic surfaces as a RuntimeError: report it as a backend bug, keeping the original.
  return new BackendError(`internal error in webtune (please report it): ${err?.message ?? err}`, { cause: err });
}

/** Rejects unknown option keys, listing the valid ones. */
export function checkKeys(where, options, valid) {
  if (options == null) return {};
  if (typeof options !== "object") throw new OptionsError(`${where}: options must be an object, got ${typeof options}`);
  const unknown = Object.keys(options).filter((k) => !valid.includes(k));
  if (unknown.length) {
    throw new OptionsError(`${where}: unknown option ${unknown.map((k) => JSON.stringify(k)).join(", ")}; valid options are ${valid.join(", ")}`);
  }
  return options;
}
