// Generated from webtune's Rust types by tests/generated_types.rs (typescript_declarations_match_the_rust_types);
// do not edit: change the Rust type, then run `WEBTUNE_UPDATE_TYPES=1 cargo test --test generated_types`.

/**
 * Options of a fine-tuning run: the one definition for the JS API (unknown keys are an error;
 * the TypeScript declarations are generated from it) and the CLI's `train` flags.
 */
export type TrainOptions = { 
/**
 * Passes over the training data (default 3).
 */
epochs?: number, 
/**
 * Examples per forward pass (default 16).
 */
batchSize?: number, 
/**
 * Peak learning rate (default 5e-5).
 */
learningRate?: number, 
/**
 * AdamW decoupled weight decay, not applied to biases and LayerNorm (default 0.01).
 */
weightDecay?: number, 
/**
 * Warmup as a number of optimizer steps (exclusive with the warmup ratio).
 */
warmupSteps?: number | null, 
/**
 * Warmup as a fraction of all optimizer steps (default 0 when neither is given).
 */
warmupRatio?: number | null, 
/**
 * Learning-rate shape after warmup (default linear decay to 0).
 */
schedule?: Schedule, 
/**
 * Longest input in tokens; longer texts are truncated (default 128).
 */
maxLength?: number, 
/**
 * Seeds the head's initialisation, dropout, the data order and the validation split (default 42).
 */
seed?: number, 
/**
 * Batches per optimizer step (default 1).
 */
gradAccum?: number, 
/**
 * Clip the global gradient norm to this (default 1.0; 0 or `null` turns clipping off).
 */
maxGradNorm?: number | null, 
/**
 * Evaluate every N optimizer steps, besides at each epoch end (default: epoch ends only).
 */
evalEvery?: number | null, 
/**
 * Stop after this many evaluations without improvement (default: never stop early).
 */
earlyStoppingPatience?: number | null, 
/**
 * Metric that decides "better" for early stopping and keep-best: for classifiers
 * `accuracy`, `macro_f1`, `loss`, … (default `accuracy`); for token classifiers entity `f1`,
 * for question answering SQuAD `f1` or `exact_match` (default `f1`),
 * `precision`, `recall`, `accuracy`, `loss` (default `f1`); for language models (and masked
 * LMs) `loss` or `perplexity` (default `loss`).
 */
metric?: "accuracy" | "macro_f1" | "macro_precision" | "macro_recall" | "f1" | "exact_match" | "precision" | "recall" | "loss" | "perplexity" | null, 
/**
 * Whether larger (`max`) or smaller (`min`) `metric` is better (default: `min` for `loss`
 * and `perplexity`, else `max`).
 */
mode?: Mode | null, 
/**
 * At the end, go back to the weights of the best evaluation (default true).
 */
keepBest?: boolean, 
/**
 * Batch texts of similar length together (less padding, faster; default false).
 */
groupByLength?: boolean, 
/**
 * Report a `step` event every N optimizer steps (default 10). Each report reads the loss
 * back from the GPU; reading every step would slow training down.
 */
logEvery?: number, 
/**
 * Hand a checkpoint (weights, optimizer state, position) to the caller every N optimizer
 * steps, to resume from after a crash or a reload (default: none).
 */
checkpointEvery?: number | null, 
/**
 * Text generation: wrap prompt/completion rows in the model's chat template, as `chat()`
 * renders a conversation (default: when the model has one). Not for classifiers.
 */
chatTemplate?: boolean | null, 
/**
 * Text generation: pack plain `text` rows into blocks of `maxLength` tokens, each text
 * followed by EOS, every token learned (as transformers' run_clm.py; a `.txt` file is always
 * packed). Off by default: each row is its own example.
 */
packing?: boolean, 
/**
 * Recompute what memory-bound operations (norms, activations, softmax) produced in the
 * backward pass instead of keeping it from the forward pass: less memory for activations,
 * more time per step; the same numbers (default false).
 */
gradientCheckpointing?: boolean, 
/**
 * Text generation with LoRA on a GGUF model: widen the frozen base to f32 first instead of
 * keeping it quantized (QLoRA; default false: about the file's size in memory instead of
 * 4–8× it, the same numbers).
 */
dequantizeBase?: boolean, 
/**
 * Token classification: label every token of a word (a `B-` tag's later tokens as its
 * `I-`), not only its first (default false, as transformers' run_ner.py).
 */
labelAllTokens?: boolean, 
/**
 * Fill-mask: the chance that a token is masked (default 0.15, as BERT).
 */
mlmProbability?: number | null, 
/**
 * Fill-mask: mask whole words (all their tokens, always with the mask token), as
 * transformers' `whole_word_mask` (default false).
 */
wholeWordMask?: boolean, 
/**
 * Question answering: context tokens each window repeats from the one before (default 128,
 * at most a third of maxLength).
 */
docStride?: number | null, 
/**
 * Text classification: "finetune" (default) or "setfit", for few labelled rows: the
 * sentence-transformer body learns from pairs of rows (epochs, batchSize, learningRate, …
 * then drive that phase: setfit's defaults are epochs 1, learningRate 2e-5, warmupRatio
 * 0.1), then a logistic-regression head is fitted on its embeddings.
 */
method?: Method, 
/**
 * SetFit: pairs of each kind (same class, other class) per training row; without it,
 * `samplingStrategy` decides.
 */
numIterations?: number | null, 
/**
 * SetFit: how many pairs of each kind when `numIterations` is not given: "oversampling"
 * (as many as the commoner kind; setfit's default), "undersampling", "unique".
 */
samplingStrategy?: Sampling | null, 
/**
 * SetFit: the head, "logistic" (default; setfit's `LogisticRegression`) or "differentiable"
 * (setfit's `SetFitHead`, trained on the frozen body's embeddings, or with the body: `endToEnd`).
 */
head?: SetFitHeadKind | null, 
/**
 * SetFit's differentiable head: epochs over the rows (setfit's default 16).
 */
headEpochs?: number | null, 
/**
 * SetFit's differentiable head: rows per step (setfit's default 2).
 */
headBatchSize?: number | null, 
/**
 * SetFit's differentiable head: AdamW's learning rate, halved every 5 epochs (setfit's
 * default 1e-2).
 */
headLearningRate?: number | null, 
/**
 * SetFit's differentiable head: train the body with it (setfit's `end_to_end=True`): every
 * step runs the texts through the body, whose weights learn at `headBodyLearningRate`. Off
 * (default), the body is frozen once its contrastive phase is over.
 */
endToEnd?: boolean, 
/**
 * SetFit's differentiable head with `endToEnd`: the body's learning rate in the head's epochs,
 * halved with the head's (setfit's `body_learning_rate[1]`, default 1e-5).
 */
headBodyLearningRate?: number | null, 
/**
 * Text classification: augmented copies of each training row, made afresh every epoch (EDA's
 * random swap and deletion; never written into the data): `{ ops, rate, copies, seed }`.
 */
augment?: AugmentOptions | null, 
/**
 * Train LoRA adapters instead of all weights (the base is frozen; the task's head —
 * `classifier`, `qa_outputs` — is trained in full, as PEFT's `modules_to_save`); save them
 * with format "peft". Not for fill-mask (its head is tied to the embeddings).
 */
lora?: LoraOptions | null, };

