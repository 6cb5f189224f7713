// The package's TypeScript types (pkg/index.d.ts) compile under `strict`, accept the documented
// uses of every task — text-generation fine-tuning with LoRA and PEFT saving included — and reject
// wrong ones (each `@ts-expect-error` line must be an error, or tsc fails). Needs pkg/.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "./harness.mjs";

const USAGE = `
import { pipeline, runs, loadDecoder, type TrainingEvent, type LmMetrics } from ${JSON.stringify(join(ROOT, "pkg/index.js"))};
import type { WebtuneChat } from ${JSON.stringify(join(ROOT, "pkg/chat.js"))};

export function widget(): WebtuneChat {
  const chat = document.createElement("webtune-chat");
  chat.model = "saved:faq";
  chat.maxNewTokens = 64;
  chat.addEventListener("error", (e) => void e.detail.name.toUpperCase());
  chat.addEventListener("message", (e) => void e.detail.content.length);
  void chat.send("Hi").then((reply: string | null) => reply);
  // @ts-expect-error: the conversation is read-only
  chat.messages = [];
  return chat;
}

function chatWithAdapter(): WebtuneChat {
  const chat = document.createElement("webtune-chat");
  chat.adapter = "saved:faq-bot";
  return chat;
}

export async function use(file: File) {
  const gen = await pipeline("text-generation", { model: "/models/SmolLM2-135M-Instruct.Q4_1.gguf", device: "webgpu" });
  const reply = await gen.chat([{ role: "user", content: "Hi" }], { maxNewTokens: 8, onToken: (p: string) => void p, stop: ["\\n"], repetitionPenalty: 1.2, trimHistory: true });
  const text: string = reply.text;
  const speed: number = reply.tokensPerSecond + reply.promptMs + reply.droppedMessages;
  const done = await gen.finetune({
    data: [{ prompt: "Q", completion: "A" }], epochs: 1, metric: "perplexity", chatTemplate: true,
    lora: { rank: 8, alpha: 16, targetModules: ["q_proj", "v_proj"] },
    onEvent: (e: TrainingEvent) => { if (e.type === "step") void e.loss; }, run: "lm", checkpointEvery: 10,
  });
  const reason: string = done.stopReason;
  const metrics: LmMetrics = await gen.evaluate(file, { maxLength: 256 });
  const perplexity: number = metrics.perplexity;
  const peft = await gen.save({ format: "peft" });
  const adapter: Blob | undefined = peft["adapter_model.safetensors"];
  const resumed = await runs.resume("lm");
  resumed.pipeline.dispose();
  const model = await loadDecoder({ gguf: file });
  const tuned = await model.finetune({ data: file, lora: { rank: 4 } });
  const files = await tuned.exportAdapter("HuggingFaceTB/SmolLM2-135M-Instruct");
  const clf = await pipeline("text-classification", { model: "webtune/minilm" });
  await clf.finetune({ data: file, metric: "macro_f1" });
  await clf.finetune({ data: file, method: "setfit", numIterations: 5, samplingStrategy: "unique" });
  await clf.finetune({ data: file, method: "setfit", head: "differentiable", headEpochs: 4, headBatchSize: 2, headLearningRate: 1e-2, endToEnd: true, headBodyLearningRate: 1e-5 });
  const setfitFolder = await clf.save();
  const head: Blob | undefined = setfitFolder["model_head.pkl"];
  const reopened = await pipeline("text-classification", { model: setfitFolder });
  reopened.dispose();
  void head;
  await clf.finetune({ data: file, augment: { ops: ["swap", "delete"], rate: 0.1, copies: 2 } });
  const next = await clf.rank(["a", "b"], { strategy: "margin" });
  const unsure: number = next[0].score + next[0].probability + next[0].index;
  void (next[0].text + next[0].label + unsure);
  // @ts-expect-error: not an uncertainty strategy
  await clf.rank(["a"], { strategy: "random" });
  // @ts-expect-error: not an augmentation
  await clf.finetune({ data: file, augment: { ops: ["synonym"] } });
  const trainPy: Blob = (await clf.save({ format: "recipe" }))["train.py"];
  // @ts-expect-error: a recipe is not kept by name
  await clf.save({ format: "recipe", name: "run" });
  const found = await clf.search({ data: file, space: { learningRate: [1e-4, 5e-5], epochs: [2, 3] }, trials: 3, strategy: "random", metric: "macro_f1" });
  const bestRate: number | undefined = found.best.settings.learningRate;
  await gen.search({ data: file, space: { loraRank: [4, 8] }, lora: { rank: 8 } });
  // @ts-expect-error: not a searchable setting
  await clf.search({ data: file, space: { dropout: [0.1] } });
  const ner = await pipeline("ner", { model: "webtune/ner" });
  const entities = await ner("Angela Merkel visited Paris", { aggregation: "first" });
  const span: number = entities[0].end - entities[0].start;
  const f1: number = (await ner.evaluate(file)).f1;
  // @ts-expect-error: not an aggregation strategy
  await ner("x", { aggregation: "longest" });
  const qa = await pipeline("question-answering", { model: "webtune/qa", docStride: 64 });
  const best = await qa("Who wrote it?", "Zoë wrote it.");
  const many = await qa({ question: "Who?", context: "Zoë." }, { topK: 2, handleImpossibleAnswer: true });
  const em: number = (await qa.evaluate(file)).exact_match;
  // @ts-expect-error: question answering windows contexts, it does not truncate
  await pipeline("question-answering", { model: "webtune/qa", truncate: false });
  const mlm = await pipeline("fill-mask", { model: "webtune/mlm" });
  const fills = await mlm("Paris is the [MASK] of France.", { topK: 3, targets: ["capital"] });
  const perplexity2: number = (await mlm.evaluate(file, { columns: { text: "sentence" } })).perplexity;
  // @ts-expect-error: targets are strings
  await mlm("x [MASK]", { targets: [3] });
  const seen = await clf.attentions("a fine film");
  const weight: number = seen.weights[0][0][0][0] + seen.layers + seen.heads + seen.tokens.length;
  // @ts-expect-error: not a projection LoRA can adapt
  await gen.finetune({ data: file, lora: { targetModules: ["lm_head"] } });
  // @ts-expect-error: no such save format
  await gen.save({ format: "onnx" });
  // @ts-expect-error: not a metric
  await gen.finetune({ data: file, metric: "bleu" });
  await gen.finetune({ data: file, columns: { messages: "conversation" }, packing: true });
  // @ts-expect-error: stop takes strings
  await gen("x", { stop: [2] });
  const faq = await gen.adapters.load("faq", "saved:faq-bot");
  const rank: number = faq.rank + faq.alpha + faq.targetModules.length;
  await gen.adapters.load("style", { "adapter.gguf": file });
  gen.adapters.use("faq", { scale: 0.5 });
  await gen.chat([{ role: "user", content: "Hi" }], { adapter: "style", adapterScale: 0.8 });
  await gen("x", { adapter: null });
  const inUse: string | undefined = gen.adapters.active?.name;
  void (await gen.adapters.unload("style"));
  // @ts-expect-error: an adapter is picked by name
  await gen("x", { adapter: 1 });
  chatWithAdapter().adapterScale = 0.5;
  const attached = await model.withAdapter({ gguf: new Uint8Array() });
  void (await attached.withAdapterScale(0.5)).info.lora?.rank;
  return [trainPy, rank, inUse, bestRate, weight, text, speed, reason, perplexity, adapter, files, resumed.done, span, f1, fills, perplexity2, best, many, em];
}
`;

test("index.d.ts compiles under strict and types the documented API (and rejects wrong uses)", () => {
  const dir = mkdtempSync(join(tmpdir(), "webtune-types-"));
  writeFileSync(join(dir, "usage.ts"), USAGE);
  const tsc = join(ROOT, "pkg-config/node_modules/typescript/bin/tsc");
  let out = "";
  try {
    out = execFileSync(process.execPath, [tsc, "--noEmit", "--strict", "--target", "es2022", "--module", "esnext",
      "--moduleResolution", "bundler", "--lib", "es2022,dom", "--skipLibCheck", "false", join(dir, "usage.ts")], { encoding: "utf8" });
  } catch (e) {
    assert.fail(`tsc failed:\n${e.stdout}${e.stderr}`);
  }
  assert.equal(out.trim(), "");
});
