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
/** A bug in webtune (a Rust panic trapped the wasm instance); webtune replaces its Worker. */
export class InternalError extends WebtuneError {}

const CLASSES = {
  OptionsError, DataError, WeightsError, NetworkError, WebGpuUnavailableError,
  OutOfMemoryError, AbortError, BackendError, GpuError, TrainingError, InternalError,
};

/** The message of an `InternalError` for a trap (`WebAssembly.RuntimeError`) during `what`. */
export const internalMessage = (what, err) =>
  `webtune stopped on an internal error while ${what} (a bug in webtune: please report it with the browser console's log): ${err?.message ?? err}.`;

/** Turns an error thrown by the wasm core (an Error with a `name`) into the matching class. */
export function fromCore(err) {
  if (err instanceof WebtuneError) return err;
  const Cls = CLASSES[err?.name];
  if (Cls) return new Cls(err.message);
  // A Rust panic traps the instance and surfaces as a RuntimeError: on this thread nothing can
  // replace the instance, so the page has to be reloaded.
  if (err instanceof WebAssembly.RuntimeError) {
    return new InternalError(`${internalMessage("running", err)} Reload the page to continue; a stored run resumes with runs.resume(name)`, { cause: err });
  }
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
