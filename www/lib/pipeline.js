// pipeline(task, options): a model behind one callable object, run in webtune's Worker.
import { cloneable, lostWithWorker, request, workerGeneration } from "./client.js";
import { OptionsError, checkKeys } from "./errors.js";
import * as store from "./store.js";
import { EVALUATE_OPTIONS, GENERATE_OPTIONS } from "./decoder.js";
import { isGguf } from "./files.js";
import { ADAPTER_OPTIONS, adapterSet } from "./pipeline-adapters.js";
import { TASKS, TASK_ALIASES } from "./generated.js";

/** Whether `task` loads a decoder (the task table comes from the Rust core's `Task`). */
const isDecoder = (task) => TASKS[task]?.modelKind === "decoder";
const LOAD = ["model", "device", "maxLength", "truncate", "batchSize", "onProgress", "signal"];
/** Question answering cuts contexts into overlapping windows (`docStride`) instead of truncating. */
const LOAD_QA = ["model", "device", "maxLength", "docStride", "batchSize", "onProgress", "signal"];
const LOAD_GENERATOR = ["model", "device", "onProgress", "signal"];
const RUN = { "text-classification": ["topK"], "feature-extraction": ["pooling", "normalize"], "token-classification": ["aggregation"], "fill-mask": ["topK", "targets"], "question-answering": ["topK", "maxAnswerLength", "handleImpossibleAnswer"] };
/** "huggingface": the whole model (LoRA adapters merged); "peft": only a LoRA run's adapters;
 * "gguf-lora": a decoder's LoRA adapters as llama.cpp's adapter GGUF; "recipe": the last
 * fine-tuning run as a transformers Trainer + PEFT folder for GPUs. */
const SAVE_FORMATS = ["huggingface", "peft", "gguf-lora", "recipe"];

function checkFunction(where, name, f) {
  if (f !== undefined && typeof f !== "function") throw new OptionsError(`${where}: ${name} must be a function`);
}

/**
 * Loads a model for a task and resolves to a callable pipeline:
 * `await clf("I love this!")` → `[{label, score}, …]`; `await fe(["a", "b"])` → `[[…384 numbers], […]]`.
 * @param {"text-classification"|"feature-extraction"} task
 * @param {object} options  `model` (hub id "org/name", folder URL, picked files or
 *   `{config, weights, tokenizer}`), `device`, `maxLength`, `truncate`, `batchSize`,
 *   `onProgress(event)` (initiate / download / progress / done per file, then ready), `signal`.
 */
export async function pipeline(task, options = {}) {
  if (typeof task === "string" && Object.hasOwn(TASK_ALIASES, task)) task = TASK_ALIASES[task];
  if (typeof task !== "string" || !Object.hasOwn(TASKS, task)) {
    throw new OptionsError(`pipeline: unknown task ${JSON.stringify(task)}; valid tasks are ${Object.keys(TASKS).join(", ")}`);
  }
  checkKeys("pipeline", options, isDecoder(task) ? LOAD_GENERATOR : task === "question-answering" ? LOAD_QA : LOAD);
  const { onProgress, signal, ...args } = options;
  if (args.model == null) {
    throw new OptionsError('pipeline: options.model is required: a hub id ("org/name"), a folder URL, a .gguf URL (text-generation), the picked files of a model folder, or { config, weights, tokenizer }');
  }
  checkFunction("pipeline", "onProgress", onProgress);
  const picked = Array.isArray(args.model) || (typeof FileList !== "undefined" && args.model instanceof FileList) ? Array.from(args.model) : [args.model];
  if (!isDecoder(task) && (await Promise.all(picked.map(isGguf))).some(Boolean)) {
    throw new OptionsError(`pipeline: a .gguf file holds a decoder for text generation; ${task} needs an encoder folder (config.json, model.safetensors, tokenizer.json of a BERT, RoBERTa, XLM-RoBERTa or DistilBERT model). Load the .gguf with pipeline("text-generation")`);
  }
  const { handle, info } = await request("load", cloneable({ task, ...args }), { onEvent: onProgress, signal });
  return isDecoder(task) ? makeGenerator(handle, info) : makePipeline(task, handle, info);
}