/**
 * LoRA settings (PEFT's `LoraConfig`: `r` is `rank`, `lora_alpha` is `alpha`, `lora_dropout` is
 * `dropout`, `use_rslora` is `rslora`, `init_lora_weights` is `init`).
 */
export type LoraOptions = { 
/**
 * Rank of the adapters (default 8).
 */
rank?: number, 
/**
 * Scale numerator: adapters add `alpha / rank · A·B` (default 16).
 */
alpha?: number, 
/**
 * Which projections get adapters, by PEFT's module names (default as PEFT: `q_proj`, `v_proj`
 * for Llama; `c_attn` for GPT-2 (`c_proj` names both its attention output and its MLP's);
 * `query`, `value` for BERT and RoBERTa; `q_lin`, `v_lin` for DistilBERT).
 */
targetModules?: Array<"q_proj" | "k_proj" | "v_proj" | "o_proj" | "gate_proj" | "up_proj" | "down_proj" | "c_attn" | "c_proj" | "c_fc" | "query" | "key" | "value" | "q_lin" | "k_lin" | "v_lin" | "out_lin" | "lin1" | "lin2">, 
/**
 * Dropout on the adapters' input while training, in [0, 1) (default 0, as PEFT; decoders only).
 */
dropout?: number, 
/**
 * Rank-stabilised scale `alpha / √rank` instead of `alpha / rank` (default false).
 */
rslora?: boolean, 
/**
 * How `A` starts (default `"kaiming"`, PEFT's default).
 */
init?: LoraInit, };

