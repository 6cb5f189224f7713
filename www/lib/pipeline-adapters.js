// `gen.adapters` of a text-generation pipeline: LoRA adapters attached to its one loaded base,
// switched and scaled per call without reloading or copying the base. The adapters live with the
// model (webtune's Worker, adapters.js); this side keeps their names, the one in use and its scale.
import { cloneable, request } from "./client.js";
import { OptionsError, checkKeys } from "./errors.js";

/** The generation options that pick an adapter for one call. */
export const ADAPTER_OPTIONS = ["adapter", "adapterScale"];

function checkName(where, name) {
  if (typeof name !== "string" || !name || name.length > 200) {
    throw new OptionsError(`${where}: an adapter's name must be a non-empty string of at most 200 characters (got ${JSON.stringify(name)})`);
  }
}

function checkScale(where, scale) {
  if (scale !== undefined && !(typeof scale === "number" && Number.isFinite(scale))) {
    throw new OptionsError(`${where}: adapterScale must be a finite number (0: the base model, 1: the adapter as trained), got ${JSON.stringify(scale)}`);
  }
}

/**
 * The adapters of the pipeline with model `handle`: `api` (what `gen.adapters` is) and
 * `pick(where, adapter, adapterScale)`, the `{ adapter, adapterScale }` a call runs with (its own
 * options, else the adapter in use). `live(what)` throws once the pipeline is gone.
 */
export function adapterSet(handle, live) {
  const loaded = new Map(); // name → { rank, alpha, targetModules }
  const loading = new Map(); // name → the load under way
  let active = null;
  let activeScale = 1;

  const api = {
    /**
     * Attaches adapter `source` to the loaded base as `name`: a .gguf adapter (llama.cpp's; URL,
     * File or bytes), a PEFT adapter folder (hub id, folder URL, or the picked
     * adapter_config.json + adapter_model.safetensors), what `save({ format: "peft" })` or
     * `save({ format: "gguf-lora" })` gave, or `"saved:NAME"` (saved with `save({ name, format })`).
     * Resolves to `{ name, rank, alpha, targetModules }`. An adapter made for another model is
     * refused with the file and tensor named; the pipeline keeps working either way.
     */
    async load(name, source, options = {}) {
      live("adapters.load");
      checkKeys("adapters.load", options, ["onProgress", "signal"]);
      checkName("adapters.load", name);
      if (source == null) throw new OptionsError(`adapters.load: give the adapter ${JSON.stringify(name)} a source (a .gguf adapter, a PEFT adapter folder or "saved:NAME")`);
      if (loaded.has(name) || loading.has(name)) {
        throw new OptionsError(`adapters.load: an adapter named ${JSON.stringify(name)} is loaded already; unload it first or give this one another name`);
      }
      const { onProgress, signal } = options;
      if (onProgress !== undefined && typeof onProgress !== "function") throw new OptionsError("adapters.load: onProgress must be a function");
      const load = request("loadAdapter", { handle, name, source: cloneable(source) }, { onEvent: onProgress, signal });
      loading.set(name, load);
      try {
        const lora = await load;
        loaded.set(name, lora);
        return { name, ...lora };
      } finally {
        loading.delete(name);
      }
    },

    /**
     * Makes adapter `name` (scaled by `scale`, default 1) what later calls use unless they pass
     * `adapter`; `use(null)` goes back to the base model.
     */
    use(name, options = {}) {
      live("adapters.use");
      checkKeys("adapters.use", options, ["scale"]);
      checkScale("adapters.use", options.scale);
      if (name !== null) {
        checkName("adapters.use", name);
        if (!loaded.has(name)) throw new OptionsError(`adapters.use: no adapter named ${JSON.stringify(name)} is loaded; load it with adapters.load(name, source)`);
      } else if (options.scale !== undefined) {
        throw new OptionsError("adapters.use: a scale needs an adapter; use(null) is the base model");
      }
      active = name;
      activeScale = options.scale ?? 1;
    },

    /** Detaches adapter `name` and frees it; resolves to whether it was loaded. */
    async unload(name) {
      live("adapters.unload");
      checkName("adapters.unload", name);
      await loading.get(name)?.catch(() => {});
      if (active === name) {
        active = null;
        activeScale = 1;
      }
      loaded.delete(name);
      return request("unloadAdapter", { handle, name });
    },

    /** `[{ name, rank, alpha, targetModules, active, scale }]` of the loaded adapters. */
    list() {
      return [...loaded].map(([name, lora]) => ({ name, ...lora, active: name === active, scale: name === active ? activeScale : 1 }));
    },

    /** The adapter later calls use by default, `{ name, scale }`, or null (the base model). */
    get active() {
      return active === null ? null : { name: active, scale: activeScale };
    },
  };

  const pick = (where, adapter, adapterScale) => {
    if (adapter != null) checkName(where, adapter);
    checkScale(where, adapterScale);
    const name = adapter === undefined ? active : adapter;
    if (name == null) return adapterScale === undefined ? {} : { adapterScale };
    return { adapter: name, adapterScale: adapterScale ?? (name === active ? activeScale : 1) };
  };
  return { api, pick };
}
