// Global settings of the package (as transformers.js's `env`). Setting an unknown key or a value
// of the wrong type throws an OptionsError at once, so a typo never passes silently.
import { OptionsError } from "./errors.js";

const DEFAULTS = {
  /** Where model ids ("org/name") are fetched from: `{remoteHost}/{id}/resolve/{revision}/{file}`. */
  remoteHost: "https://huggingface.co",
  /** The revision (branch, tag or commit) of model ids. */
  revision: "main",
  /** Whether model ids may be fetched from `remoteHost`; URLs and user-picked files always work. */
  allowRemoteModels: true,
  /** Keep downloaded model files in the browser's Cache Storage, so a reload needs no network. */
  useCache: true,
  /** The Cache Storage name used for model files. */
  cacheName: "webtune-models",
  /** Run pipelines in a Worker owned by webtune (default) instead of on the calling thread. */
  useWorker: true,
  /** URL of worker.js, for bundlers that do not copy it next to index.js (default: resolved from this module). */
  workerUrl: null,
  /** URL of webtune_core_bg.wasm (default: resolved from this module, which bundlers such as Vite handle). */
  wasmUrl: null,
  /** Where runs and saved models are kept: "auto" (the origin private file system, else IndexedDB), "opfs" or "indexeddb". */
  storage: "auto",
};

/** Settings that take one of a few values. */
const CHOICES = { storage: ["auto", "opfs", "indexeddb"] };

const settings = { ...DEFAULTS };

/** The live settings object: `env.remoteHost = "http://localhost:8080/hub"`. */
export const env = new Proxy(settings, {
  set(target, key, value) {
    if (!Object.hasOwn(DEFAULTS, key)) {
      throw new OptionsError(`env: unknown setting ${JSON.stringify(key)}; valid settings are ${Object.keys(DEFAULTS).join(", ")}`);
    }
    const want = DEFAULTS[key] === null ? "string" : typeof DEFAULTS[key];
    const ok = typeof value === want || (DEFAULTS[key] === null && (value === null || value instanceof URL));
    if (!ok) throw new OptionsError(`env.${key} must be a ${want}${DEFAULTS[key] === null ? " (or null)" : ""}, got ${value === null ? "null" : typeof value}`);
    if (CHOICES[key] && !CHOICES[key].includes(value)) {
      throw new OptionsError(`env.${key} must be one of ${CHOICES[key].map((c) => JSON.stringify(c)).join(", ")}, got ${JSON.stringify(value)}`);
    }
    target[key] = value instanceof URL ? value.href : value;
    return true;
  },
  deleteProperty(_, key) {
    throw new OptionsError(`env.${String(key)} cannot be deleted; set it to a value instead`);
  },
});

/** A plain copy of the settings (what the Worker gets with each request). */
export function envSnapshot() {
  return { ...settings };
}
