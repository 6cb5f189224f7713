// BERT-family encoders: sentence embeddings and text classification.
import { call, core } from "./core.js";
import { OptionsError, checkKeys } from "./errors.js";
import { MODEL_FILES, dataFile, modelFiles } from "./files.js";

/** A loaded encoder. Free its memory with `dispose()` when done. */
export class EncoderModel {
  #inner;
  constructor(inner) {
    this.#inner = inner;
    /** `{ device, labels, hiddenSize, numLayers, maxLength, warnings }` */
    this.info = inner.info();
  }

  #live() {
    if (!this.#inner) throw new OptionsError("this model was disposed; load it again with loadEncoder()");
    return this.#inner;
  }

  /** One vector per text. `options`: `{ pooling: "mean" | "cls", normalize: boolean }`. */
  async embed(texts, options = {}) {
    checkKeys("embed", options, ["pooling", "normalize"]);
    const inner = this.#live();
    return call(() => inner.embed(texts, options));
  }

  /** `[{label, score}, …]` per text, highest score first (labels from config.json's id2label). */
  /**
   * The attention weights of every layer and head for `text`:
   * `{ tokens, layers, heads, weights }`, `weights[layer][head][query][key]` (each row sums to 1),
   * as transformers' `output_attentions=True`.
   */
  async attentions(text) {
    if (typeof text !== "string" || !text) throw new OptionsError("attentions: text must be a non-empty string");
    const inner = this.#live();
    return call(() => inner.attentions(text));
  }

  async classify(texts) {
    const inner = this.#live();
    return call(() => inner.classify(texts));
  }

  /**
   * Metrics on labelled data: `{ loss, accuracy, macro_f1, macro_precision, macro_recall,
   * per_class, confusion_matrix, examples }`. `data` is a File, URL, bytes (with `format`) or an
   * array of row objects; its labels must be the model's (`info.labels`).
   * @param {object} data
   * @param {{format?: string, columns?: {text?: string, textPair?: string, label?: string}, signal?: AbortSignal}} [options]
   */
  async evaluate(data, options = {}) {
    return evaluateRows(() => this.#live(), data, options);
  }

  /**
   * The model as Hugging Face files by name, `{ "config.json", "model.safetensors", "tokenizer.json" }`
   * (Uint8Arrays), as a decoder's `export()`: save them as a folder and transformers'
   * `AutoModelForSequenceClassification.from_pretrained(folder)` loads it; `loadEncoder(files)` too.
   */
  async export() {
    const inner = this.#live();
    return call(() => inner.export());
  }

  /** A model fine-tuned with `lora`: its adapters and head as PEFT files (`adapter_model.safetensors`, `adapter_config.json`). */
  async exportAdapter(baseModel = "") {
    const inner = this.#live();
    return call(() => inner.exportAdapter(baseModel));
  }

  /** Frees the weights (wasm and GPU memory). The model cannot be used afterwards. */
  dispose() {
    this.#inner?.free();
    this.#inner = null;
  }
}

/**
 * `evaluate(data, options)` of a model whose core object (`live()`) takes the data's bytes and
 * `{ dataName, columns }`: the encoders' and masked LMs' shared part.
 */
export async function evaluateRows(live, data, options) {
  checkKeys("evaluate", options, ["format", "columns", "signal"]);
  const inner = live();
  const [bytes, dataName] = await dataFile(data, "data", options.format, options.signal, "evaluate");
  const setup = options.columns === undefined ? { dataName } : { dataName, columns: options.columns };
  return call(() => inner.evaluate(bytes, setup));
}

/**
 * Loads a BERT-family model (Hugging Face layout: config.json, model.safetensors, tokenizer.json).
 * @param {string|URL|{config, weights, tokenizer}} source  a folder URL, or each file as a URL,
 *   File/Blob, ArrayBuffer or Uint8Array.
 * @param {{device?: string, maxLength?: number, truncate?: boolean, batchSize?: number, signal?: AbortSignal}} [options]
 */
export async function loadEncoder(source, options = {}) {
  checkKeys("loadEncoder", options, ["device", "maxLength", "truncate", "batchSize", "signal"]);
  const { signal, ...rest } = options;
  const files = await modelFiles(source, MODEL_FILES, { signal });
  const inner = await call(() => core.Encoder.load(files.config, files.weights, files.tokenizer, rest));
  return new EncoderModel(inner);
}
