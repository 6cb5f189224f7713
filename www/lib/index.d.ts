// The declarations of what crosses between JS and webtune's Rust core — training and generation
// options, events, metrics, completions, device and memory reports — are generated from the Rust
// types (generated.d.ts); this file declares the JS-only API around them.
import type {
  Attentions, Best, ClassMetrics, Completion, DataSummary, DeviceInfo, Evaluation, Event, GenerateSettings, GenerationStopReason,
  InspectOptions, LabelCount, LabelScore, LmMetrics, LoraInit, LoraOptions, MemoryPlan, Metrics, Mode, Schedule,
  SelfTestReport, StopReason, TrainOptions, DevicePreference, Task, ModelKind, SearchPlan, SearchSpace, Strategy, TrialSettings, TrialResult,
  Aggregation, EntityMetrics, EntityTypeMetrics, TokenEntity, MaskFill, SquadMetrics, SquadSubset,
  TaskDataSummary, TaskInspectOptions, TaggedPreview, EntitySpan, QuestionPreview, ContextPart,
  Method, Sampling, Uncertainty, Ranked, AugmentOptions, AugmentOp, Augmented,
} from "./generated.js";
export type {
  Attentions, Best, ClassMetrics, Completion, DataSummary, DeviceInfo, Evaluation, Event, GenerateSettings, GenerationStopReason,
  InspectOptions, LabelCount, LabelScore, LmMetrics, LoraInit, LoraOptions, MemoryPlan, Metrics, Mode, Schedule,
  SelfTestReport, StopReason, TrainOptions, DevicePreference, Task, ModelKind, SearchPlan, SearchSpace, Strategy, TrialSettings, TrialResult,
  Aggregation, EntityMetrics, EntityTypeMetrics, TokenEntity, MaskFill, SquadMetrics, SquadSubset,
  TaskDataSummary, TaskInspectOptions, TaggedPreview, EntitySpan, QuestionPreview, ContextPart,
  Method, Sampling, Uncertainty, Ranked, AugmentOptions, AugmentOp, Augmented,
};

/** Training options (defaults follow Hugging Face's TrainingArguments). */
export type TrainingOptions = TrainOptions;

export interface DeviceOptions {
  /** Default "auto": a hardware WebGPU adapter, else the CPU (a software/fallback adapter such as SwiftShader is slower than the CPU path; `info.fallback` says why). "webgpu" (alias "gpu") takes any adapter, and throws WebGpuUnavailableError instead of falling back. */
  device?: DevicePreference;
}

/** `worker: true`: choose (or test) the device in webtune's Worker, where pipelines run, instead of on this thread. */
export interface InitOptions extends DeviceOptions {
  worker?: boolean;
}

export function init(options?: InitOptions): Promise<DeviceInfo>;
export function selfTest(options?: InitOptions): Promise<SelfTestReport>;
export function version(): Promise<string>;
/**
 * A first look at a data file before training, in webtune's Worker (no model needed): columns,
 * the first rows, the columns that probably hold the text and the label, each label's count, and
 * warnings (one class, heavy imbalance, missing labels, texts `maxLength` will cut).
 */
export function inspectData(
  data: DataSource,
  options?: InspectOptions & { format?: "csv" | "tsv" | "jsonl" | "json"; signal?: AbortSignal },
): Promise<DataSummary>;
/**
 * What an encoder task's reader makes of a file: sentences and their entities (word ranges, end
 * exclusive), questions with their context cut around the first answer, or texts — with counts
 * and warnings. A file the reader refuses rejects with its DataError (naming the line).
 */
export function inspectData(
  data: DataSource,
  options: TaskInspectOptions & {
    task: "token-classification" | "ner" | "question-answering" | "fill-mask";
    format?: "csv" | "tsv" | "jsonl" | "json" | "txt";
    signal?: AbortSignal;
  },
): Promise<TaskDataSummary>;

export class WebtuneError extends Error {}
export class OptionsError extends WebtuneError {}
export class DataError extends WebtuneError {}
export class WeightsError extends WebtuneError {}
export class NetworkError extends WebtuneError {}
export class WebGpuUnavailableError extends WebtuneError {}
export class OutOfMemoryError extends WebtuneError {}
export class AbortError extends WebtuneError {}
export class BackendError extends WebtuneError {}
/**
 * The GPU reported an error (a rejected kernel) or the device was lost: results on it can no longer be trusted.
 * From a pipeline, webtune has already replaced its Worker (and device): load the model again, or `runs.resume(name)`
 * a stored run; from `loadEncoder`/`finetune` on your own thread, reload for a fresh device, or use device "cpu".
 */