/**
 * How training rows are augmented: each row gets `copies` augmented copies per epoch, each
 * made by one of `ops` (chosen at random), drawn afresh every epoch from `seed`.
 */
export type AugmentOptions = { 
/**
 * The operations (default both: "swap", "delete").
 */
ops?: Array<AugmentOp>, 
/**
 * EDA's α: the share of words swapped, or each word's chance to be deleted (default 0.1).
 */
rate?: number, 
/**
 * Augmented copies of each training row per epoch (default 1).
 */
copies?: number, 
/**
 * Seeds the draws (default: the run's seed).
 */
seed?: number | null, 
/**
 * The masked language model that fills "substitute" and "insert" (a hub id or URL in the
 * browser, a folder in the CLI); default: the model being fine-tuned, which then needs its
 * masked-LM head (BERT's `cls.predictions`, RoBERTa's `lm_head`, …).
 */
model?: string | null, };

/**
 * What [`inspect`] is told.
 */
export type InspectOptions = { 
/**
 * The label column, instead of the guess.
 */
label?: string, 
/**
 * The text column, instead of the guess.
 */
text?: string, 
/**
 * Tokens the model will read per example (default 128): longer texts are reported.
 */
maxLength?: number, 
/**
 * Rows in `preview` (default 10, at most 100).
 */
previewRows?: number, 
/**
 * Augmentation to preview: the first rows' texts, each with an augmented copy made as
 * training with these `augment` options makes them (training draws afresh per row and
 * epoch); the words "substitute" and "insert" leave to a masked language model show as
 * `[MASK]`.
 */
augment?: AugmentOptions, 
/**
 * The run's seed, for `augment` without a seed of its own (default 42, as training's).
 */
seed?: number, };

/**
 * What [`inspect_task_data`] is told.
 */
export type TaskInspectOptions = { 
/**
 * Examples in `preview` (default 5, at most 50).
 */
previewRows?: number, 
/**
 * fill-mask: the column of a table's texts (default `"text"`; a `.txt` file is read line by line).
 */
text?: string, };

/**
 * What a search runs: the space, how trials are chosen, and the budget.
 */
export type SearchPlan = { space?: SearchSpace, strategy?: Strategy, 
/**
 * At most this many trials (default: the whole grid).
 */
trials?: number | null, };

/**
 * The settings a search may vary: for each, the values to try (empty: the run's own value).
 */
export type SearchSpace = { learningRate?: Array<number>, epochs?: Array<number>, batchSize?: Array<number>, 
/**
 * LoRA ranks (the run's other `lora` options apply).
 */
loraRank?: Array<number>, };

/**
 * How a classifier is trained.
 */
export type Method = "finetune" | "setfit";

/**
 * The head a SetFit run fits on the body's embeddings (setfit's `use_differentiable_head`).
 */
export type SetFitHeadKind = "logistic" | "differentiable";

/**
 * How many pairs of each kind a SetFit run trains on (setfit's `sampling_strategy`).
 */
export type Sampling = "oversampling" | "undersampling" | "unique";

/**
 * How unsure a prediction is.
 */
export type Uncertainty = "entropy" | "margin" | "least-confident";

/**
 * One text's place in the ranking.
 */
export type Ranked = { 
/**
 * Its position in the texts given.
 */
index: number, 
/**
 * The uncertainty (higher: label it sooner).
 */
score: number, 
/**
 * The class the model predicts, and its probability.
 */
label: string, probability: number, };

/**
 * One augmentation operation.
 */
export type AugmentOp = "swap" | "delete" | "substitute" | "insert";

