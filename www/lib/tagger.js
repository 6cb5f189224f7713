// BERT-family token classifiers (named entities): tagging, evaluation, fine-tuning.
import { call, core } from "./core.js";
import { OptionsError, checkKeys } from "./errors.js";
import { MODEL_FILES, dataFile, modelFiles } from "./files.js";
import { taskSearch, train } from "./train.js";

/** A loaded token classifier. Free its memory with `dispose()` when done. */
export class TokenClassifierModel {
  #inner;
  constructor(inner) {
    this.#inner = inner;
    /** `{ device, labels, hiddenSize, numLayers, maxLength, warnings }` */
    this.info = inner.info();
  }

  #live() {
    if (!this.#inner) throw new OptionsError("this model was disposed; load it again with pipeline(\"token-classification\")");
    return this.#inner;
  }

  /**
   * The entities of each text, `[{ entity, score, word, start, end }]` (`start`/`end`: character
   * offsets, as transformers' pipeline gives them; with aggregation "none" one result per token,
   * its tag in `entity` and its position in `index`). `options`: `{ aggregation: "none" | "simple"
   * | "first" | "average" | "max" }` (default "simple").
   */
  async tag(texts, options = {}) {
    checkKeys("token-classification", options, ["aggregation"]);
    const inner = this.#live();
    return call(() => inner.tag(texts, options));
  }

  /**
   * Entity-level metrics on tagged sentences (seqeval's): `{ loss, precision, recall, f1, accuracy,
   * per_type: [{ kind, precision, recall, f1, support }], examples }`. `data`: a CoNLL file
   * (`word … TAG` lines) or JSON lines / an array of `{ tokens, tags }` or `{ text, entities: [{ start, end, label }] }`.
   */
  async evaluate(data, options = {}) {
    checkKeys("evaluate", options, ["format", "signal"]);
    const inner = this.#live();
    const [bytes, dataName] = await dataFile(data, "data", options.format, options.signal, "evaluate");
    return call(() => inner.evaluate(bytes, { dataName }));
  }

  /** The model as Hugging Face files by name (`config.json`, `model.safetensors`, `tokenizer.json`). */
  async export() {
    const inner = this.#live();
    return call(() => inner.export());
  }

  /** A model fine-tuned with `lora`: its adapters and `classifier` as PEFT files (`adapter_model.safetensors`, `adapter_config.json`). */
  async exportAdapter(baseModel = "") {
    const inner = this.#live();
    return call(() => inner.exportAdapter(String(baseModel)));
  }

  /** Frees the weights (wasm and GPU memory). The model cannot be used afterwards. */
  dispose() {
    this.#inner?.free();
    this.#inner = null;
  }
}

/** Loads a BERT-family token classifier from its files (as `loadEncoder` takes them). */
export async function loadTokenClassifier(source, options = {}) {
  checkKeys("pipeline", options, ["device", "maxLength", "batchSize", "signal"]);
  const { signal, ...rest } = options;
  const files = await modelFiles(source, MODEL_FILES, { signal });
  return new TokenClassifierModel(await call(() => core.TokenClassifier.load(files.config, files.weights, files.tokenizer, rest)));
}

/** Fine-tunes a token classifier on tagged sentences (options as `finetune`'s; no `columns`). */
export async function finetuneTagger(source, options = {}) {
  if (options?.columns !== undefined) throw new OptionsError("finetune: columns are for table data; token-classification data is CoNLL lines, {tokens, tags} or {text, entities} rows");
  return train(options, "{tokens, tags} or {text, entities} rows", async (data, validation, setup, training, callbacks) => {
    const files = await modelFiles(source, MODEL_FILES, { signal: options.signal });
    return new TokenClassifierModel(await call(() => core.fineTuneTask("token-classification", files.config, files.weights, files.tokenizer, data, validation, setup, training, ...callbacks)));
  });
}

/** Hyperparameter search over `finetune`'s options plus `space`, `strategy` and `trials` (the core's plan and loop). */
export const searchTagger = taskSearch("token-classification", "{tokens, tags} or {text, entities} rows", (inner) => new TokenClassifierModel(inner));