export class GpuError extends WebtuneError {}
/** Training diverged (NaN/infinite loss on several steps in a row); `model` holds the weights without the skipped updates. */
export class TrainingError extends WebtuneError { model?: EncoderModel }
/**
 * A bug in webtune: a Rust panic trapped the wasm instance. From a pipeline, webtune has already replaced its
 * Worker, as for a lost GPU device: load the model again, or `runs.resume(name)` a stored run; on your own thread,
 * reload the page. Please report it with the browser console's log.
 */
export class InternalError extends WebtuneError {}

/** A file given as a URL, a File/Blob, or bytes. */
export type FileSource = string | URL | Blob | ArrayBuffer | ArrayBufferView;

export interface LoadEncoderOptions extends DeviceOptions {
  /** Longest input in tokens, special tokens included (default and cap: the model's max_position_embeddings). */
  maxLength?: number;
  /** Cut longer texts (default true); false makes them a DataError. */
  truncate?: boolean;
  /** Texts per forward pass (default 32). */
  batchSize?: number;
  signal?: AbortSignal;
}

export interface EncoderInfo {
  device: DeviceInfo;
  /** Class labels in id order (config.json id2label; LABEL_i when missing). */
  labels: string[];
  hiddenSize: number;
  numLayers: number;
  maxLength: number;
  /** What loading noticed: freshly initialised heads, ignored keys, upcast tensors. */
  warnings: string[];
}

export interface EmbedOptions {
  /** "mean" (default; over real tokens, as sentence-transformers) or "cls". */
  pooling?: "mean" | "cls";
  /** Scale each vector to unit length (default false). */
  normalize?: boolean;
}

export class EncoderModel {
  readonly info: EncoderInfo;
  embed(texts: string | string[], options?: EmbedOptions): Promise<number[][]>;
  classify(texts: string | string[]): Promise<LabelScore[][]>;
  /** Every layer's and head's attention weights for one text (`weights[layer][head][query][key]`), as transformers' `output_attentions`. */
  attentions(text: string): Promise<Attentions>;
  /** Metrics on labelled data (its labels must be `info.labels`): a File, URL, bytes with `format`, or rows. */
  evaluate(data: DataSource, options?: EvaluateOptions): Promise<Metrics>;
  /** Hugging Face files (config.json, model.safetensors, tokenizer.json) that transformers and loadEncoder load. */
  export(): Promise<Record<"config.json" | "model.safetensors" | "tokenizer.json", Uint8Array>>;
  /** A model fine-tuned with `lora`: its adapters and head as PEFT files (`adapter_model.safetensors`, `adapter_config.json`); `baseModel` goes into `base_model_name_or_path`. */
  exportAdapter(baseModel?: string): Promise<Record<string, Uint8Array>>;
  /** The same adapters as llama.cpp's adapter GGUF: `{ "adapter.gguf" }`. */
  exportGgufAdapter(): Promise<Record<string, Uint8Array>>;
  /** A new model with an adapter attached, sharing this one's weights: PEFT's `{ weights, config }` or llama.cpp's `{ gguf }`, as bytes. */
  withAdapter(adapter: { weights: Uint8Array; config: Uint8Array } | { gguf: Uint8Array }, name?: string): Promise<DecoderModel>;
  /** An adapted model with its adapters' product scaled by `scale`, sharing this one's weights. */
  withAdapterScale(scale: number): Promise<DecoderModel>;
  dispose(): void;
}

/** Loads an encoder (`model_type` bert, roberta, xlm-roberta or distilbert) from a folder URL (config.json, model.safetensors, tokenizer.json) or from the three files. */
export function loadEncoder(
  source: string | URL | ModelFiles,
  options?: LoadEncoderOptions,
): Promise<EncoderModel>;

/**
 * A checkpoint's files, Hugging Face Trainer style: `config.json`, `model.safetensors`
 * (loadable by transformers), `optimizer.safetensors`, `trainer_state.json`, and
 * `best.safetensors` while keep-best holds earlier weights.
 */
export type CheckpointFiles = Record<string, Uint8Array>;

/** A labelled data source: a File, a URL or bytes (with `format`), or rows as objects. */
export type DataSource = FileSource | Array<Record<string, string | number>>;