/**
 * A text and an augmented copy of it.
 */
export type Augmented = { original: string, augmented: string, };

/**
 * How the `A` factor starts (`B` always starts at zero, so an adapted model first computes what
 * its base does). The names are PEFT's `init_lora_weights` values.
 */
export type LoraInit = "kaiming" | "gaussian";

/**
 * The shape of the learning rate over training.
 */
export type Schedule = "constant" | "linear" | "cosine";

/**
 * Whether a larger or a smaller metric is better.
 */
export type Mode = "max" | "min";

/**
 * One event of a run.
 */
export type Event = { "type": "start", device: DeviceInfo, labels: Array<string>, trainExamples: number, validationExamples: number, epochs: number, stepsPerEpoch: number, totalSteps: number, warmupSteps: number, 
/**
 * What loading the checkpoint reported (e.g. a freshly initialised classifier).
 */
warnings: Array<string>, 
/**
 * The pre-flight estimate of what the run holds on the device.
 */
memory: MemoryPlan, } | { "type": "step", step: number, totalSteps: number, 
/**
 * Fractional epoch (1.5 = half way through the second epoch).
 */
epoch: number, 
/**
 * Mean training loss over the steps since the previous `step` event.
 */
loss: number, learningRate: number, 
/**
 * Global gradient norm of the latest step, before clipping.
 */
gradNorm: number | null, 
/**
 * Real (non-padding) tokens per second since the previous `step` event.
 */
tokensPerSecond: number, 
/**
 * Mean wall time per optimizer step since the previous `step` event.
 */
stepMs: number, } | { "type": "eval", step: number, epoch: number, metrics: Evaluation, isBest: boolean, } | { "type": "skipped_step", step: number, loss: number | null, message: string, } | { "type": "checkpoint", step: number, epoch: number, } | { "type": "done", steps: number, stopReason: StopReason, best: Best | null, 
/**
 * Whether the returned model is the best evaluation's rather than the last step's.
 */
restoredBest: boolean, seconds: number, 
/**
 * Why the run failed, when it did (`stopReason` "diverged").
 */
message: string | null, };

/**
 * Why a run ended.
 */
export type StopReason = "finished" | "early_stopped" | "cancelled" | "diverged";

/**
 * The best evaluation so far.
 */
export type Best = { step: number, metric: string, value: number, };

/**
 * Bytes a run will hold, by kind (estimates; activations assume every batch is `seq` long).
 */
export type MemoryPlan = { parameters: number, weightBytes: number, gradientBytes: number, optimizerBytes: number, activationBytes: number, totalBytes: number, 
/**
 * The largest single tensor, which must fit in one GPU buffer binding.
 */
largestTensorBytes: number, 
/**
 * What that tensor is, with its shape.
 */
largestTensor: string, };

/**
 * What was actually selected: enough to tell a WebGPU run from a CPU fallback, and to plan memory.
 */
export type DeviceInfo = { 
/**
 * `"webgpu"` (browser), `"wgpu"` (native GPU API) or `"cpu"`.
 */
kind: "webgpu" | "wgpu" | "cpu", 
/**
 * The graphics backend: `"BrowserWebGpu"`, `"Vulkan"`, `"Metal"`, … or `"flex"` for the CPU.
 */
backend: string, 
/**
 * Adapter name as the driver reports it (browsers may report an empty name).
 */
adapter: string, 
/**
 * `"DiscreteGpu"`, `"IntegratedGpu"`, `"VirtualGpu"`, `"Cpu"` (a software rasteriser such as
 * lavapipe or SwiftShader) or `"Other"`; `"Cpu"` for the CPU backend too.
 */
deviceType: string, 
/**
 * Driver name and version, when reported.
 */
driver: string, 
/**
 * `maxBufferSize` in bytes (GPU only).
 */
maxBufferSize: number | null, 
/**
 * `maxStorageBufferBindingSize` in bytes (GPU only): the largest tensor one kernel can bind.
 */
maxStorageBufferBindingSize: number | null, 
/**
 * Whether tensors created on this device record gradients.
 */
autodiff: boolean, 
/**
 * Why the GPU was not used, when the "auto" choice fell back to the CPU.
 */
fallback: string | null, };

