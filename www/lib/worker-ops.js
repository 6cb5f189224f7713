// What a pipeline does, wherever it runs: inside webtune's Worker (worker.js calls these for the
// page) or on the calling thread when `env.useWorker` is false. Models stay here, behind handles.
import { attachAdapter, checkNoAdapters, detachAdapter, detachAll, withAdapter } from "./adapters.js";
import { call, core, loadCore } from "./core.js";
import { OptionsError } from "./errors.js";
import { CHAT_FILES, loadDecoder } from "./decoder.js";
import { download } from "./download.js";
import { loadEncoder } from "./encoder.js";
import { MODEL_FILES, bytesOf, dataFile, isGguf } from "./files.js";
import { TASKS } from "./generated.js";
import { downloadBeside, fetchModel, resolveModel } from "./hub.js";
import { isFolderSource, sentenceFiles, withoutSentenceFiles } from "./sentence-files.js";
import { loadSetFit, setfitFolder, setfitFolderAt } from "./setfit.js";
import * as store from "./store.js";
import { finetuneMaskedLm, loadMaskedLm, searchMaskedLm } from "./masked-lm.js";
import { finetuneAnswerer, loadQuestionAnswerer, searchAnswerer } from "./qa.js";
import { finetuneTagger, loadTokenClassifier, searchTagger } from "./tagger.js";
import { checkTrainOptions, finetune, recipe, search } from "./train.js";

const models = new Map();
let nextHandle = 1;

/** Whether `task` loads a decoder (the task table comes from the Rust core's `Task`). */
const isDecoder = (task) => TASKS[task]?.modelKind === "decoder";

/** The core counts offsets in code points (as Python does); JS strings index UTF-16 code units. */
function utf16(text) {
  const at = [0];
  let units = 0;
  for (const ch of text) at.push((units += ch.length));
  return (span) => ({ ...span, start: at[Math.min(span.start, at.length - 1)], end: at[Math.min(span.end, at.length - 1)] });
}

/** How each encoder task loads, runs and fine-tunes its model (decoders: loadGenerator, the model's own methods). */
const ENCODER_TASKS = {
  "feature-extraction": { load: loadEncoder, run: (m, texts, options) => m.embed(texts, options), finetune, search },
  "text-classification": { load: loadEncoder, run: (m, texts) => m.classify(texts), finetune, search },
  "token-classification": {
    load: loadTokenClassifier,
    run: async (m, texts, options) => (await m.tag(texts, options)).map((entities, i) => entities.map(utf16(texts[i]))),
    finetune: finetuneTagger,
    search: searchTagger,
  },
  "fill-mask": { load: loadMaskedLm, run: (m, texts, options) => m.fill(texts, options), finetune: finetuneMaskedLm, search: searchMaskedLm },
  // texts: [{ question, context }]
  "question-answering": {
    load: loadQuestionAnswerer,
    run: async (m, texts, options) => {
      const out = [];
      for (const { question, context } of texts) out.push((await m.answer(question, context, options)).map(utf16(context)));
      return out;
    },
    finetune: finetuneAnswerer,
    search: searchAnswerer,
  },
};

/** The tasks whose models SetFit trains (sentence embeddings under a classification head). */
const SENTENCE_TASKS = ["feature-extraction", "text-classification"];

/** An encoder folder's files by role (`{ config, weights, tokenizer }`) → by file name, as `export()` gives them. */
const byName = (files) => Object.fromEntries(Object.entries(MODEL_FILES).map(([role, name]) => [name, files[role]]));

function entry(handle) {
  const e = models.get(handle);
  if (!e) throw new OptionsError("this pipeline was disposed (or its worker restarted); create it again with pipeline()");
  return e;
}

/** An encoder's files by name as they are now: the loaded ones, or an export once it was trained. */
async function currentFiles(e) {
  e.files ??= await e.model.export();
  return e.files;
}

function register(task, id, model, files, loadOptions) {
  const handle = nextHandle++;
  models.set(handle, { task, id, model, files, loadOptions });
  return handle;
}

/**
 * Fine-tunes entry `e` from its current files; with `run`, every checkpoint is also stored (in
 * order; a failed write becomes a `warning` event, training goes on) and the run marked finished.
 */
