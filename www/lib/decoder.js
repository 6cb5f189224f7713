// Llama-family decoders: text generation and chat, streaming text pieces as they come.
import { call, core } from "./core.js";
import { AbortError, OptionsError, checkKeys } from "./errors.js";
import { MODEL_FILES, byRole, bytesOf, dataFile } from "./files.js";
import { searchWith, train } from "./train.js";

/** A decoder folder's optional files for its chat template (transformers saves it in the second, which wins). */
export const CHAT_FILES = { tokenizerConfig: "tokenizer_config.json", chatTemplate: "chat_template.jinja" };

export const GENERATE_OPTIONS = ["maxNewTokens", "temperature", "topK", "topP", "minP", "repetitionPenalty", "seed", "stop", "trimHistory", "onToken", "signal"];
export const EVALUATE_OPTIONS = ["format", "columns", "maxLength", "batchSize", "chatTemplate", "generate", "maxNewTokens", "signal"];

/** A loaded decoder. Free its memory with `dispose()` when done. */
export class DecoderModel {
  #inner;
  constructor(inner) {
    this.#inner = inner;
    /** `{ device, vocabSize, hiddenSize, numLayers, maxLength, chatTemplate, warnings }` */
    this.info = inner.info();
  }

  #live() {
    if (!this.#inner) throw new OptionsError("this model was disposed; load it again");
    return this.#inner;
  }

  /**
   * Continues `prompt`: `{ text, tokens, promptTokens, stopReason: "stop" | "length" }`.
   * `onToken(piece)` gets each piece of text as it is generated; `signal` aborts (AbortError).
   */
  async generate(prompt, options = {}) {
    if (typeof prompt !== "string" || !prompt) throw new OptionsError("generate: prompt must be a non-empty string");
    return this.#run("generate", prompt, options);
  }

  /**
   * The assistant's reply to `messages` (`[{ role: "system" | "user" | "assistant", content }]`),
   * rendered with the model's chat template; options and result as `generate`.
   */
  async chat(messages, options = {}) {
    if (!Array.isArray(messages) || !messages.length) {
      throw new OptionsError("chat: messages must be a non-empty array of { role, content }");
    }
    return this.#run("chat", messages, options);
  }

