// The models behind <webtune-chat> widgets: one text-generation pipeline per (model, device),
// shared by every widget that asks for it (all of them run in webtune's one Worker), freed when
// the last widget lets go of it.
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
