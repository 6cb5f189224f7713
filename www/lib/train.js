// Fine-tuning a text classifier in the browser, from the user's own labelled file.
import { call, core } from "./core.js";
import { AbortError, OptionsError, TrainingError } from "./errors.js";
import { MODEL_FILES, dataFile, modelFiles } from "./files.js";
import { EncoderModel } from "./encoder.js";
import { finetuneSetFit } from "./setfit.js";
import { withoutSentenceFiles } from "./sentence-files.js";

// Besides these setup keys, every key of finetune's options is a training option: those are the
// Rust `TrainOptions`, which rejects an unknown key (index.d.ts re-exports their generated types).
const SETUP = ["data", "validation", "format", "columns", "validationSplit", "device", "onEvent", "onCheckpoint", "resumeFrom", "signal", "run", "augmentModel"];

/**
 * Fine-tunes a BERT-family checkpoint for text classification on labelled data and resolves to
 * the trained model (an EncoderModel: `classify`, `embed`, `export`).
 *
 * @param {string|URL|{config, weights, tokenizer}} source  the checkpoint, as for loadEncoder
 * @param {object} options  `data` (a File, URL, bytes with `format`, or an array of row objects),
 *   `validation` (same kinds; else `validationSplit` of data, default 0.1), `columns`
 *   `{text, textPair?, label}`, `device`, `onEvent(event)`, `signal`, and the training options
 *   (`epochs`, `batchSize`, `learningRate`, …; see index.d.ts). With `checkpointEvery: N`,
 *   `onCheckpoint(files)` gets `{ "model.safetensors": Uint8Array, … }` every N steps; pass such an
 *   object back as `resumeFrom` (same data and options) to continue that run. On abort the promise
 *   rejects with an AbortError whose `model` is the model as trained so far; when the loss
 *   diverges, with a TrainingError whose `model` holds the weights without the skipped updates.
 */
export async function finetune(source, options = {}) {
  if (options?.method === "setfit") {
    if (options.checkpointEvery != null || options.resumeFrom != null) throw new OptionsError("finetune: a SetFit run is not checkpointed or resumed (it is short); leave out checkpointEvery and resumeFrom");
    return finetuneSetFit(source, options, train);
  }
  // augment.model names the masked language model that fills "substitute" and "insert"; a
  // pipeline passes its files, already fetched, as augmentModel
  const { augmentModel, ...rest } = options;
  return train(rest, "{text, label} rows", async (data, validation, setup, training, callbacks) => {
    const files = await modelFiles(withoutSentenceFiles(source), MODEL_FILES, { signal: options.signal });
    const named = training.augment?.model;
    const mlm = augmentModel ?? (named == null ? undefined : await modelFiles(String(named), MODEL_FILES, { signal: options.signal }));
    return new EncoderModel(await call(() => core.fineTune(files.config, files.weights, files.tokenizer, data, validation, setup, training, ...callbacks, mlm)));
  });
}

/**
 * Hyperparameter search over `finetune`'s options plus `space`, `strategy` and `trials` (the plan
 * and the loop are the core's, as in the CLI): resolves to `{ trials, best, model }`, `model` the
 * best trial's EncoderModel. Events as the core's `search` gives them (each trial's with `trial`,
 * and `{ type: "trial", … }` as each ends).
 */
export async function search(source, options = {}) {
  return searchWith(options, "{text, label} rows", async (data, validation, setup, training, plan, [onEvent, , isCancelled]) => {
    const files = await modelFiles(withoutSentenceFiles(source), MODEL_FILES, { signal: options.signal });
    const found = await call(() => core.search(files.config, files.weights, files.tokenizer, data, validation, setup, training, plan, onEvent, isCancelled));
    return { ...found, model: new EncoderModel(found.model) };
  });
}

/**
 * The Hugging Face recipe of fine-tuning the base whose `config.json`, `tokenizer.json` and
 * (optional: a LoRA run's starting adapters, and continuing its checkpoint) `model.safetensors` are
 * `base` (by name, as bytes) for `task` with `finetune`'s options (`webtune recipe`): the folder's
 * files by name, as bytes. `modelName` is what the recipe loads (a hub id or a folder).
 */
export async function recipe(task, base, modelName, options = {}) {
  // how the run was watched and stored is not part of it; resumeFrom (a checkpoint of the run)
  // makes the recipe continue from there
  const { onEvent, onCheckpoint, run, checkpointEvery, ...rest } = options;
  return train(rest, "{text, label} rows", (data, validation, setup, training, callbacks) =>
    call(() => core.writeRecipe(task, base["config.json"], base["tokenizer.json"], base["model.safetensors"], String(modelName), data, validation, setup, training, callbacks[3])),
  { where: "recipe" });
}