async function train(e, training, run, wantsCheckpoints, { settings, emit, checkpoint, signal }) {
  let done = null;
  if (isDecoder(e.task)) {
    // a decoder's starting weights are not kept after training, so what save({ format: "recipe" })
    // writes is drawn now, from the model the run starts from (a failure is kept for save() to
    // report); the data are read once for both
    training = await withDataFiles(training, signal);
    const { resumeFrom, ...fromStart } = training;
    e.lastRun = { recipe: await e.model.recipe(e.id, fromStart).then((files) => ({ files }), (error) => ({ error })) };
  } else {
    // what save({ format: "recipe" }) writes: the run from the base it starts from (its config and
    // tokenizer; the recipe's program loads the weights itself)
    const { "config.json": config, "tokenizer.json": tokenizer } = await currentFiles(e);
    e.lastRun = { base: { "config.json": config, "tokenizer.json": tokenizer }, training };
  }
  let writes = Promise.resolve();
  const onCheckpoint = run === undefined
    ? (wantsCheckpoints ? checkpoint : undefined)
    : (files) => {
      writes = writes.then(() => store.writeCheckpoint(run, files)).catch((err) => {
        emit({ type: "warning", message: `could not store the checkpoint in OPFS (${err.message}); the run goes on, but resume() starts from the previous one` });
      });
      if (wantsCheckpoints) checkpoint(files);
    };
  if (training.method === "setfit" && e.source && !(await currentFiles(e))["modules.json"]) {
    Object.assign(e.files, await sentenceFiles(e.source.model, e.source.sources, { name: e.id, settings, signal }));
  }
  // the masked language model of contextual augmentation, fetched as pipeline() fetches models
  const named = training.augment?.model;
  const augmentModel = named == null || e.task !== "text-classification"
    ? undefined
    : await fetchModel(resolveModel(named, MODEL_FILES, settings), MODEL_FILES, { settings, onProgress: emit, signal });
  try {
    const options = {
      ...training,
      ...(augmentModel ? { augmentModel } : {}),
      device: training.device ?? e.model.info.device.kind,
      onEvent: (event) => {
        if (event.type === "done") done = event;
        emit(event);
      },
      onCheckpoint,
      signal,
    };
    const trained = isDecoder(e.task) ? await e.model.finetune(options) : await ENCODER_TASKS[e.task].finetune(await currentFiles(e), options);
    replaceModel(e, trained);
    await writes;
    if (run !== undefined) await store.finishRun(run, done);
    return { done, info: trained.info };
  } catch (err) {
    await writes;
    if (err?.model) {
      replaceModel(e, err.model);
      delete err.model;
      err.info = e.model.info;
    }
    throw err;
  }
}

/** `training` with its data and validation read into Files (a URL fetched once), named by their format. */
async function withDataFiles(training, signal) {
  const { format, ...rest } = training;
  const asFile = ([bytes, name]) => new File([bytes], name);
  const data = asFile(await dataFile(training.data, "data", format, signal));
  const validation = training.validation == null ? undefined : asFile(await dataFile(training.validation, "validation", format, signal));
  return { ...rest, data, validation };
}

/** Entry `e`'s model as Hugging Face files by name (bytes); decoders add tokenizer_config.json. */
async function baseFiles(e) {
  return isDecoder(e.task) ? e.model.export() : currentFiles(e);
}

/** A LoRA-tuned model's adapters (and its task head) as PEFT files; the base model named as the pipeline loaded it. */
async function peftFiles(e) {
  if (e.task === "feature-extraction" || !e.model.exportAdapter) {
    const why = e.model.exportAdapter ? "which fine-tuning with lora trains" : `which a ${e.task} model does not take (it trains every weight)`;
    throw new OptionsError(`save: format "peft" holds LoRA adapters, ${why}; save this ${e.task} model with format "huggingface"`);
  }
  return e.model.exportAdapter(e.id);
}

/** The Hugging Face recipe of the run that fine-tuned entry `e` (`save({ format: "recipe" })`). */
async function recipeFiles(e) {
  if (!e.lastRun) {
    throw new OptionsError('save: format "recipe" writes the run that fine-tuned this pipeline (its data and options); call finetune({ data, … }) first');
  }
  if (e.lastRun.recipe) {
    if (e.lastRun.recipe.error) throw e.lastRun.recipe.error;
    return e.lastRun.recipe.files;
  }
  // the run from its start, also when it was resumed from a checkpoint
  const { resumeFrom, ...training } = e.lastRun.training;
  return recipe(e.task, e.lastRun.base, e.id, training);
}

/** A LoRA-tuned decoder's adapters as llama.cpp's adapter GGUF (`adapter.gguf`). */
async function ggufLoraFiles(e) {
  if (!e.model.exportGgufAdapter) {
    throw new OptionsError(`save: format "gguf-lora" holds a decoder's LoRA adapters for llama.cpp; save this ${e.task} model with format "huggingface" or "peft"`);
  }
  return e.model.exportGgufAdapter();
}

