// BERT-family extractive question answering: answers with offsets, SQuAD evaluation, fine-tuning.
import { call, core } from "./core.js";
import { OptionsError, checkKeys } from "./errors.js";
import { MODEL_FILES, dataFile, modelFiles } from "./files.js";
import { taskSearch, train } from "./train.js";

/** A loaded question-answering model. Free its memory with `dispose()` when done. */
export class QuestionAnsweringModel {
  #inner;
  constructor(inner) {
    this.#inner = inner;
    /** `{ device, hiddenSize, numLayers, maxLength, docStride, warnings }` */
    this.info = inner.info();
  }

  #live() {
    if (!this.#inner) throw new OptionsError("this model was disposed; load it again with pipeline(\"question-answering\")");
    return this.#inner;
  }

  /**
   * The best answers to `question` in `context`, best first: `[{ text, start, end, score }]`
   * (`start`/`end`: code-point offsets into the context). `options`: `{ topK (default 1),
   * maxAnswerLength (default 30), handleImpossibleAnswer (default false) }`.
   */
  async answer(question, context, options = {}) {
    checkKeys("question-answering", options, ["topK", "maxAnswerLength", "handleImpossibleAnswer"]);
    if (typeof question !== "string" || typeof context !== "string") throw new OptionsError("question-answering: question and context must be strings");
    const inner = this.#live();
    return call(() => inner.answer(question, context, options));
  }

  /** SQuAD `{ exact_match, f1, loss, examples, has_answer?, no_answer? }` on SQuAD JSON or `{question, context, answers}` rows. */
  async evaluate(data, options = {}) {
    checkKeys("evaluate", options, ["format", "signal"]);
    const inner = this.#live();
    const [bytes, dataName] = await dataFile(data, "data", options.format, options.signal, "evaluate");
    return call(() => inner.evaluate(bytes, { dataName }));
  }

  /** The model as Hugging Face files by name (`…ForQuestionAnswering`). */
  async export() {
    const inner = this.#live();
    return call(() => inner.export());
  }

  /** A model fine-tuned with `lora`: its adapters and `qa_outputs` as PEFT files (`adapter_model.safetensors`, `adapter_config.json`). */
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

/** Loads a BERT-family question-answering model from its files (as `loadEncoder` takes them). */
export async function loadQuestionAnswerer(source, options = {}) {
  checkKeys("pipeline", options, ["device", "maxLength", "docStride", "batchSize", "signal"]);
  const { signal, ...rest } = options;
  const files = await modelFiles(source, MODEL_FILES, { signal });
  return new QuestionAnsweringModel(await call(() => core.QuestionAnswerer.load(files.config, files.weights, files.tokenizer, rest)));
}

/** Fine-tunes a question-answering model on SQuAD JSON or rows (options as `finetune`'s, plus `docStride`). */
export async function finetuneAnswerer(source, options = {}) {
  if (options?.columns !== undefined) throw new OptionsError("finetune: columns are for table data; question-answering data is SQuAD JSON or {question, context, answers} rows");
  return train(options, "{question, context, answers} rows", async (data, validation, setup, training, callbacks) => {
    const files = await modelFiles(source, MODEL_FILES, { signal: options.signal });
    return new QuestionAnsweringModel(await call(() => core.fineTuneTask("question-answering", files.config, files.weights, files.tokenizer, data, validation, setup, training, ...callbacks)));
  });
}

/** Hyperparameter search over `finetune`'s options plus `space`, `strategy` and `trials` (the core's plan and loop). */
export const searchAnswerer = taskSearch("question-answering", "{question, context, answers} rows", (inner) => new QuestionAnsweringModel(inner));