/**
 * What [`self_test`] measured.
 */
export type SelfTestReport = { 
/**
 * The device the step ran on.
 */
device: DeviceInfo, 
/**
 * Cross-entropy before the update.
 */
lossBefore: number, 
/**
 * Cross-entropy after one AdamW update; lower than `loss_before` on a working device.
 */
lossAfter: number, 
/**
 * The largest change of one first-layer weight. AdamW's first step moves every weight
 * with a gradient by about the learning rate (`lr · g / |g|`), whatever the gradient's size:
 * far from it, the optimizer or the gradients are broken even if the loss fell.
 */
updateSize: number, 
/**
 * Whether the device trains: the loss fell, by an update of the size AdamW makes.
 */
passed: boolean, 
/**
 * Wall time of the whole test (includes kernel compilation on a first GPU call).
 */
millis: number, };

/**
 * An evaluation's metrics: classification, entities or language modelling (serialized as the
 * inner object, so JS sees `metrics.accuracy`, `metrics.f1` or `metrics.perplexity`).
 */
export type Evaluation = Metrics | LmMetrics | EntityMetrics | SquadMetrics;

/**
 * Everything an evaluation reports.
 */
export type Metrics = { 
/**
 * Mean cross-entropy over the examples (when logits were available).
 */
loss: number | null, accuracy: number, macro_precision: number, macro_recall: number, macro_f1: number, per_class: Array<ClassMetrics>, confusion_matrix: Array<Array<number>>, examples: number, 
/**
 * The first examples the model gets wrong (at most [`MAX_MISTAKES`], in data order; empty
 * when the evaluation did not see the texts).
 */
mistakes: Array<Mistake>, };

/**
 * Precision, recall, F1 and support of one class.
 */
export type ClassMetrics = { label: string, precision: number, recall: number, f1: number, support: number, };

/**
 * A validation example the model gets wrong.
 */
export type Mistake = { text: string, 
/**
 * The second text of a pair, if the data has one.
 */
pair?: string, 
/**
 * The true label.
 */
label: string, 
/**
 * What the model said, and its probability.
 */
predicted: string, score: number, 
/**
 * Where the row is: "data.csv:12".
 */
origin: string, };

/**
 * What evaluating a language model reports.
 */
export type LmMetrics = { 
/**
 * Mean cross-entropy per predicted token (tokens the loss covers: not prompts or padding).
 */
loss: number, 
/**
 * `exp(loss)`.
 */
perplexity: number, 
/**
 * Predicted tokens.
 */
tokens: number, examples: number, 
/**
 * With `generate: true`: corpus BLEU (sacreBLEU's defaults, 0–100) of the greedy answers.
 */
bleu?: number, 
/**
 * With `generate: true`: mean ROUGE-L F (rouge-score's, 0–1) of the greedy answers.
 */
rouge_l?: number, 
/**
 * With `generate: true`: the greedy answers, in row order.
 */
answers?: Array<string>, };

/**
 * The sampling settings `generate` / `chat` take from JS: every key may be left out (defaults:
 * 64 new tokens, greedy, seed 0); unknown keys are an error. [`Self::into_options`] resolves them.
 */
export type GenerateSettings = { 
/**
 * Most tokens to append (default 64).
 */
maxNewTokens?: number, 
/**
 * 0 (default) is greedy; higher samples more freely.
 */
temperature?: number, 
/**
 * Sample only among the `k` most likely tokens.
 */
topK?: number, 
/**
 * Nucleus sampling: keep the most likely tokens up to this total probability, in (0, 1].
 */
topP?: number, 
/**
 * Keep only tokens at least this fraction as likely as the most likely one, in [0, 1].
 */
minP?: number, 
/**
 * Above 1 discourages repeating tokens of the prompt and reply (transformers'
 * `repetition_penalty`; default 1: off). Applies to greedy decoding too.
 */
repetitionPenalty?: number, 
/**
 * Sampler seed (default 0): the same seed gives the same text.
 */
seed?: number, 
/**
 * Texts that end the reply (left out of it), e.g. `["\nUser:"]`; at most 16.
 */
stop?: Array<string>, 
/**
 * `chat`: drop the oldest turns (system messages stay) when the conversation and
 * `maxNewTokens` would not fit the model's context, instead of failing.
 */
trimHistory?: boolean, };