/** A loaded model's last progress events: why it runs on the CPU when "auto" settled for it, then ready. */
function emitReady(emit, task, name, device) {
  if (device.fallback) emit({ status: "warning", name, message: `running on the CPU: ${device.fallback}` });
  emit({ status: "ready", task, name });
}

function replaceModel(e, model) {
  if (model === e.model) return;
  e.model.dispose();
  e.model = model;
  e.files = null;
}

/**
 * Each operation gets its arguments and `{ settings, emit(event), checkpoint(files), signal }`.
 */
export const ops = {
  async load({ task, model, ...options }, { settings, emit, signal }) {
    if (isDecoder(task)) return loadGenerator(task, model, options, { settings, emit, signal });
    // files by name may carry a sentence-transformer's modules.json and module configs (a SetFit export)
    // a saved SetFit folder (setfit's or webtune's) classifies with its own head
    let setfit = task === "text-classification" ? await setfitFolder(model, signal) : null;
    const resolved = resolveModel(setfit ? setfit.body : withoutSentenceFiles(model), MODEL_FILES, settings);
    const files = await fetchModel(resolved, MODEL_FILES, { settings, onProgress: emit, signal });
    // a hub id or folder URL is one when it has model_head.pkl beside config.json
    if (task === "text-classification" && !setfit && isFolderSource(model)) {
      const folder = await setfitFolderAt(resolved.sources.config, { name: resolved.id, settings, onProgress: emit, signal });
      if (folder) setfit = { folder };
    }
    const loaded = setfit ? await loadSetFit(files, setfit.folder, { ...options, signal }) : await ENCODER_TASKS[task].load(files, { ...options, signal });
    const handle = register(task, resolved.id, loaded, setfit ? { ...byName(files), ...setfit.folder } : byName(files), options);
    // where finetune({ method: "setfit" }) finds those files (fetched then, not with every load)
    if (SENTENCE_TASKS.includes(task)) models.get(handle).source = { model, sources: resolved.sources };
    emitReady(emit, task, resolved.id, loaded.info.device);
    return { handle, info: loaded.info };
  },

  /**
   * Continues a prompt (`generate`) or answers messages (`chat`), emitting `{ status: "token", text }`;
   * with the base model, or with the loaded adapter `adapter` scaled by `adapterScale`.
   */
  async generate({ handle, method, input, options }, { emit, signal }) {
    const e = entry(handle);
    const { adapter, adapterScale, ...rest } = options;
    return withAdapter(e, adapter, adapterScale, (model) => model[method](input, { ...rest, signal, onToken: (text) => emit({ status: "token", text }) }));
  },

  /** Attaches a LoRA adapter to a decoder's base as `name`: its `{ rank, alpha, targetModules }`. */
  async loadAdapter({ handle, name, source }, ctx) {
    const e = entry(handle);
    if (!e.model.withAdapter) throw new OptionsError(`adapters: a ${e.task} pipeline takes no adapters; load a decoder with pipeline("text-generation")`);
    return attachAdapter(e, name, source, ctx);
  },

  /** Detaches adapter `name`: whether it was loaded. */
  async unloadAdapter({ handle, name }) {
    return detachAdapter(entry(handle), name);
  },

  async run({ handle, texts, options }) {
    const e = entry(handle);
    return ENCODER_TASKS[e.task].run(e.model, texts, options);
  },

  /** An encoder's attention weights for one text. */
  async attentions({ handle, text }) {
    const e = entry(handle);
    if (!e.model.attentions) throw new OptionsError(`attentions: not available for ${e.task} pipelines; load the model with pipeline("feature-extraction")`);
    return e.model.attentions(text);
  },

  /** The texts ordered by the classifier's uncertainty (`pipeline.rank`). */
  async rank({ handle, texts, strategy }) {
    const e = entry(handle);
    if (e.task !== "text-classification") throw new OptionsError(`rank: a ${e.task} pipeline has no classifier to be unsure with; load the model with pipeline("text-classification") and fine-tune it`);
    const predictions = await e.model.classify(texts);
    return (await call(() => core.rankByUncertainty(predictions, strategy))).map((r) => ({ ...r, text: texts[r.index] }));
  },

  /** Metrics on `data`; a generator's with its loaded adapter `adapter` (scaled by `adapterScale`) when given. */
  async evaluate({ handle, data, options }, { signal }) {
    const { adapter, adapterScale, ...rest } = options;
    return withAdapter(entry(handle), adapter, adapterScale, (model) => model.evaluate(data, { ...rest, signal }));
  },

  /**
   * Trains the pipeline's model in place; on abort or divergence it keeps the model trained so far.
   * With `options.run` (a name) the run is stored in OPFS — setup, base model, data, and each
   * checkpoint — so that `resumeRun` can continue it after a reload.
   */
  async finetune({ handle, options, wantsCheckpoints }, ctx) {
    const e = entry(handle);
    checkNoAdapters(e, "finetune");
    const { run, ...training } = options;
    if (run !== undefined) {
      store.checkName("run", run);
      await checkTrainOptions(training); // before the run's files are stored
      if (training.checkpointEvery == null) throw new OptionsError("finetune: a stored run needs checkpointEvery (how often to store a checkpoint)");
      const base = await baseFiles(e);
      const data = await dataFile(training.data, "data", training.format, ctx.signal);
      const validation = training.validation == null ? null : await dataFile(training.validation, "validation", training.format, ctx.signal);
      const { data: _d, validation: _v, format: _f, resumeFrom, ...rest } = training;
      const setup = {
        task: e.task, model: e.id, load: e.loadOptions, device: rest.device ?? e.model.info.device.kind, options: rest,
        data: data[1], validation: validation?.[1] ?? null, started: new Date().toISOString(),
      };
      await store.createRun(run, {
        setup,
        base,
        data: Object.fromEntries([data, ...(validation ? [validation] : [])].map(([bytes, name]) => [name, bytes])),
      });
      // train on the bytes just stored (a URL is not fetched twice), named so their format is known
      const asFile = ([bytes, name]) => new File([bytes], name);
      const stored = { ...rest, resumeFrom, data: asFile(data), validation: validation ? asFile(validation) : undefined };
      return train(e, stored, run, wantsCheckpoints, ctx);
    }
    return train(e, training, run, wantsCheckpoints, ctx);
  },

  /**
   * Hyperparameter search (the core's plan and loop): each trial fine-tunes the pipeline's model as
   * it was before the search; events come with their `trial` index, and a `{ type: "trial" }` event
   * per finished trial. The pipeline then holds the best trial's model.
   */
  async search({ handle, options }, { emit, signal }) {
    const e = entry(handle);
    checkNoAdapters(e, "search");
    const opts = { ...options, device: options.device ?? e.model.info.device.kind, signal, onEvent: emit };
    const searcher = isDecoder(e.task) ? (o) => e.model.search(o) : ENCODER_TASKS[e.task].search && ((o) => currentFiles(e).then((f) => ENCODER_TASKS[e.task].search(f, o)));
    if (!searcher) throw new OptionsError(`search: not available for ${e.task} yet; fine-tune with finetune() and the settings you want`);
    const found = await searcher(opts);
    replaceModel(e, found.model);
    e.lastRun = null; // the recipe of a search's best trial is its settings in a finetune() run
    return { trials: found.trials, best: found.best, metric: found.best.metric, info: e.model.info };
  },

  /** Continues stored run `name` from its latest checkpoint: a new pipeline holding the result. */
  async resumeRun({ name, device }, ctx) {
    const { setup, base, data, checkpoint } = await store.readRun(name);
    const files = { "config.json": base["config.json"], "model.safetensors": base["model.safetensors"], "tokenizer.json": base["tokenizer.json"] };
    const load = { ...setup.load, device: device ?? setup.device, signal: ctx.signal };
    const generator = isDecoder(setup.task);
    const model = generator
      ? await loadDecoder({ config: base["config.json"], weights: base["model.safetensors"], tokenizer: base["tokenizer.json"], tokenizerConfig: base["tokenizer_config.json"] }, load)
      : await ENCODER_TASKS[setup.task].load(files, load);
    const handle = register(setup.task, setup.model, model, generator ? null : files, setup.load);
    const file = (n) => new File([data[n]], n);
    const training = {
      ...setup.options, device: device ?? setup.device, data: file(setup.data),
      validation: setup.validation ? file(setup.validation) : undefined, resumeFrom: checkpoint,
    };
    const { done, info } = await train(entry(handle), training, name, false, ctx);
    return { handle, task: setup.task, info, done };
  },
  /** Stored run `name` as a Hugging Face recipe that continues it from its latest checkpoint. */
  async recipeRun({ name }) {
    const { setup, data, base, checkpoint } = await store.readRun(name);
    const file = (n) => new File([data[n]], n);
    return recipe(setup.task, base, setup.model, {
      ...setup.options, data: file(setup.data), validation: setup.validation ? file(setup.validation) : undefined, resumeFrom: checkpoint ?? undefined,
    });
  },
  /**
   * The model's Hugging Face files by name, as bytes (decoders add tokenizer_config.json); with
   * format "peft", a LoRA-tuned decoder's adapter files.
   */
  async save({ handle, name, format }) {
    const e = entry(handle);
    const files = format === "peft" ? await peftFiles(e)
      : format === "gguf-lora" ? await ggufLoraFiles(e)
      : format === "recipe" ? await recipeFiles(e)
      : await baseFiles(e);
    if (name !== undefined) await store.saveModel(name, files);
    return files;
  },

  async version() {
    return call(() => core.version());
  },

  /** The stored runs (`runs.list()`): the core reads them, so they are listed here. */
  async listRuns() {
    return store.listRuns();
  },

  /** Deletes stored run `name` (`runs.delete`): whether it existed. */
  async deleteRun({ name }) {
    return store.removeRun(name);
  },

  /** `init({ worker: true })`: chooses the Worker's device (the default of later pipelines). */
  async init(options) {
    return call(() => core.init(options));
  },

  /** `selfTest({ worker: true })`: one training step of a tiny network on the Worker's device. */
  async selfTest(options) {
    // no device: the one init() chose (an options object means "auto" to the core)
    return call(() => core.selfTest(options?.device === undefined ? undefined : options));
  },

  /** A first look at a data file: columns, first rows, guessed text/label columns, label counts, warnings. */
  async inspectData({ bytes, name, options }) {
    return call(() => core.inspectData(bytes, name, options));
  },

  /** The same for an encoder task's file: what its reader makes of it (sentences, questions, texts). */
  async inspectTaskData({ bytes, name, task, options }) {
    return call(() => core.inspectTaskData(bytes, name, task, options));
  },

  /** Test builds only (Cargo feature `test-hooks`): a panic inside the wasm core. */
  async panicForTest({ what }) {
    await loadCore();
    if (!core.panicForTest) throw new OptionsError("panicForTest: this webtune package was built without the test-hooks feature");
    core.panicForTest(what);
  },

  async dispose({ handle }) {
    const e = models.get(handle);
    if (e) detachAll(e);
    e?.model.dispose();
    models.delete(handle);
  },
};

