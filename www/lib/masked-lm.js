// BERT-family masked language models: filling masks, masked-LM loss, continued pretraining.
import { call, core } from "./core.js";
import { OptionsError, checkKeys } from "./errors.js";
import { MODEL_FILES, modelFiles } from "./files.js";
import { evaluateRows } from "./encoder.js";
import { taskSearch, train } from "./train.js";

/** A loaded masked language model. Free its memory with `dispose()` when done. */
export class MaskedLmModel {
  #inner;
  constructor(inner) {
    this.#inner = inner;
    /** `{ device, maskToken, vocabSize, hiddenSize, numLayers, maxLength, warnings }` */
    this.info = inner.info();
  }

  #live() {
    if (!this.#inner) throw new OptionsError("this model was disposed; load it again with pipeline(\"fill-mask\")");
    return this.#inner;
  }

  /**
   * Per text, per mask, the likeliest tokens `[{ score, token, token_str, sequence }]` (as
   * transformers' fill-mask pipeline). `options`: `{ topK (default 5), targets: string[] }`.
   */
  async fill(texts, options = {}) {
    checkKeys("fill-mask", options, ["topK", "targets"]);
    const inner = this.#live();
    return call(() => inner.fill(texts, options));
  }

  /** Masked-LM `{ loss, perplexity, tokens, examples }` on plain texts (a .txt file, or a table's text column). */
  async evaluate(data, options = {}) {
    return evaluateRows(() => this.#live(), data, options);
  }

  /** The model as Hugging Face files by name (`…ForMaskedLM`). */
  async export() {
    const inner = this.#live();
    return call(() => inner.export());
  }

  /** Frees the weights (wasm and GPU memory). The model cannot be used afterwards. */
  dispose() {
    this.#inner?.free();
    this.#inner = null;
  }
}

/** Loads a BERT-family masked language model from its files (as `loadEncoder` takes them). */
export async function loadMaskedLm(source, options = {}) {
  checkKeys("pipeline", options, ["device", "maxLength", "batchSize", "signal"]);
  const { signal, ...rest } = options;
  const files = await modelFiles(source, MODEL_FILES, { signal });
  return new MaskedLmModel(await call(() => core.MaskedLm.load(files.config, files.weights, files.tokenizer, rest)));
}

/** Continues a masked LM's pretraining on plain texts (options as `finetune`'s; `columns.text` names a table's text column). */
export async function finetuneMaskedLm(source, options = {}) {
  return train(options, "{text} rows", async (data, validation, setup, training, callbacks) => {
    const files = await modelFiles(source, MODEL_FILES, { signal: options.signal });
    return new MaskedLmModel(await call(() => core.fineTuneTask("fill-mask", files.config, files.weights, files.tokenizer, data, validation, setup, training, ...callbacks)));
  });
}

/** Hyperparameter search over `finetune`'s options plus `space`, `strategy` and `trials` (the core's plan and loop). */
export const searchMaskedLm = taskSearch("fill-mask", "{text} rows", (inner) => new MaskedLmModel(inner));