export interface FinetuneOptions extends TrainingOptions, DeviceOptions {
  data: DataSource;
  /** Validation data; without it, `validationSplit` of `data` is held out. */
  validation?: DataSource;
  /** Needed for bytes without a file name; overrides the file extension. */
  format?: "csv" | "tsv" | "jsonl" | "json" | "txt";
  /** Column names: classifiers (default text / label); text generation `{ text }` (every token
   * learned), `{ prompt, completion }` (only the completion learned) or `{ messages }` (conversations
   * `[{ role, content }]`: every assistant turn learned; ShareGPT `conversations` and Alpaca
   * `instruction`/`input`/`output` rows are recognised too); defaults text, prompt, completion, messages.
   * A `.txt` file is a corpus: one text per line, packed into blocks of `maxLength` tokens. */
  columns?: { text?: string; textPair?: string; label?: string; prompt?: string; completion?: string; messages?: string };
  /** Fraction held out for validation when no `validation` is given (default 0.1; 0: none). */
  validationSplit?: number;
  onEvent?: (event: TrainingEvent) => void;
  /** Gets a checkpoint every `checkpointEvery` steps (store it: OPFS, IndexedDB, a download). */
  onCheckpoint?: (files: CheckpointFiles) => void;
  /** Continue the run that wrote this checkpoint (same data and options): the result is the uninterrupted run's. */
  resumeFrom?: CheckpointFiles;
  /** Abort between steps: rejects with AbortError whose `model` is the model trained so far. */
  signal?: AbortSignal;
}

/** What `onEvent` gets: the training loop's events, and the pipeline's storage warnings. */
export type TrainingEvent =
  | Event
  /** A pipeline run could not store a checkpoint in OPFS; training goes on. */
  | { type: "warning"; message: string };

/** Fine-tunes an encoder checkpoint (bert, roberta, xlm-roberta, distilbert) for text classification; resolves to the trained model. */
export function finetune(
  source: string | URL | ModelFiles,
  options: FinetuneOptions,
): Promise<EncoderModel>;

export interface EvaluateOptions {
  /** Needed for bytes without a file name; overrides the file extension. */
  format?: "csv" | "tsv" | "jsonl" | "json";
  /** Column names (default text / label). */
  columns?: { text?: string; textPair?: string; label?: string };
  signal?: AbortSignal;
}

/** Global settings; assigning an unknown key or a wrong type throws OptionsError. */
export interface Env {
  /** Where hub ids are fetched from: `{remoteHost}/{id}/resolve/{revision}/{file}` (default "https://huggingface.co"). */
  remoteHost: string;
  /** Revision of hub ids (default "main"); "org/name@rev" overrides it per model. */
  revision: string;
  /** Whether hub ids may be fetched (default true); URLs and picked files always work. */
  allowRemoteModels: boolean;
  /** Keep downloaded model files in Cache Storage so a reload needs no network (default true). */
  useCache: boolean;
  /** Cache Storage name for model files (default "webtune-models"). */
  cacheName: string;
  /** Run pipelines in webtune's Worker (default true) or on the calling thread. */
  useWorker: boolean;
  /** URL of worker.js when a bundler does not place it next to index.js. */
  workerUrl: string | null;
  /** URL of webtune_core_bg.wasm when a bundler does not place it next to index.js. */
  wasmUrl: string | null;
  /** Where runs and saved models are kept: "auto" (default: the origin private file system, else IndexedDB), "opfs" or "indexeddb". */
  storage: "auto" | "opfs" | "indexeddb";
}
export const env: Env;

/** Deletes cached model files (all, or those whose URL contains `match`); resolves to how many were removed. */
export function clearCache(match?: string): Promise<number>;

/** Where a pipeline's model comes from. */
export type ModelSource =
  | string /* hub id "org/name[@revision]", or a folder URL/path starting with "/", "./", "../" or a scheme */
  | URL
  | FileList
  | File[] /* the picked files of a model folder */
  | ModelFiles;

/**
 * A model folder's files: by role, or by name as `export()` and `save()` give them — with a saved
 * folder's other files too (a SetFit folder's `model_head.pkl`, `modules.json`, …).
 */
export type ModelFiles =
  | { config: FileSource; weights: FileSource; tokenizer: FileSource }
  | { "config.json": FileSource; "model.safetensors": FileSource; "tokenizer.json": FileSource; [file: string]: FileSource };

/** Loading progress, per file (shapes as transformers.js's progress_callback). */
export type ProgressEvent =
  | { status: "initiate" | "download"; name: string; file: string }
  | { status: "progress"; name: string; file: string; loaded: number; total: number | null; progress: number | null; fromCache: boolean }
  | { status: "done"; name: string; file: string; loaded: number; total: number; fromCache: boolean }
  /** `device: "auto"` found no usable hardware WebGPU adapter and runs on the CPU (`message` says why). */
  | { status: "warning"; name: string; message: string }
  | { status: "ready"; task: string; name: string };

