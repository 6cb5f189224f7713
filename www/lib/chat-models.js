// The models behind <webtune-chat> widgets: one text-generation pipeline per (model, device),
// shared by every widget that asks for it (all of them run in webtune's one Worker), freed when
// the last widget lets go of it. Widgets with an `adapter` attach it to that shared base once
// (named by the attribute's value) and pick it per reply, so widgets with different adapters
// hold one base in memory.
import { models, pipeline } from "./pipeline.js";

const shared = new Map(); // key → { loading: Promise<pipeline>, users: number, listeners: Set }

/** What `model` (attribute or property) names: `saved:NAME` is a model kept with `save({ name })`. */
async function source(model) {
  if (typeof model === "string" && model.startsWith("saved:")) {
    return models.files(model.slice("saved:".length)); // OptionsError when there is none
  }
  return model;
}

function keyOf(model, device) {
  return typeof model === "string" ? JSON.stringify([model, device]) : null; // files/objects are not shared
}

/**
 * Resolves to the pipeline for `model` on `device`; `onProgress` gets its loading events (also
 * when another widget started the load). Call the returned `release()` when done with it.
 */
export function acquire(model, device, onProgress) {
  const key = keyOf(model, device);
  let entry = key && shared.get(key);
  if (!entry) {
    const listeners = new Set();
    const loading = source(model).then((m) =>
      pipeline("text-generation", { model: m, device, onProgress: (e) => listeners.forEach((f) => f(e)) }));
    entry = { loading, users: 0, listeners };
    if (key) shared.set(key, entry);
    // a failed load is not kept: the next widget (or a retry) tries again
    loading.catch(() => { if (key && shared.get(key) === entry) shared.delete(key); });
  }
  entry.users++;
  entry.listeners.add(onProgress);
  let released = false;
  return {
    loading: entry.loading,
    release() {
      if (released) return;
      released = true;
      entry.listeners.delete(onProgress);
      if (--entry.users > 0) return;
      if (key && shared.get(key) === entry) shared.delete(key);
      entry.loading.then((p) => p.dispose(), () => {});
    },
  };
}

const attached = new WeakMap(); // pipeline → Map(adapter source → its load)

/**
 * Resolves once adapter `source` (a `saved:NAME`, .gguf URL or PEFT folder URL; its name on the
 * pipeline) is attached to `pipeline`, loading it the first time any widget asks.
 */
export function attachShared(pipeline, source) {
  let loads = attached.get(pipeline);
  if (!loads) attached.set(pipeline, (loads = new Map()));
  if (pipeline.adapters.list().some((a) => a.name === source)) return Promise.resolve();
  let load = loads.get(source);
  if (!load) {
    load = pipeline.adapters.load(source, source).then(() => {});
    loads.set(source, load);
    load.catch(() => loads.delete(source)); // a failed load is tried again by the next reply
  }
  return load;
}
