// Calling pipeline operations (worker-ops.js): in webtune's own Worker (default; one per page, started
// on first use), or on this thread when `env.useWorker` is false. The calls look the same either
// way; the caller may itself be a page or a worker.
import { env, envSnapshot } from "./env.js";
import { AbortError, BackendError, GpuError, InternalError, fromCore } from "./errors.js";

let worker = null;
let generation = 0; // counts Worker restarts: models loaded in an earlier Worker are gone
let lostOn = null; // the error name that made webtune replace its last Worker
let nextId = 1;
const pending = new Map();

/** Which Worker the models of a pipeline live in (see `workerGeneration`). */
export const workerGeneration = () => generation;

/** What `GpuError` says once webtune has replaced its Worker (and so its GPU device). */
export const RESTARTED = "webtune has started a fresh worker with a new GPU device: load the model again with pipeline(), or continue a stored run from its last checkpoint with runs.resume(name)";
const RESTARTED_AFTER_BUG = "webtune has started a fresh worker: load the model again with pipeline(), or continue a stored run from its last checkpoint with runs.resume(name)";

/** What a pipeline whose model lived in a replaced Worker throws when used (`what`: the call). */
export function lostWithWorker(what) {
  return lostOn === "InternalError"
    ? new InternalError(`${what}: this pipeline's model was lost when webtune replaced its worker after an internal error; ${RESTARTED_AFTER_BUG}`)
    : new GpuError(`${what}: this pipeline's model was lost with the GPU device; ${RESTARTED}`);
}

/** URLs become strings (URL objects cannot be posted to a Worker); everything else is kept. */
export function cloneable(x) {
  if (x instanceof URL) return x.href;
  if (x && typeof x === "object" && Object.getPrototypeOf(x) === Object.prototype) {
    return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, cloneable(v)]));
  }
  return x;
}

/**
 * Runs `op` with `args` (structured-cloneable) and resolves to its result. `onEvent` gets the
 * operation's events, `onCheckpoint` its checkpoints; `signal` aborts it (AbortError).
 */
export function request(op, args, { onEvent, onCheckpoint, signal } = {}) {
  if (signal?.aborted) return Promise.reject(new AbortError(`${op} was aborted before it started`));
  if (!env.useWorker) return inThread(op, args, { onEvent, onCheckpoint, signal });
  return new Promise((resolve, reject) => {
    const w = startWorker();
    const id = nextId++;
    const onAbort = () => w.postMessage({ id, abort: true });
    signal?.addEventListener("abort", onAbort, { once: true });
    pending.set(id, { resolve, reject, onEvent, onCheckpoint, cleanup: () => signal?.removeEventListener("abort", onAbort) });
    w.postMessage({ id, op, args, settings: envSnapshot() });
  });
}

async function inThread(op, args, { onEvent, onCheckpoint, signal }) {
  const { ops } = await import("./worker-ops.js");
  return ops[op](args, { settings: envSnapshot(), emit: (e) => onEvent?.(e), checkpoint: (f) => onCheckpoint?.(f), signal });
}

function startWorker() {
  if (worker) return worker;
  // Spelled out so that bundlers (Vite, webpack) see `new Worker(new URL(…, import.meta.url))` and
  // bundle worker.js with its imports.
  worker = env.workerUrl
    ? new Worker(env.workerUrl, { type: "module", name: "webtune" })
    : new Worker(new URL("./worker.js", import.meta.url), { type: "module", name: "webtune" });
  worker.onmessage = ({ data }) => {
    const p = pending.get(data.id);
    if (!p) return;
    if ("event" in data) return p.onEvent?.(data.event);
    if ("checkpoint" in data) return p.onCheckpoint?.(data.checkpoint);
    pending.delete(data.id);
    p.cleanup();
    if (!data.error) return p.resolve(data.result);
    if (data.error.name === "GpuError" || data.error.name === "InternalError") return restart(data.error, p);
    const err = fromCore(data.error);
    if (data.error.info) err.info = data.error.info;
    p.reject(err);
  };
  worker.onerror = (e) => {
    e.preventDefault?.();
    const err = new BackendError(`the webtune worker stopped (${e.message || "it could not start"}); check that worker.js and webtune_core_bg.wasm are served next to index.js, or set env.workerUrl / env.wasmUrl`);
    for (const p of pending.values()) {
      p.cleanup();
      p.reject(err);
    }
    pending.clear();
    worker.terminate();
    worker = null;
  };
  return worker;
}

/**
 * The GPU failed (a lost device, a rejected kernel): nothing on it can be trusted for the rest of
 * the Worker's life, and wgpu cannot make a second device there. Or a panic trapped the wasm
 * instance (`InternalError`), which cannot run again. Either way the Worker goes, with every model
 * in it; the next call starts a fresh one. Stored runs and models live in OPFS/IndexedDB.
 */
function restart(error, failed) {
  lostOn = error.name;
  // the core's advice to reload (GPU_RESTART, src/device/mod.rs) is replaced by what happened here
  const err = error.name === "GpuError"
    ? new GpuError(`${error.message.split(" Reload the page")[0]} ${RESTARTED}`)
    : new InternalError(`${error.message} ${RESTARTED_AFTER_BUG}`);
  worker.terminate();
  worker = null;
  generation++;
  for (const p of [failed, ...pending.values()]) {
    p.cleanup();
    p.reject(err);
  }
  pending.clear();
}