export interface PipelineOptions {
  model: ModelSource;
  /** Default "auto": a hardware WebGPU adapter, else the CPU. */
  device?: DevicePreference;
  maxLength?: number;
  truncate?: boolean;
  batchSize?: number;
  onProgress?: (event: ProgressEvent) => void;
  signal?: AbortSignal;
}

interface PipelineBase {
  readonly task: string;
  readonly info: EncoderInfo;
  /** Fine-tunes this pipeline's model in place and resolves to the `done` event; on abort (AbortError) or divergence (TrainingError) the pipeline keeps the model trained so far. */
  finetune(options: FinetuneOptions & {
    /** Store the run in OPFS under this name (with `checkpointEvery`): `runs.resume(name)` continues it after a reload. */
    run?: string;
  }): Promise<Extract<TrainingEvent, { type: "done" }>>;
  /** Every layer's and head's attention weights for one text (`weights[layer][head][query][key]`, rows sum to 1), as transformers' `output_attentions`. */
  attentions(text: string): Promise<Attentions>;
  /** Hyperparameter search: one fine-tuning trial per combination of `space`, in the Worker; the pipeline then holds the best trial's model. */
  search(options: SearchOptions): Promise<SearchResult>;
  evaluate(data: DataSource, options?: EvaluateOptions): Promise<Metrics>;
  /**
   * Hugging Face files as Blobs (LoRA adapters merged; a SetFit model's folder adds its head,
   * `config_setfit.json` and its sentence-transformers modules); with `directory` (File System
   * Access API) also written there. `name` also keeps the files in OPFS (see `models`). The files
   * open again as `pipeline(task, { model: files })`.
   */
  save(options?: { format?: "huggingface"; directory?: FileSystemDirectoryHandle; name?: string }): Promise<Record<"config.json" | "model.safetensors" | "tokenizer.json", Blob> & Record<string, Blob>>;
  /** A classifier fine-tuned with `lora`: its adapters and head as PEFT files (`PeftModel.from_pretrained(base, folder)` loads them). */
  save(options: { format: "peft"; directory?: FileSystemDirectoryHandle; name?: string }): Promise<Record<"adapter_model.safetensors" | "adapter_config.json", Blob>>;
  /** The last `finetune` run as a Hugging Face recipe to run on GPUs (`webtune recipe`): `train.py`
   * (transformers' Trainer, PEFT for LoRA), `recipe.json`, the rows, webtune's batch order,
   * `requirements.txt`, accelerate / DeepSpeed configs and a README. */
  save(options: { format: "recipe"; directory?: FileSystemDirectoryHandle }): Promise<Record<RecipeFile, Blob>>;
  dispose(): void;
}

/** The files of a recipe (`save({ format: "recipe" })`; `validation.jsonl` when the run had validation data). */
export type RecipeFile = "recipe.json" | "train.jsonl" | "validation.jsonl" | "webtune_order.json" | "train.py" | "webtune_recipe.py" | "requirements.txt"
  | "accelerate_multi_gpu.yaml" | "accelerate_deepspeed.yaml" | "ds_zero2.json" | "README.md"
  /** fill-mask: webtune's masks of the training batches and of the validation texts */
  | "webtune_masks.json" | "validation_masks.json"
  /** a LoRA run's starting adapters; a checkpoint's files */
  | `initial_adapter/${string}` | `resume/${string}`;

export interface TextClassificationPipeline extends PipelineBase {
  /** Labels with scores, highest first (all labels unless `topK`). */
  (text: string, options?: { topK?: number }): Promise<LabelScore[]>;
  (texts: string[], options?: { topK?: number }): Promise<LabelScore[][]>;
  /** "Label these next": the texts (or rows, their `column` — default "text") ordered by the classifier's uncertainty, most uncertain first. */
  rank(texts: string[] | Array<Record<string, string | number>>, options?: { strategy?: Uncertainty; column?: string }): Promise<Array<Ranked & { text: string }>>;
}