/**
 * Loads a decoder for `task` (text generation): one GGUF file (a URL or a picked file), or a
 * Hugging Face folder / hub id (config.json, model.safetensors, tokenizer.json, and
 * tokenizer_config.json for the chat template when there is one).
 */
async function loadGenerator(task, model, { device }, { settings, emit, signal }) {
  const picked = Array.isArray(model) || (typeof FileList !== "undefined" && model instanceof FileList) ? Array.from(model) : null;
  const ggufFlags = picked ? await Promise.all(picked.map(isGguf)) : [];
  const pickedGguf = picked?.find((_, i) => ggufFlags[i]);
  let id, files;
  if (pickedGguf || await isGguf(model)) {
    const src = pickedGguf ?? model;
    if (typeof src === "string" || src instanceof URL) {
      const url = new URL(String(src), globalThis.location?.href).href;
      id = url;
      const file = new URL(url).pathname.split("/").pop();
      files = { gguf: await download(url, { name: id, file, useCache: settings.useCache, cacheName: settings.cacheName, onProgress: emit, signal }) };
    } else {
      id = src.name ?? "model.gguf"; // a File's name; bytes have none
      const bytes = await bytesOf(src, id, { signal });
      emit({ status: "done", name: id, file: id, loaded: bytes.length, total: bytes.length, fromCache: false });
      files = { gguf: bytes };
    }
  } else {
    let source = model, given = {}; // { config, weights, tokenizer, tokenizerConfig?, chatTemplate? }: the last two are optional
    if (model && typeof model === "object" && !picked && !(model instanceof URL)) ({ tokenizerConfig: given.tokenizerConfig, chatTemplate: given.chatTemplate, ...source } = model);
    const resolved = resolveModel(source, MODEL_FILES, settings);
    id = resolved.id;
    files = await fetchModel(resolved, MODEL_FILES, { settings, onProgress: emit, signal });
    // a hub id or folder URL may have tokenizer_config.json and chat_template.jinja beside
    // config.json; files given one by one name theirs
    const folder = isFolderSource(source);
    for (const [role, name] of Object.entries(CHAT_FILES)) {
      files[role] = given[role] ?? picked?.find((f) => f.name === name)
        ?? (folder ? await downloadBeside(resolved.sources.config, name, { name: id, settings, onProgress: emit, signal }) : null) ?? undefined;
    }
  }
  const loaded = await loadDecoder(files, { device, signal });
  const handle = register(task, id, loaded, null, { device });
  emitReady(emit, task, id, loaded.info.device);
  return { handle, info: loaded.info };
}