/** Stored fine-tuning runs (OPFS): list them, continue one after a reload, delete one. */
export const runs = {
  /** `[{ name, step, updated, finished }]`: `step` is the latest stored checkpoint's. */
  list: () => request("listRuns", {}),
  /**
   * Continues run `name` from its latest checkpoint with the same data and options, ending as the
   * uninterrupted run would; resolves to `{ pipeline, done }` (a new pipeline holding the result).
   * @param {string} name
   * @param {{device?: string, onEvent?: Function, signal?: AbortSignal}} [options]
   */
  async resume(name, options = {}) {
    checkKeys("runs.resume", options, ["device", "onEvent", "signal"]);
    store.checkName("run", name);
    const { onEvent, signal, device } = options;
    checkFunction("runs.resume", "onEvent", onEvent);
    const r = await request("resumeRun", { name, device }, { onEvent, signal });
    const pipeline = isDecoder(r.task) ? makeGenerator(r.handle, r.info) : makePipeline(r.task, r.handle, r.info);
    return { pipeline, done: r.done };
  },
  /**
   * Run `name` as a Hugging Face recipe (the files `save({ format: "recipe" })` gives) that
   * continues it on GPUs from its latest checkpoint: weights, AdamW moments, step, best so far.
   * @param {string} name
   */
  recipe(name) {
    store.checkName("run", name);
    return request("recipeRun", { name });
  },
  /** Deletes run `name`; resolves to whether it existed. */
  delete: (name) => {
    store.checkName("run", name);
    return request("deleteRun", { name });
  },
};

/** Models kept with `save({ name })` (OPFS): list, get their files, delete. */
export const models = {
  /** `[{ name, bytes }]`. */
  list: () => store.listModels(),
  /** The saved files as `File`s: `pipeline(task, { model: await models.files(name) })` loads them. */
  files: (name) => store.modelFiles(name),
  /** Deletes saved model `name`; resolves to whether it existed. */
  delete: (name) => store.removeModel(name),
};

/** The lifecycle every pipeline shares: `live(what)` throws once disposed or lost with its Worker. */
function lifecycle(handle) {
  let disposed = false;
  const generation = workerGeneration();
  return {
    live(what) {
      if (disposed) throw new OptionsError(`${what}: this pipeline was disposed; create a new one with pipeline()`);
      if (generation !== workerGeneration()) throw lostWithWorker(what);
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      if (generation === workerGeneration()) request("dispose", { handle }).catch(() => {}); // else: gone with its Worker
    },
  };
}

/**
 * A text-generation pipeline: `await gen("Once upon a time", { maxNewTokens: 40 })` →
 * `{ text, tokens, promptTokens, stopReason }`; `await gen.chat([{ role: "user", content: "Hi" }])`
 * → the same for the assistant's reply. `onToken(piece)` streams the text; `signal` aborts;
 * `adapter` / `adapterScale` pick one of `gen.adapters` (pipeline-adapters.js) for the call.
 */
function makeGenerator(handle, info) {
  const { live, dispose } = lifecycle(handle);
  const adapters = adapterSet(handle, live);
  const run = async (method, input, options = {}) => {
    live(method === "chat" ? "chat" : "text-generation");
    checkKeys(method, options, [...GENERATE_OPTIONS, ...ADAPTER_OPTIONS]);
    const { onToken, signal, adapter, adapterScale, ...rest } = options;
    checkFunction(method, "onToken", onToken);
    const onEvent = (e) => { if (e.status === "token") onToken?.(e.text); };
    return request("generate", { handle, method, input, options: { ...rest, ...adapters.pick(method, adapter, adapterScale) } }, { onEvent, signal });
  };
  const p = (prompt, options) => run("generate", prompt, options);
  Object.defineProperty(p, "task", { value: "text-generation", enumerable: true });
  Object.defineProperty(p, "info", { get: () => info, enumerable: true });
  p.chat = (messages, options) => run("chat", messages, options);
  p.adapters = adapters.api;
  training(p, handle, live, (i) => { info = i; }, { rows: "{text} or {prompt, completion} rows", evaluate: [...EVALUATE_OPTIONS, ...ADAPTER_OPTIONS], pick: adapters.pick });
  p.dispose = dispose;
  return p;
}

/**
 * `finetune`, `evaluate` and `save` of pipeline `p` (every task has them). `setInfo` takes the
 * model's new info after training; `kind.rows` names the rows data may be, `kind.evaluate` lists
 * evaluate's options, `kind.pick` (generators) picks the adapter evaluate runs with.
 */