/** Named entities (`pipeline("token-classification")`, alias `"ner"`): data is CoNLL lines, `{ tokens, tags }` rows or character-span rows `{ text, entities: [{ start, end, label }] }`. */
export interface TokenClassificationPipeline extends Omit<PipelineBase, "evaluate" | "attentions" | "save"> {
  /** Entities with offsets into the text (`text.slice(start, end)`), merged as transformers' `aggregation_strategy` (default "simple"). */
  (text: string, options?: { aggregation?: Aggregation }): Promise<TokenEntity[]>;
  (texts: string[], options?: { aggregation?: Aggregation }): Promise<TokenEntity[][]>;
  /** seqeval's entity precision, recall and F1 (micro and per type) on tagged sentences. */
  evaluate(data: DataSource, options?: { format?: "conll" | "jsonl" | "json" | "txt"; signal?: AbortSignal }): Promise<EntityMetrics>;
  /** Hugging Face files (`…ForTokenClassification`) as Blobs; with `directory` also written there, with `name` kept in OPFS. */
  save(options?: { format?: "huggingface"; directory?: FileSystemDirectoryHandle; name?: string }): Promise<Record<"config.json" | "model.safetensors" | "tokenizer.json", Blob>>;
  /** A tagger fine-tuned with `lora`: its adapters and head as PEFT files (task_type TOKEN_CLS). */
  save(options: { format: "peft"; directory?: FileSystemDirectoryHandle; name?: string }): Promise<Record<"adapter_model.safetensors" | "adapter_config.json", Blob>>;
  /** The last `finetune` run as a Hugging Face recipe to run on GPUs (`webtune recipe --task token-classification`):
   * `train.py` (transformers' Trainer, PEFT for LoRA; sub-words labelled and entities scored as webtune's), the
   * sentences, webtune's batch order, accelerate / DeepSpeed configs and a README. */
  save(options: { format: "recipe"; directory?: FileSystemDirectoryHandle }): Promise<Record<RecipeFile, Blob>>;
}

/** Masked-language modelling (`pipeline("fill-mask")`): training continues pretraining on plain text (a .txt file, or `columns.text` of a table). */
export interface FillMaskPipeline extends Omit<PipelineBase, "evaluate" | "attentions" | "save"> {
  /** The likeliest tokens for the mask, most likely first (a text with several masks: one list per mask), as transformers' fill-mask. */
  (text: string, options?: FillMaskOptions): Promise<MaskFill[] | MaskFill[][]>;
  (texts: string[], options?: FillMaskOptions): Promise<(MaskFill[] | MaskFill[][])[]>;
  /** Masked-LM loss and perplexity on plain texts, each masked with a fixed draw. */
  evaluate(data: DataSource, options?: { format?: "txt" | "csv" | "tsv" | "jsonl" | "json"; columns?: { text?: string }; signal?: AbortSignal }): Promise<LmMetrics>;
  /** Hugging Face files (`…ForMaskedLM`) as Blobs; with `directory` also written there, with `name` kept in OPFS. */
  save(options?: { format?: "huggingface"; directory?: FileSystemDirectoryHandle; name?: string }): Promise<Record<"config.json" | "model.safetensors" | "tokenizer.json", Blob>>;
  /** The last `finetune` run as a Hugging Face recipe (`webtune recipe --task fill-mask`): `train.py`, the texts, webtune's batches and masks, GPU configs and a README. */
  save(options: { format: "recipe"; directory?: FileSystemDirectoryHandle }): Promise<Record<RecipeFile, Blob>>;
}

export interface FillMaskOptions {
  /** Candidates per mask (default 5). */
  topK?: number;
  /** Only these tokens are candidates (a word outside the vocabulary stands for its first token). */
  targets?: string[];
}

/** One answer: its text, its probability among the best candidates, and where it is in the context (`context.slice(start, end)`). */
export interface QuestionAnswer {
  answer: string;
  score: number;
  start: number;
  end: number;
}

export interface QuestionAnsweringOptions {
  /** Answers per question (default 1: one answer object; more: an array, best first). */
  topK?: number;
  /** Longest answer in tokens (default 30). */
  maxAnswerLength?: number;
  /** Allow "no answer" (an empty `answer`) for SQuAD 2.0 models (default false). */
  handleImpossibleAnswer?: boolean;
}

/** Extractive question answering (`pipeline("question-answering")`): long contexts are read in overlapping windows (`docStride`). */
export interface QuestionAnsweringPipeline extends Omit<PipelineBase, "evaluate" | "attentions" | "save"> {
  (question: string, context: string, options?: QuestionAnsweringOptions): Promise<QuestionAnswer | QuestionAnswer[]>;
  (input: { question: string; context: string }, options?: QuestionAnsweringOptions): Promise<QuestionAnswer | QuestionAnswer[]>;
  (inputs: { question: string; context: string }[], options?: QuestionAnsweringOptions): Promise<(QuestionAnswer | QuestionAnswer[])[]>;
  /** SQuAD exact match and F1 (v2.0's breakdown when some questions are unanswerable) on SQuAD JSON or `{question, context, answers}` rows. */
  evaluate(data: DataSource, options?: { format?: "json" | "jsonl"; signal?: AbortSignal }): Promise<SquadMetrics>;
  /** Hugging Face files (`…ForQuestionAnswering`) as Blobs; with `directory` also written there, with `name` kept in OPFS. */
  save(options?: { format?: "huggingface"; directory?: FileSystemDirectoryHandle; name?: string }): Promise<Record<"config.json" | "model.safetensors" | "tokenizer.json", Blob>>;
  /** The last `finetune` run as a Hugging Face recipe (`webtune recipe --task question-answering`): `train.py`, the questions, webtune's batches, GPU configs and a README. */
  save(options: { format: "recipe"; directory?: FileSystemDirectoryHandle }): Promise<Record<RecipeFile, Blob>>;
}

