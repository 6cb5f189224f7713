// SetFit in the browser: a sentence-transformer body trained on pairs of a few labelled rows,
// then a logistic-regression head on its embeddings (the `setfit` library's method and files).
import { call, core } from "./core.js";
import { NetworkError, OptionsError, checkKeys } from "./errors.js";
import { MODEL_FILES, bytesOf, modelFiles } from "./files.js";
import { evaluateRows } from "./encoder.js";
import { downloadBeside } from "./hub.js";
import { byPathInFolder, filesNamedIn, sentenceFiles, withoutSentenceFiles } from "./sentence-files.js";

/**
 * Whether `model` is a saved SetFit folder (it has `model_head.pkl`), and if so its parts:
 * `body`, the model's three Hugging Face files (what `resolveModel` takes), and `folder`, every
 * other file by name (the head, `config_setfit.json`, the sentence-transformers modules), as bytes.
 * Reads files by name (what `save()`, `export()` and My models give) and picked folders (a hub id
 * or folder URL: `setfitFolderAt`). Null when it is not one.
 */
export async function setfitFolder(model, signal) {
  if (!model || typeof model !== "object" || model instanceof URL) return null;
  const picked = (typeof FileList !== "undefined" && model instanceof FileList) || Array.isArray(model);
  const named = picked ? byPathInFolder(model) : new Map(Object.entries(model));
  if (!named.has("model_head.pkl")) return null;
  const bodyNames = Object.values(MODEL_FILES);
  const folder = {};
  for (const [name, file] of named) if (!bodyNames.includes(name)) folder[name] = await bytesOf(file, name, { signal });
  const body = picked ? model : Object.fromEntries(bodyNames.filter((n) => named.has(n)).map((n) => [n, named.get(n)]));
  return { body, folder };
}

/** The first byte of a pickle of protocol 2 or later (joblib's and webtune's heads). */
const PICKLE_PROTOCOL = 0x80;

/**
 * Whether the hub id or folder URL whose config.json is at `configUrl` is a SetFit folder (it has
 * `model_head.pkl` beside config.json), and if so its files besides the body's three, by name, as
 * `setfitFolder` gives them; null when it is a plain model. Each file goes through the cache, and
 * so does the answer that a folder has no head: a reload asks the network for nothing.
 * `ctx`: `{ name, settings, onProgress?, signal? }`.
 */
export async function setfitFolderAt(configUrl, ctx) {
  // a server that refuses the probe with an HTTP status (S3 answers 403 for a missing key) or
  // answers it with a page (a single-page app's fallback) has no head: the folder loads as a
  // plain model; a failed connection is an error, as for the model's other files
  const head = await downloadBeside(configUrl, "model_head.pkl", ctx).catch((err) => {
    if (err instanceof NetworkError && err.status) return null;
    throw err;
  });
  if (!head || head[0] !== PICKLE_PROTOCOL) return null;
  const [labels, modules] = await Promise.all([downloadBeside(configUrl, "config_setfit.json", ctx), sentenceFiles(configUrl, { config: configUrl }, ctx)]);
  return { ...modules, "model_head.pkl": head, ...(labels ? { "config_setfit.json": labels } : {}) };
}

/**
 * Loads a saved SetFit folder: `files` the body's bytes by role, `folder` the folder's other
 * files by name (`setfitFolder`). `options`: `{ device, maxLength, batchSize }`.
 */
export async function loadSetFit(files, folder, options = {}) {
  const { signal, truncate, ...rest } = options;
  if (truncate === false) throw new OptionsError("truncate: a SetFit model cuts texts longer than maxLength, as setfit does; leave truncate out");
  return new SetFitModel(await call(() => core.SetFitModel.load(files.config, files.weights, files.tokenizer, folder, rest)));
}

/** A trained SetFit model: `classify`, `embed`, `evaluate`, `export`. Free it with `dispose()`. */
export class SetFitModel {
  #inner;
  constructor(inner) {
    this.#inner = inner;
    /** `{ device, labels, hiddenSize, numLayers, maxLength, method: "setfit", warnings }` */
    this.info = inner.info();
  }

  #live() {
    if (!this.#inner) throw new OptionsError("this model was disposed; train it again");
    return this.#inner;
  }

  /** `[{label, score}, …]` per text, highest first: the head's class probabilities. */
  async classify(texts) {
    const inner = this.#live();
    return call(() => inner.classify(texts));
  }

  /** The body's attention weights for `text`: `{ tokens, layers, heads, weights }`, as `EncoderModel.attentions`. */
  async attentions(text) {
    if (typeof text !== "string" || !text) throw new OptionsError("attentions: text must be a non-empty string");
    const inner = this.#live();
    return call(() => inner.attentions(text));
  }

  /** The body's sentence embeddings (pooled and normalised as its folder says). */
  async embed(texts, options = {}) {
    checkKeys("embed", options, []);
    const inner = this.#live();
    return call(() => inner.embed(texts));
  }

  /** Metrics on labelled rows, as `EncoderModel.evaluate` gives them (`loss`: the head's log loss). */
  async evaluate(data, options = {}) {
    return evaluateRows(() => this.#live(), data, options);
  }

  /**
   * The folder setfit saves, by name (Uint8Arrays): the sentence-transformers files,
   * `config_setfit.json` and `model_head.pkl`; `SetFitModel.from_pretrained(folder)` loads it.
   */
  async export() {
    const inner = this.#live();
    return call(() => inner.export());
  }

  /** Frees the weights (wasm and GPU memory). */
  dispose() {
    this.#inner?.free();
    this.#inner = null;
  }
}

/**
 * `finetune(source, { method: "setfit", … })`: trains a SetFit model from the sentence-transformer
 * in `source` (its files by name, with modules.json and the module configs when it has them, and
 * config_setfit.json when it is a saved SetFit folder).
 * `train` is train.js's shared part (options, data, abort and divergence).
 */
export function finetuneSetFit(source, options, train) {
  return train(options, "{text, label} rows", async (data, validation, setup, training, [onEvent, , isCancelled]) => {
    const files = await modelFiles(withoutSentenceFiles(source), MODEL_FILES, { signal: options.signal });
    // a saved SetFit folder's config_setfit.json says whether its embeddings are normalised: the
    // new run keeps doing so
    const setfitConfig = source?.["config_setfit.json"] instanceof Uint8Array ? { "config_setfit.json": source["config_setfit.json"] } : {};
    const modules = { ...filesNamedIn(source), ...setfitConfig };
    return new SetFitModel(await call(() => core.fineTuneSetFit(files.config, files.weights, files.tokenizer, modules, data, validation, setup, training, onEvent, isCancelled)));
  });
}