function training(p, handle, live, setInfo, kind) {
  /**
   * Fine-tunes this pipeline's model in place; resolves to the `done` event. With `run: "name"`
   * (and `checkpointEvery`) the run is stored in OPFS and `runs.resume(name)` continues it after a reload.
   */
  p.finetune = async (options = {}) => {
    live("finetune");
    if (options == null || typeof options !== "object") throw new OptionsError("finetune: options must be an object");
    const { onEvent, onCheckpoint, signal, ...rest } = options;
    // What crosses into the Worker must be cloneable; the Worker's core rejects unknown keys.
    for (const [k, v] of Object.entries(rest)) {
      if (typeof v === "function" || v instanceof AbortSignal) throw new OptionsError(`finetune: unknown option ${JSON.stringify(k)} (a ${typeof v === "function" ? "function" : "signal"}); only onEvent, onCheckpoint and signal take those`);
    }
    checkFunction("finetune", "onEvent", onEvent);
    checkFunction("finetune", "onCheckpoint", onCheckpoint);
    if (rest.data == null) throw new OptionsError(`finetune: options.data is required (a File, a URL, bytes with format, or an array of ${kind.rows})`);
    if (rest.checkpointEvery != null && !onCheckpoint && rest.run === undefined) {
      throw new OptionsError("finetune: checkpointEvery needs onCheckpoint(files) to receive the checkpoints, or run: \"name\" to store them in OPFS");
    }
    try {
      const r = await request("finetune", { handle, options: cloneable(rest), wantsCheckpoints: !!onCheckpoint }, { onEvent, onCheckpoint, signal });
      setInfo(r.info);
      return r.done;
    } catch (err) {
      if (err.info) setInfo(err.info); // aborted or diverged: the pipeline now holds the model trained so far
      delete err.info;
      throw err;
    }
  };

  /**
   * Hyperparameter search: fine-tunes this pipeline's model once per combination of `space`
   * (`{ learningRate, epochs, batchSize, loraRank }` lists; `strategy` "grid" or "random",
   * `trials` the budget, `seed`), one trial after another in the Worker, every trial from the
   * model as it is now, each judged by `metric` on the validation data; other options as
   * `finetune`. Resolves to `{ trials: [{ index, settings, metric, value, steps }], best, metric }`
   * (the plan and the loop are the core's, as the CLI's `webtune search`); the pipeline then holds
   * the best trial's model. `onEvent` gets each trial's training events (with `trial`: its index)
   * and a `{ type: "trial", index, settings, metric, value, steps }` event as each ends.
   */
  p.search = async (options = {}) => {
    live("search");
    if (options == null || typeof options !== "object") throw new OptionsError("search: options must be an object");
    const { onEvent, signal, ...rest } = options;
    checkFunction("search", "onEvent", onEvent);
    if (rest.data == null) throw new OptionsError(`search: options.data is required (a File, a URL, bytes with format, or an array of ${kind.rows})`);
    for (const key of ["run", "checkpointEvery", "onCheckpoint", "resumeFrom"]) {
      if (key in rest) throw new OptionsError(`search: ${key} is not available in a search; fine-tune the best settings with finetune() for a stored run`);
    }
    const r = await request("search", { handle, options: cloneable(rest) }, { onEvent, signal });
    setInfo(r.info);
    delete r.info;
    return r;
  };

  /** Metrics on `data`: a classifier's accuracy, F1 and so on (EncoderModel.evaluate), a generator's loss and perplexity. */
  p.evaluate = async (data, options = {}) => {
    live("evaluate");
    checkKeys("evaluate", options, kind.evaluate);
    const { signal, adapter, adapterScale, ...rest } = options;
    const picked = kind.pick?.("evaluate", adapter, adapterScale) ?? {}; // a generator's adapter
    return request("evaluate", { handle, data: cloneable(data), options: { ...rest, ...picked } }, { signal });
  };

  /**
   * The model as Hugging Face files, `{ "config.json": Blob, "model.safetensors": Blob, "tokenizer.json": Blob }`;
   * with `directory` (a FileSystemDirectoryHandle, e.g. from showDirectoryPicker()) they are also written there.
   */
  p.save = async (options = {}) => {
    live("save");
    checkKeys("save", options, ["format", "directory", "name"]);
    const { format = "huggingface", directory, name } = options;
    if (name !== undefined) store.checkName("model", name);
    if (format === "recipe" && name !== undefined) {
      throw new OptionsError('save: format "recipe" is a folder to run elsewhere, not a model to keep by name; use the files save() returns, or pass directory');
    }
    if (!SAVE_FORMATS.includes(format)) {
      throw new OptionsError(`save: unknown format ${JSON.stringify(format)}; valid formats are ${SAVE_FORMATS.join(", ")}`);
    }
    const files = await request("save", { handle, name, format });
    const blobs = Object.fromEntries(Object.entries(files).map(([name, bytes]) => [name, new Blob([bytes])]));
    if (directory) {
      for (const [name, blob] of Object.entries(blobs)) {
        let dir = directory; // a SetFit folder names subfolders: 1_Pooling/config.json
        const parts = name.split("/");
        for (const sub of parts.slice(0, -1)) dir = await dir.getDirectoryHandle(sub, { create: true });
        const w = await (await dir.getFileHandle(parts.at(-1), { create: true })).createWritable();
        await w.write(blob);
        await w.close();
      }
    }
    return blobs;
  };

}

