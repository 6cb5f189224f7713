// LoRA adapters on a loaded decoder, where its model lives (webtune's Worker, or the page without
// one): where an adapter's files come from, and which model a generation call runs. Each attached
// adapter is a DecoderModel sharing the base's weights (the core's `withAdapter`), kept by name on
// the pipeline's entry until it is unloaded or the pipeline disposed.
import { download } from "./download.js";
import { OptionsError } from "./errors.js";
import { bytesOf, isGguf } from "./files.js";
import { fetchModel, isFileList, resolveModel } from "./hub.js";
import * as store from "./store.js";

/** PEFT's adapter folder (what `save({ format: "peft" })` writes). */
export const ADAPTER_FILES = { config: "adapter_config.json", weights: "adapter_model.safetensors" };

const SOURCES = 'a .gguf adapter (URL, File or bytes), a PEFT adapter folder (hub id, folder URL or the picked adapter_config.json and adapter_model.safetensors), { "adapter_model.safetensors", "adapter_config.json" } or { "adapter.gguf" } (what save() gives), or "saved:NAME"';


/**
 * An adapter's bytes: `{ gguf }` (llama.cpp's adapter GGUF) or `{ weights, config }` (PEFT's
 * files). `source` is one of SOURCES; URLs download through the cache with progress to `emit`.
 */
export async function adapterFiles(source, { settings, emit, signal }) {
  if (typeof source === "string" && source.startsWith("saved:")) {
    const name = source.slice("saved:".length);
    const files = await store.modelFiles(name);
    const names = files.map((f) => f.name);
    if (!names.includes("adapter.gguf") && !Object.values(ADAPTER_FILES).every((n) => names.includes(n))) {
      throw new OptionsError(`saved model ${JSON.stringify(name)} holds ${names.join(", ")}, not a LoRA adapter; save a LoRA run with save({ name, format: "peft" }) (or "gguf-lora"), or load this one as the model itself`);
    }
    return adapterFiles(files, { settings, emit, signal });
  }
  if (typeof source === "string" || source instanceof URL) {
    if (await isGguf(source)) {
      const url = new URL(String(source), globalThis.location?.href).href;
      const file = new URL(url).pathname.split("/").pop();
      return { gguf: await download(url, { name: url, file, useCache: settings.useCache, cacheName: settings.cacheName, onProgress: emit, signal }) };
    }
    return fetchModel(resolveModel(source, ADAPTER_FILES, settings), ADAPTER_FILES, { settings, onProgress: emit, signal });
  }
  if (isFileList(source)) {
    const files = Array.from(source);
    const flags = await Promise.all(files.map(isGguf));
    const gguf = files.find((_, i) => flags[i]);
    if (gguf) return { gguf: await bytesOf(gguf, gguf.name, { signal }) };
    return fetchModel(resolveModel(files, ADAPTER_FILES, settings), ADAPTER_FILES, { settings, signal });
  }
  if (source && typeof source === "object" && Object.getPrototypeOf(source) === Object.prototype) {
    const gguf = source["adapter.gguf"] ?? source.gguf;
    if (gguf != null) return { gguf: await bytesOf(gguf, "adapter.gguf", { signal }) };
    return fetchModel(resolveModel(source, ADAPTER_FILES, settings), ADAPTER_FILES, { settings, signal });
  }
  if (source != null && await isGguf(source)) return { gguf: await bytesOf(source, "adapter.gguf", { signal }) };
  throw new OptionsError(`adapters.load: expected ${SOURCES}; got ${source === null ? "null" : typeof source}`);
}

/** What `source` is called in errors: its URL, file names or "saved:NAME" (null for bytes). */
function sourceName(source) {
  if (typeof source === "string" || source instanceof URL) return String(source);
  if (isFileList(source)) return Array.from(source, (f) => f.name).join(", ");
  if (typeof File !== "undefined" && source instanceof File) return source.name;
  return null;
}

/** Attaches the adapter `source` to entry `e`'s model as `name`: its `{ rank, alpha, targetModules }`. */
export async function attachAdapter(e, name, source, ctx) {
  e.adapters ??= new Map();
  if (e.adapters.has(name)) throw new OptionsError(`adapters.load: an adapter named ${JSON.stringify(name)} is loaded already; unload it first or give this one another name`);
  const files = await adapterFiles(source, ctx);
  if (e.adapters.has(name)) throw new OptionsError(`adapters.load: an adapter named ${JSON.stringify(name)} was loaded meanwhile; unload it first or give this one another name`);
  const from = sourceName(source);
  const model = await e.model.withAdapter(files, from && from !== name ? `adapter ${JSON.stringify(name)} (${from})` : `adapter ${JSON.stringify(name)}`);
  e.adapters.set(name, model);
  return model.info.lora;
}

/** Detaches adapter `name` from entry `e`: whether it was there. */
export function detachAdapter(e, name) {
  const model = e.adapters?.get(name);
  if (!model) return false;
  e.adapters.delete(name);
  model.dispose();
  return true;
}

/** Frees every adapter of entry `e` (its pipeline is disposed). */
export function detachAll(e) {
  for (const name of [...(e.adapters?.keys() ?? [])]) detachAdapter(e, name);
}

/**
 * `use(model)` with the model a call asks for: the base (`adapter` null), or adapter `adapter`
 * with its product scaled by `scale` (a scaled copy lives for this call only).
 */
export async function withAdapter(e, adapter, scale, use) {
  if (adapter == null) {
    if (scale != null && scale !== 1) throw new OptionsError("adapterScale scales an adapter; name one with adapter (or adapters.use(name))");
    return use(e.model);
  }
  const model = e.adapters?.get(adapter);
  if (!model) {
    const loaded = [...(e.adapters?.keys() ?? [])];
    throw new OptionsError(`no adapter named ${JSON.stringify(adapter)} is loaded${loaded.length ? ` (loaded: ${loaded.map((n) => JSON.stringify(n)).join(", ")})` : ""}; load it with adapters.load(name, source)`);
  }
  if (scale == null || scale === 1) return use(model);
  const scaled = await model.withAdapterScale(scale);
  try {
    return await use(scaled);
  } finally {
    scaled.dispose();
  }
}

/** Refuses to change entry `e`'s base while adapters made for it are attached. */
export function checkNoAdapters(e, what) {
  const names = [...(e.adapters?.keys() ?? [])];
  if (names.length) {
    throw new OptionsError(`${what}: this pipeline has adapters loaded (${names.map((n) => JSON.stringify(n)).join(", ")}), made for the model as it is; unload them first (adapters.unload(name)), or fine-tune a pipeline of its own`);
  }
}