  async #run(method, input, options) {
    checkKeys(method, options, GENERATE_OPTIONS);
    const { onToken, signal, ...rest } = options;
    if (onToken !== undefined && typeof onToken !== "function") throw new OptionsError(`${method}: onToken must be a function`);
    if (signal?.aborted) throw new AbortError(`${method} was aborted before it started`);
    const inner = this.#live();
    const out = await call(() => inner[method](input, rest, (piece) => onToken?.(piece), () => signal?.aborted ?? false));
    if (out.stopReason === "cancelled") {
      const err = new AbortError(`${method} was aborted; \`error.partial\` holds the text generated so far`);
      err.partial = out;
      throw err;
    }
    return out;
  }

  /**
   * Fine-tunes all weights (or, with `lora`, adapters only) as a causal language model and
   * resolves to a new DecoderModel (this one is unchanged). `data` rows have a `text` column (every token is learned) or `prompt` and
   * `completion` columns (only the completion is learned; with a chat template, the pair is a user
   * turn and the assistant's reply unless `chatTemplate: false`). Other options, events, abort and
   * checkpoints as `finetune()` for classifiers; evaluation reports `loss` and `perplexity`.
   */
  async finetune(options = {}) {
    const inner = this.#live();
    return train(options, "{text} or {prompt, completion} rows", async (data, validation, setup, training, callbacks) =>
      new DecoderModel(await call(() => inner.fineTune(data, validation, setup, training, ...callbacks))));
  }

  /**
   * The Hugging Face recipe of `finetune(options)` from this model (`webtune recipe --task
   * text-generation`): a transformers Trainer + PEFT folder that runs the same run on GPUs, as
   * `{ "train.py": Uint8Array, "recipe.json", … }`. `modelName` is what the recipe loads (a hub
   * id or a folder; for a model loaded from a GGUF file, the Hugging Face model it was made from).
   */
  async recipe(modelName, options = {}) {
    const inner = this.#live();
    // how the run is watched and stored is not part of it
    const { onEvent, onCheckpoint, run, checkpointEvery, resumeFrom, ...rest } = options;
    return train(rest, "{text} or {prompt, completion} rows", (data, validation, setup, training) =>
      call(() => inner.writeRecipe(String(modelName), data, validation, setup, training)), { where: "recipe" });
  }

  /** Hyperparameter search from this model (options as `search()` in train.js): `{ trials, best, model }`. */
  async search(options = {}) {
    const inner = this.#live();
    return searchWith(options, "{text} or {prompt, completion} rows", async (data, validation, setup, training, plan, [onEvent, , isCancelled]) => {
      const found = await call(() => inner.search(data, validation, setup, training, plan, onEvent, isCancelled));
      return { ...found, model: new DecoderModel(found.model) };
    });
  }

  /** `{ loss, perplexity, tokens, examples }` on `data` (rows as for `finetune`). */
  async evaluate(data, options = {}) {
    checkKeys("evaluate", options, EVALUATE_OPTIONS);
    const { format, signal, ...rest } = options;
    const inner = this.#live();
    const [bytes, dataName] = await dataFile(data, "data", format, signal, "evaluate");
    return call(() => inner.evaluate(bytes, { ...rest, dataName }));
  }

  /**
   * The model as a Hugging Face folder: `{ "config.json", "model.safetensors", "tokenizer.json",
   * "tokenizer_config.json" }` as Uint8Arrays (f32 weights; transformers' `from_pretrained` loads it).
   */
  async export() {
    const inner = this.#live();
    return call(() => inner.export());
  }

  /**
   * The LoRA adapters of a model fine-tuned with `lora`, as PEFT files: `{ "adapter_model.safetensors",
   * "adapter_config.json" }` (Uint8Arrays; `PeftModel.from_pretrained(base, folder)` loads them).
   * `baseModel` is written as `base_model_name_or_path` (default "").
   */
  async exportAdapter(baseModel = "") {
    const inner = this.#live();
    return call(() => inner.exportAdapter(String(baseModel)));
  }

  /** The same adapters as llama.cpp's adapter GGUF: `{ "adapter.gguf" }` (Llama-family models). */
  async exportGgufAdapter() {
    const inner = this.#live();
    return call(() => inner.exportGgufAdapter());
  }

  /**
   * This model with a LoRA adapter attached, as a new DecoderModel sharing this one's weights (a
   * quantized base stays quantized; this one is unchanged): `{ weights, config }` (the bytes of
   * PEFT's adapter_model.safetensors and adapter_config.json) or `{ gguf }` (llama.cpp's adapter
   * GGUF). `name` names the adapter in errors. `info.lora` gives its rank, alpha and target modules.
   */
  async withAdapter({ weights, config, gguf }, name = "adapter") {
    const inner = this.#live();
    return new DecoderModel(await call(() => inner.withAdapter(gguf ?? weights, gguf ? undefined : config, String(name))));
  }

  /** An adapted model with its adapters' product scaled by `scale` (0: the base; 1: as trained), sharing this one's weights. */
  async withAdapterScale(scale) {
    if (typeof scale !== "number" || !Number.isFinite(scale)) throw new OptionsError(`adapterScale must be a finite number, got ${scale}`);
    const inner = this.#live();
    return new DecoderModel(await call(() => inner.withAdapterScale(scale)));
  }

  /** Frees the weights (wasm and GPU memory). The model cannot be used afterwards. */
  dispose() {
    this.#inner?.free();
    this.#inner = null;
  }
}

/**
 * Loads a Llama-family model: `{ gguf }` (one .gguf file: weights, tokenizer, chat template), or
 * the Hugging Face files `{ config, weights, tokenizer, tokenizerConfig?, chatTemplate? }` — each a URL,
 * File/Blob or bytes; the same files by name (`{ "config.json", …, "tokenizer_config.json" }`, what
 * `export()` gives) load too.
 * @param {{gguf?: any, config?: any, weights?: any, tokenizer?: any, tokenizerConfig?: any, chatTemplate?: any}} files
 * @param {{device?: string, signal?: AbortSignal}} [options]
 */
export async function loadDecoder(files, options = {}) {
  checkKeys("loadDecoder", options, ["device", "signal"]);
  const { signal, ...rest } = options;
  files = files && typeof files === "object" ? byRole(files, { ...MODEL_FILES, ...CHAT_FILES }) : files;
  if (files?.gguf != null) {
    const bytes = await bytesOf(files.gguf, "the .gguf file", { signal });
    return new DecoderModel(await call(() => core.Decoder.loadGguf(bytes, rest)));
  }
  const get = (role, name) => bytesOf(files?.[role], name, { signal });
  const [config, weights, tokenizer] = await Promise.all(Object.entries(MODEL_FILES).map(([role, name]) => get(role, name)));
  const [tokenizerConfig, chatTemplate] = await Promise.all(Object.entries(CHAT_FILES).map(([role, name]) => files[role] == null ? undefined : get(role, name)));
  return new DecoderModel(await call(() => core.Decoder.loadHf(config, weights, tokenizer, tokenizerConfig, chatTemplate, rest)));
}