/**
 * A finished completion.
 */
export type Completion = { 
/**
 * The generated text (special tokens left out).
 */
text: string, tokens: Array<number>, promptTokens: number, 
/**
 * `"stop"` also when a stop string ended the reply.
 */
stopReason: GenerationStopReason, 
/**
 * Milliseconds from the start to the first new token (reading the prompt).
 */
promptMs: number, 
/**
 * New tokens per second after the first.
 */
tokensPerSecond: number, 
/**
 * `chat` with `trim_history`: how many of the oldest messages were left out to fit the context.
 */
droppedMessages: number, };

/**
 * Why generation ended.
 */
export type GenerationStopReason = "stop" | "length" | "cancelled";

/**
 * One class and its probability.
 */
export type LabelScore = { label: string, score: number, };

/**
 * One text's attention weights in every layer and head, with its tokens.
 */
export type Attentions = { 
/**
 * The tokens (special ones included) as the tokenizer names them.
 */
tokens: Array<string>, layers: number, heads: number, 
/**
 * `weights[layer][head][query][key]`: how much token `query` attends to token `key`
 * (each row sums to 1), as transformers' `output_attentions=True`.
 */
weights: Array<Array<Array<Array<number>>>>, };

/**
 * Entity-level precision, recall and F1 (micro over all types, and per type), and token accuracy.
 */
export type EntityMetrics = { 
/**
 * Mean token cross-entropy over the labelled tokens (when logits were available).
 */
loss: number | null, precision: number, recall: number, f1: number, 
/**
 * Tags right, over all tags (including `O`).
 */
accuracy: number, 
/**
 * Per entity type, sorted by type.
 */
per_type: Array<EntityTypeMetrics>, 
/**
 * Which type each entity was given: the entity types (sorted) and `"O"` (no entity with
 * these exact words); `confusion[i][j]` counts entities of true type `labels[i]` predicted as
 * `labels[j]` over the same words — a true entity missed or cut otherwise counts in the `O`
 * column, a predicted one with no true entity on its words in the `O` row.
 */
confusion_labels: Array<string>, confusion: Array<Array<number>>, 
/**
 * Sentences evaluated.
 */
examples: number, };

/**
 * Precision, recall, F1 and the number of true entities of one type.
 */
export type EntityTypeMetrics = { kind: string, precision: number, recall: number, f1: number, 
/**
 * Entities of this type in the true tags.
 */
support: number, };

/**
 * A tagged token (strategy `none`) or an entity (the others).
 */
export type TokenEntity = { 
/**
 * The tag (`B-PER`; strategy `none`) or the entity type (`PER`; the others).
 */
entity: string, score: number, 
/**
 * The token's position in the model's input (strategy `none` only).
 */
index?: number, 
/**
 * The token (`none`) or the entity's tokens joined by the tokenizer's decoder.
 */
word: string, 
/**
 * `[start, end)` in the text, in characters (Unicode scalar values).
 */
start: number, end: number, };

/**
 * How tokens are merged into entities (transformers' `aggregation_strategy`).
 */
export type Aggregation = "none" | "simple" | "first" | "average" | "max";

/**
 * One candidate for a mask.
 */
export type MaskFill = { 
/**
 * Its probability at the mask (among all tokens, also when `targets` narrow the candidates).
 */
score: number, 
/**
 * Its token id.
 */
token: number, 
/**
 * The token as text.
 */
token_str: string, 
/**
 * The input with the mask replaced by it (special tokens left out when the text has one mask).
 */
sequence: string, };

/**
 * Exact match and F1 (percent) over questions, and per kind when some are unanswerable.
 */
export type SquadMetrics = { 
/**
 * Mean of the start and end cross-entropies over the features (when logits were available).
 */
loss: number | null, exact_match: number, f1: number, 
/**
 * Questions evaluated.
 */
examples: number, 
/**
 * SQuAD 2.0: the same over answerable questions (`HasAns_…`), and their number.
 */
has_answer?: SquadSubset, 
/**
 * SQuAD 2.0: the same over unanswerable questions (`NoAns_…`).
 */
no_answer?: SquadSubset, };