export interface FeatureExtractionPipeline extends PipelineBase {
  (text: string, options?: EmbedOptions): Promise<number[]>;
  (texts: string[], options?: EmbedOptions): Promise<number[][]>;
}

/** A hyperparameter search: the settings to vary and the budget; everything else as `finetune` (no stored runs). */
export interface SearchOptions extends Omit<FinetuneOptions, "checkpointEvery" | "onCheckpoint" | "resumeFrom" | "onEvent">, SearchPlan {
  /** Each trial's training events with `trial` set, and `{ type: "trial", …TrialResult }` as each ends. */
  onEvent?: (event: (TrainingEvent & { trial: number }) | ({ type: "trial" } & TrialResult)) => void;
}

/** A finished trial (the same shape the CLI's `webtune search` prints). */
export type SearchTrial = TrialResult;

export interface SearchResult {
  trials: TrialResult[];
  best: TrialResult;
  metric: string;
}

/** How text is generated. */
export interface GenerateOptions extends GenerateSettings {
  /** Each piece of text as it is generated (never a broken character). */
  onToken?: (piece: string) => void;
  /** Aborts with an AbortError; the model stays usable. */
  signal?: AbortSignal;
}

/** One message of a conversation. */
export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

export interface DecoderInfo {
  device: DeviceInfo;
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  /** The model's context length (max_position_embeddings). */
  maxLength: number;
  /** Whether the model has a chat template (`chat` needs one). */
  chatTemplate: boolean;
  /** Bytes the weights take in memory (on WebGPU: GPU memory). */
  weightBytes: number;
  /** How they are held: `"f32"`, or a GGUF file's types kept quantized (CPU path and WebGPU), e.g. `"Q4_1, Q8_0"`. */
  weightFormat: string;
  /** What loading noticed (dequantized weights, ignored tensors). */
  warnings: string[];
  /** The LoRA adapters the model carries (trained with `lora`, or attached), else absent. */
  lora?: LoraInfo;
}

/** A LoRA adapter's settings. */
export interface LoraInfo {
  rank: number;
  alpha: number;
  targetModules: string[];
}

/** Where an adapter comes from: a `.gguf` adapter (llama.cpp's; URL, File or bytes), a PEFT adapter
 * folder (hub id, folder URL, or the picked `adapter_config.json` + `adapter_model.safetensors`),
 * what `save({ format: "peft" | "gguf-lora" })` gave, or `"saved:NAME"` (saved with `save({ name, format })`). */
export type AdapterSource =
  | string
  | URL
  | Blob
  | Uint8Array
  | ArrayBuffer
  | FileList
  | File[]
  | { "adapter_model.safetensors": FileSource; "adapter_config.json": FileSource }
  | { "adapter.gguf": FileSource };

/** Generation options of a pipeline: also which adapter answers. */
export interface PipelineGenerateOptions extends GenerateOptions {
  /** A loaded adapter's name; `null`: the base model. Default: the one `adapters.use` chose, else the base. */
  adapter?: string | null;
  /** Multiplies the adapter's product (0: the base, 1: as trained; PEFT's `scale_layer`). */
  adapterScale?: number;
}

/** LoRA adapters on a text-generation pipeline's one loaded base, switched per call without reloading or copying it. */
export interface PipelineAdapters {
  /** Attaches `source` as `name`; an adapter made for another model is refused with the file and tensor named. */
  load(name: string, source: AdapterSource, options?: { onProgress?: (event: ProgressEvent) => void; signal?: AbortSignal }): Promise<LoraInfo & { name: string }>;
  /** The adapter later calls use unless they pass `adapter` (`null`: the base model). */
  use(name: string | null, options?: { scale?: number }): void;
  /** Detaches and frees adapter `name`; whether it was loaded. */
  unload(name: string): Promise<boolean>;
  list(): Array<LoraInfo & { name: string; active: boolean; scale: number }>;
  readonly active: { name: string; scale: number } | null;
}