function makePipeline(task, handle, info) {
  const { live, dispose } = lifecycle(handle);

  const run = async (texts, options = {}) => {
    live(task);
    checkKeys(task, options, RUN[task]);
    if (task === "question-answering") return answer(texts, options);
    const single = typeof texts === "string";
    if (!single && !(Array.isArray(texts) && texts.every((t) => typeof t === "string"))) {
      throw new OptionsError(`${task}: expected a string or an array of strings`);
    }
    const { topK, ...rest } = options;
    if (topK != null && !(Number.isInteger(topK) && topK > 0)) throw new OptionsError(`${task}: topK must be a positive integer`);
    if (task === "fill-mask") {
      // as transformers: a text with one mask gives its candidates, with several one list per mask
      const out = (await request("run", { handle, texts: single ? [texts] : texts, options })).map((masks) => (masks.length === 1 ? masks[0] : masks));
      return single ? out[0] : out;
    }
    let out = await request("run", { handle, texts: single ? [texts] : texts, options: rest });
    if (topK != null) out = out.map((scores) => scores.slice(0, topK));
    return single ? out[0] : out;
  };

  /**
   * transformers' shapes: `qa({ question, context })` or an array of them; `topK` 1 (the default)
   * gives `{ answer, score, start, end }` per question, more an array of them, best first.
   */
  const answer = async (input, options) => {
    const single = !Array.isArray(input);
    const inputs = single ? [input] : input;
    if (!inputs.every((x) => x && typeof x.question === "string" && typeof x.context === "string")) {
      throw new OptionsError("question-answering: expected { question, context } (strings) or an array of them");
    }
    const out = (await request("run", { handle, texts: inputs.map(({ question, context }) => ({ question, context })), options }))
      .map((answers) => answers.map(({ text, score, start, end }) => ({ answer: text, score, start, end })))
      .map((answers) => ((options.topK ?? 1) === 1 ? answers[0] : answers));
    return single ? out[0] : out;
  };

  // question answering also takes (question, context, options), as transformers.js does
  const p = (...args) => (task === "question-answering" && typeof args[0] === "string" ? run({ question: args[0], context: args[1] }, args[2]) : run(args[0], args[1]));
  Object.defineProperty(p, "task", { value: task, enumerable: true });
  Object.defineProperty(p, "info", { get: () => info, enumerable: true });

  const kinds = {
    "token-classification": { rows: "{tokens, tags} or {text, entities} rows", evaluate: ["format", "signal"] },
    "fill-mask": { rows: "{text} rows", evaluate: ["format", "columns", "signal"] },
    "question-answering": { rows: "{question, context, answers} rows", evaluate: ["format", "signal"] },
  };
  training(p, handle, live, (i) => { info = i; }, kinds[task] ?? { rows: "{text, label} rows", evaluate: ["format", "columns", "signal"] });

  /**
   * Every layer's and head's attention weights for `text`: `{ tokens, layers, heads, weights }`,
   * `weights[layer][head][query][key]` (each row sums to 1), as transformers' `output_attentions`.
   */
  p.attentions = async (text) => {
    live("attentions");
    if (typeof text !== "string" || !text) throw new OptionsError("attentions: text must be a non-empty string");
    return request("attentions", { handle, text });
  };

  /**
   * "Label these next": `texts` (strings, or rows whose `column` — default "text" — holds the
   * text) ordered by how unsure the classifier is of them, most unsure first:
   * `[{ index, text, score, label, probability }]`. `strategy`: "entropy" (default), "margin",
   * "least-confident".
   */
  p.rank = async (texts, options = {}) => {
    live("rank");
    checkKeys("rank", options, ["strategy", "column"]);
    const { strategy = "entropy", column = "text" } = options;
    if (!Array.isArray(texts) || !texts.length) throw new OptionsError("rank: expected a non-empty array of texts or rows");
    const strings = texts.map((t, i) => {
      const text = typeof t === "string" ? t : t?.[column];
      if (typeof text !== "string" || !text.trim()) throw new OptionsError(`rank: row ${i} has no text${typeof t === "string" ? "" : ` in column "${column}"`}; give non-empty strings`);
      return text;
    });
    return request("rank", { handle, texts: strings, strategy });
  };

  /** Frees the model (wasm and GPU memory); the pipeline cannot be used afterwards. */
  p.dispose = dispose;
  return p;
}