/**
 * Exact match and F1 over a subset of the questions.
 */
export type SquadSubset = { exact_match: number, f1: number, total: number, };

/**
 * An answer: its text and `[start, end)` in the context (characters), and its probability among
 * the example's best candidates. "No answer" is the empty text at 0..0.
 */
export type QaAnswer = { text: string, start: number, end: number, score: number, };

/**
 * What a file holds, as the studio shows it.
 */
export type DataSummary = { columns: Array<string>, 
/**
 * Data rows (the header excluded).
 */
rows: number, 
/**
 * The first rows, a cell per column (`null` where missing; long cells cut, ending in "…").
 */
preview: Array<Array<string | null>>, 
/**
 * The column that most likely holds the text (`null` when none does).
 */
text: string | null, 
/**
 * The column that most likely holds the label (`null` when none looks like one).
 */
label: string | null, 
/**
 * `prompt` and `completion` columns, when the file has both (a causal-LM file).
 */
promptCompletion: boolean, 
/**
 * Each value of the label column and its rows, most frequent first.
 */
labelCounts: Array<LabelCount>, 
/**
 * The text column's longest cell and its 95th percentile, in characters.
 */
longestText: number, p95Text: number, 
/**
 * Things to fix or know before training, each a sentence.
 */
warnings: Array<string>, 
/**
 * With `augment`: the first rows' texts and an augmented copy of each, for a look at what
 * the options do.
 */
augmented: Array<Augmented>, };

export type LabelCount = { label: string, count: number, };

/**
 * What a file holds for `task`, as the studio shows it.
 */
export type TaskDataSummary = { "kind": "entities", sentences: number, words: number, tags: Array<string>, entityCounts: Array<LabelCount>, preview: Array<TaggedPreview>, warnings: Array<string>, } | { "kind": "questions", questions: number, contexts: number, unanswerable: number, preview: Array<QuestionPreview>, warnings: Array<string>, } | { "kind": "texts", texts: number, longest: number, preview: Array<string>, warnings: Array<string>, };

/**
 * A preview sentence: its words and entities.
 */
export type TaggedPreview = { words: Array<string>, entities: Array<EntitySpan>, };

/**
 * One entity of a preview sentence: its words `start..end` (end exclusive) and its type.
 */
export type EntitySpan = { start: number, end: number, label: string, };

/**
 * A preview question: its context cut into parts around the first answer (one part, not an
 * answer, for an unanswerable question), and every reference answer's text.
 */
export type QuestionPreview = { question: string, context: Array<ContextPart>, answers: Array<string>, };

/**
 * A piece of a preview context: text, and whether it is the (first) reference answer.
 */
export type ContextPart = { text: string, answer: boolean, };

/**
 * How the trials are chosen from the grid.
 */
export type Strategy = "grid" | "random";

/**
 * One trial: what it changes from the run's options (`None`: left as it is).
 */
export type TrialSettings = { learningRate?: number, epochs?: number, batchSize?: number, loraRank?: number, };

/**
 * A finished trial.
 */
export type TrialResult = { 
/**
 * Its place in the plan, from 0.
 */
index: number, 
/**
 * What it changed from the run's options.
 */
settings: TrialSettings, 
/**
 * The metric every trial is judged by.
 */
metric: string, 
/**
 * The trial's best value of `metric` on the validation data.
 */
value: number, 
/**
 * Optimizer steps it ran.
 */
steps: number, };

/**
 * A task, by its Hugging Face pipeline name.
 */
export type Task = "feature-extraction" | "text-classification" | "token-classification" | "question-answering" | "fill-mask" | "text-generation";

/**
 * What a model family is: an encoder (embeddings, classification) or a decoder (generation).
 */
export type ModelKind = "encoder" | "decoder";

/** Which device to run on: "auto" (a hardware GPU, else the CPU), "webgpu" (alias "gpu": any adapter, or an error), "cpu". */
export type DevicePreference = "auto" | "webgpu" | "gpu" | "cpu";
