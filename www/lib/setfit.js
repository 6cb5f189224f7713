// SetFit in the browser: a sentence-transformer body trained on pairs of a few labelled rows,
// then a logistic-regression head on its embeddings (the `setfit` library's method and files).
import { call, core } from "./core.js";
import { OptionsError, checkKeys } from "./errors.js";
import { MODEL_FILES, modelFiles } from "./files.js";
import { evaluateRows } from "./encoder.js";
import { filesNamedIn, withoutSentenceFiles } from "./sentence-files.js";

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
 * in `source` (its files by name, with modules.json and the module configs when it has them).
 * `train` is train.js's shared part (options, data, abort and divergence).
 */
export function finetuneSetFit(source, options, train) {
  return train(options, "{text, label} rows", async (data, validation, setup, training, [onEvent, , isCancelled]) => {
    const files = await modelFiles(withoutSentenceFiles(source), MODEL_FILES, { signal: options.signal });
    const modules = filesNamedIn(source);
    return new SetFitModel(await call(() => core.fineTuneSetFit(files.config, files.weights, files.tokenizer, modules, data, validation, setup, training, onEvent, isCancelled)));
  });
}