/** A decoder: a Llama-family model from one .gguf file (`{ gguf }`) or Hugging Face files, or a Qwen2/Qwen3 or GPT-2 from Hugging Face files. */
export type DecoderSource =
  | string /* a .gguf URL, a hub id or a folder URL (config.json, model.safetensors, tokenizer.json, tokenizer_config.json?) */
  | URL
  | Blob /* a GGUF file: recognised by its first bytes, or by a .gguf name */
  | Uint8Array
  | ArrayBuffer
  | FileList
  | File[]
  | DecoderFiles;

/** A decoder folder's files: by role, or by name as `export()` gives them. */
export type DecoderFiles =
  | { config: FileSource; weights: FileSource; tokenizer: FileSource; tokenizerConfig?: FileSource; chatTemplate?: FileSource }
  | { "config.json": FileSource; "model.safetensors": FileSource; "tokenizer.json": FileSource; "tokenizer_config.json"?: FileSource };

export interface TextGenerationPipeline {
  readonly task: "text-generation";
  readonly info: DecoderInfo;
  /** Continues `prompt`. */
  (prompt: string, options?: PipelineGenerateOptions): Promise<Completion>;
  /** The assistant's reply to `messages`, through the model's chat template. */
  chat(messages: ChatMessage[], options?: PipelineGenerateOptions): Promise<Completion>;
  /** LoRA adapters attached to the loaded model, picked per call (`adapter`, `adapterScale`). */
  readonly adapters: PipelineAdapters;
  /** Fine-tunes all weights in place as a causal LM (rows `{ text }`, `{ prompt, completion }` or `{ messages }`);
   * resolves to the `done` event; on abort the pipeline keeps the model trained so far. With
   * `run: "name"` (and `checkpointEvery`) the run is stored and `runs.resume(name)` continues it. */
  finetune(options: FinetuneOptions & { run?: string }): Promise<Extract<TrainingEvent, { type: "done" }>>;
  /** Loss and perplexity; with `adapter` (and `adapterScale`), of the base with that loaded adapter. */
  evaluate(data: DataSource, options?: LmEvaluateOptions & { adapter?: string | null; adapterScale?: number }): Promise<LmMetrics>;
  /** Hyperparameter search (`space` may include `loraRank`); the pipeline then holds the best trial's model. */
  search(options: SearchOptions): Promise<SearchResult>;
  /** Hugging Face files (f32 weights, LoRA adapters merged) as Blobs, loadable by transformers;
   * `format: "peft"`: a LoRA run's `adapter_model.safetensors` + `adapter_config.json` (PEFT loads them);
   * `format: "gguf-lora"`: the same adapters as llama.cpp's `adapter.gguf` (llama.cpp, wllama and
   * Ollama load it onto the base model's GGUF; Llama-family models).
   * `directory`/`name` as for other pipelines. */
  save(options?: { format?: "huggingface" | "peft" | "gguf-lora"; directory?: FileSystemDirectoryHandle; name?: string }): Promise<Record<string, Blob>>;
  /** The last `finetune` run as a Hugging Face recipe to run on GPUs (`webtune recipe --task text-generation`):
   * `train.py` (transformers' Trainer, PEFT for LoRA; the chat template, assistant-only loss and packing as
   * webtune's), `recipe.json`, the rows, webtune's batch order, LoRA's `initial_adapter/`, accelerate /
   * DeepSpeed configs and a README. */
  save(options: { format: "recipe"; directory?: FileSystemDirectoryHandle }): Promise<Record<string, Blob>>;
  dispose(): void;
}

export interface LmEvaluateOptions {
  format?: "csv" | "tsv" | "jsonl" | "json" | "txt";
  columns?: { text?: string; prompt?: string; completion?: string; messages?: string };
  /** Longest example in tokens (default 512). */
  maxLength?: number;
  /** Examples per forward pass (default 8). */
  batchSize?: number;
  chatTemplate?: boolean;
  /** Also answer each row's prompt greedily and score the answers (BLEU, ROUGE-L). */
  generate?: boolean;
  /** With `generate`: the longest answer in tokens (default 128). */
  maxNewTokens?: number;
  signal?: AbortSignal;
}

/**
 * A model for a task, run in webtune's Worker. What each family (`config.json` `model_type`) supports:
 *
 * | family | feature-extraction | text-classification | token-classification | question-answering | fill-mask | text-generation | finetune | LoRA | save |
 * |---|---|---|---|---|---|---|---|---|---|
 * | `bert`, `roberta`, `xlm-roberta`, `camembert`, `distilbert` | ✓ | ✓ | ✓ | ✓ | ✓ | – | ✓ | ✓ (classification only) | ✓ (`"huggingface"`, `"peft"`) |
 * | `llama` (also `.gguf`), `gpt2` | – | – | – | – | – | ✓ | ✓ | ✓ | ✓ (`"huggingface"`, `"peft"`) |
 *
 * Any other `model_type` is a `WeightsError` naming the nearest family webtune reads.
 */