/**
 * The `search` of an encoder task besides classification (the core's `searchTask`): `wrap` turns
 * the best trial's model into the task's JS class; `rows` names the rows data may be.
 */
export function taskSearch(task, rows, wrap) {
  return (source, options = {}) => searchWith(options, rows, async (data, validation, setup, training, plan, [onEvent, , isCancelled]) => {
    const files = await modelFiles(source, MODEL_FILES, { signal: options.signal });
    const found = await call(() => core.searchTask(task, files.config, files.weights, files.tokenizer, data, validation, setup, training, plan, onEvent, isCancelled));
    return { ...found, model: wrap(found.model) };
  });
}

/**
 * The part of a search every model shares: splits the plan (`space`, `strategy`, `trials`) from
 * the training options, then reads the data as `train` does and runs `start`, which also gets the plan.
 */
export async function searchWith(options, rows, start) {
  if (options == null || typeof options !== "object") throw new OptionsError("search: options must be an object");
  const { space, strategy, trials, ...rest } = options;
  for (const key of ["run", "checkpointEvery", "onCheckpoint", "resumeFrom"]) {
    if (key in rest) throw new OptionsError(`search: ${key} is not available in a search; fine-tune the best settings with finetune() for a stored run`);
  }
  const plan = Object.fromEntries(Object.entries({ space, strategy, trials }).filter(([, v]) => v !== undefined));
  return train(rest, rows, (data, validation, setup, training, callbacks) => start(data, validation, setup, training, plan, callbacks), { where: "search" });
}

/** Rejects unknown or out-of-range training options in finetune's `options` (the Rust `TrainOptions` decides), before any data is read. */
export function checkTrainOptions(options) {
  const training = Object.fromEntries(Object.entries(options).filter(([k]) => !SETUP.includes(k)));
  return call(() => core.checkTrainOptions(training));
}

/**
 * The part of fine-tuning every model shares: checks the options, reads the data, runs `start`
 * (which gets the data and validation bytes, the setup, the training options and the callbacks
 * `[onEvent, onCheckpoint, isCancelled, resumeFrom]`, and resolves to the trained model), and turns
 * an aborted or diverged run into an AbortError / TrainingError whose `model` is what was trained.
 * `rows` names the rows `data` may be, for the error message. `where` names the call in errors;
 * for "search", `start` resolves to a search's outcome, returned as it is (its trials report their
 * own ends); for "recipe", to the recipe's files.
 */
export async function train(options, rows, start, { where = "finetune" } = {}) {
  if (options == null || typeof options !== "object") throw new OptionsError(`${where}: options must be an object`);
  const { data, validation, format, columns, validationSplit, device, onEvent, onCheckpoint, resumeFrom, signal, ...training } = options;
  if (data == null) throw new OptionsError(`${where}: options.data is required (a File, a URL, bytes with format, or an array of ${rows})`);
  for (const [k, f] of Object.entries({ onEvent, onCheckpoint })) {
    if (f !== undefined && typeof f !== "function") throw new OptionsError(`${where}: ${k} must be a function`);
  }
  if (training.checkpointEvery != null && !onCheckpoint) {
    throw new OptionsError("finetune: checkpointEvery needs onCheckpoint(files) to receive the checkpoints");
  }
  if (resumeFrom != null && (typeof resumeFrom !== "object" || !(resumeFrom["trainer_state.json"] instanceof Uint8Array))) {
    throw new OptionsError("finetune: resumeFrom must be the files object an onCheckpoint call received");
  }
  if (signal?.aborted) throw new AbortError(`${where} was aborted before it started`);
  await checkTrainOptions(training);
  const [dataBytes, dataName] = await dataFile(data, "data", format, signal, where);
  const val = validation == null ? null : await dataFile(validation, "validation", format, signal, where);
  const setup = Object.fromEntries(Object.entries({
    dataName, validationName: val?.[1], columns, validationSplit, device,
  }).filter(([, v]) => v !== undefined));
  let done;
  const callbacks = [
    (event) => {
      if (event.type === "done") done = event;
      onEvent?.(event);
    },
    (files) => onCheckpoint?.(files),
    () => signal?.aborted ?? false,
    resumeFrom ?? undefined,
  ];
  const model = await start(dataBytes, val?.[0], setup, training, callbacks);
  if (where !== "finetune") return model;
  let err;
  if (done?.stopReason === "cancelled") { // an abort after the last step does not undo a finished run
    err = new AbortError("finetune was aborted; `error.model` holds the model as trained so far");
  } else if (done?.stopReason === "diverged") {
    err = new TrainingError(`${done.message}; \`error.model\` holds those weights`);
  }
  if (err) {
    err.model = model;
    throw err;
  }
  return model;
}