export function pipeline(task: "text-classification", options: PipelineOptions): Promise<TextClassificationPipeline>;
export function pipeline(task: "feature-extraction", options: PipelineOptions): Promise<FeatureExtractionPipeline>;
export function pipeline(task: "token-classification" | "ner", options: Omit<PipelineOptions, "truncate">): Promise<TokenClassificationPipeline>;
export function pipeline(task: "fill-mask", options: Omit<PipelineOptions, "truncate">): Promise<FillMaskPipeline>;
export function pipeline(task: "question-answering", options: Omit<PipelineOptions, "truncate"> & { docStride?: number }): Promise<QuestionAnsweringPipeline>;
export function pipeline(
  task: "text-generation",
  options: { model: DecoderSource; device?: DevicePreference; onProgress?: (event: ProgressEvent) => void; signal?: AbortSignal },
): Promise<TextGenerationPipeline>;

/** A loaded decoder on the calling thread (pipelines run one in webtune's Worker). */
export class DecoderModel {
  readonly info: DecoderInfo;
  generate(prompt: string, options?: GenerateOptions): Promise<Completion>;
  chat(messages: ChatMessage[], options?: GenerateOptions): Promise<Completion>;
  /** Fine-tunes all weights: a new DecoderModel (this one is unchanged); see TextGenerationPipeline.finetune. */
  finetune(options: FinetuneOptions): Promise<DecoderModel>;
  /** Hyperparameter search from this model (as `pipeline.search`): every trial, the best, and the best trial's model. */
  search(options: SearchOptions): Promise<{ trials: TrialResult[]; best: TrialResult; model: DecoderModel }>;
  evaluate(data: DataSource, options?: LmEvaluateOptions): Promise<LmMetrics>;
  /** `{ "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json" }` as bytes (LoRA merged). */
  export(): Promise<Record<string, Uint8Array>>;
  /** A LoRA run's adapters: `{ "adapter_model.safetensors", "adapter_config.json" }` (`baseModel`: base_model_name_or_path). */
  exportAdapter(baseModel?: string): Promise<Record<string, Uint8Array>>;
  /** The same adapters as llama.cpp's adapter GGUF: `{ "adapter.gguf" }`. */
  exportGgufAdapter(): Promise<Record<string, Uint8Array>>;
  /** A new model with an adapter attached, sharing this one's weights: PEFT's `{ weights, config }` or llama.cpp's `{ gguf }`, as bytes. */
  withAdapter(adapter: { weights: Uint8Array; config: Uint8Array } | { gguf: Uint8Array }, name?: string): Promise<DecoderModel>;
  /** An adapted model with its adapters' product scaled by `scale`, sharing this one's weights. */
  withAdapterScale(scale: number): Promise<DecoderModel>;
  dispose(): void;
}

/** Loads a decoder (Llama-family: `{ gguf }` or Hugging Face files; GPT-2: Hugging Face files): `{ config, weights, tokenizer, tokenizerConfig?, chatTemplate? }` (chat_template.jinja), each a URL, File/Blob or bytes. */
export function loadDecoder(
  files: { gguf: FileSource } | DecoderFiles,
  options?: { device?: DevicePreference; signal?: AbortSignal },
): Promise<DecoderModel>;

/** Fine-tuning runs stored in OPFS by `finetune({ run, checkpointEvery })`. */
export const runs: {
  list(): Promise<Array<{ name: string; step: number; updated: string | null; finished: boolean }>>;
  /** Continues a run from its latest checkpoint; ends as the uninterrupted run would. */
  resume(name: string, options?: { device?: DevicePreference; onEvent?: (event: TrainingEvent) => void; signal?: AbortSignal }):
    Promise<{ pipeline: TextClassificationPipeline | TextGenerationPipeline; done: Extract<TrainingEvent, { type: "done" }> }>;
  /** The run as a Hugging Face recipe that continues it from its latest checkpoint (text classification, all weights or LoRA; other tasks' recipes come from `save({ format: "recipe" })`): the files by name. */
  recipe(name: string): Promise<Record<string, Uint8Array>>;
  delete(name: string): Promise<boolean>;
};

/** Models kept in OPFS by `save({ name })`. */
export const models: {
  list(): Promise<Array<{ name: string; bytes: number }>>;
  /** The files, for `pipeline(task, { model: files })` or a download. */
  files(name: string): Promise<File[]>;
  delete(name: string): Promise<boolean>;
};
