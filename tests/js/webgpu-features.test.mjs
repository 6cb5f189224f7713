// WebGPU without the optional features: Firefox and Safari 26 offer no "subgroups" (and Safari
// no "shader-f16"), so webtune's kernels must not need them. webtune's Worker runs here on an
// adapter that hides both (tests/js/pages/hide-webgpu-features.js) and must give the numbers it
// gives with them: encoder inference (tiny BERT against transformers; MiniLM's embeddings),
// classifier fine-tuning steps, decoder generation and fine-tuning (against PyTorch), LoRA steps.
// Needs pkg/.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, assetsRoot, openBrowser } from "./harness.mjs";

const bert = JSON.parse(readFileSync(join(ROOT, "tests/fixtures/bert/tiny-cls3/expected.json"), "utf8"));
const trainRows = JSON.parse(readFileSync(join(ROOT, "tests/fixtures/bert/train-steps/expected.json"), "utf8")).rows;
const minilm = JSON.parse(readFileSync(join(ROOT, "tests/fixtures/bert/minilm.json"), "utf8"));
const lm = JSON.parse(readFileSync(join(ROOT, "tests/fixtures/llama/train-steps/expected.json"), "utf8"));
const hasMinilm = existsSync(join(assetsRoot(), "models/all-MiniLM-L6-v2/model.safetensors"));

let b;
before(async () => {
  b = await openBrowser();
  await b.page.goto(b.server.url + "test/blank.html");
});
after(async () => b?.close());

/** Runs every check in a fresh Worker (with the features hidden or not) and returns the numbers. */
async function run(hidden) {
  await b.page.reload();
  const started = b.page.waitForEvent("worker");
  const out = await b.page.evaluate(async ({ hidden, texts, rows, lm, minilmTexts }) => {
    const { env, pipeline } = await import("/pkg/index.js");
    if (hidden) env.workerUrl = "/test/hidden-features-worker.js";
    const file = async (url, name) => new File([await (await fetch(url)).arrayBuffer()], name);
    const steps = (events) => events.filter((e) => e.type === "step").map((e) => [e.loss, e.gradNorm]);
    try {
      const clf = await pipeline("text-classification", {
        model: await Promise.all([
          file("/fixtures/bert/tiny-cls3/config.json", "config.json"), file("/fixtures/bert/tiny-cls3/model.safetensors", "model.safetensors"),
          file("/fixtures/bert/tokenizer.json", "tokenizer.json"),
        ]),
        device: "webgpu",
      });
      const scores = await clf(texts);
      const clfEvents = [];
      await clf.finetune({ data: rows, validationSplit: 0, epochs: 2, batchSize: 6, learningRate: 1e-3, logEvery: 1, seed: 3, onEvent: (e) => clfEvents.push(e) });
      clf.dispose();
      const model = { config: "/fixtures/llama/tiny/config.json", weights: "/fixtures/llama/tiny/model.safetensors", tokenizer: "/fixtures/llama/train-steps/tokenizer.json" };
      const options = {
        data: lm.pairs, validationSplit: 0, epochs: lm.recipe.steps, batchSize: lm.pairs.length, learningRate: lm.recipe.learning_rate,
        weightDecay: lm.recipe.weight_decay, warmupSteps: lm.recipe.warmup_steps, maxGradNorm: lm.recipe.max_grad_norm, logEvery: 1,
      };
      const gen = await pipeline("text-generation", { model, device: "webgpu" });
      const prompt = "Q: capital of France? A:";
      const before = (await gen(prompt, { maxNewTokens: 6 })).tokens;
      // compared with PyTorch's steps, so the run with the features need not repeat it
      const lmEvents = [];
      if (hidden) await gen.finetune({ ...options, onEvent: (e) => lmEvents.push(e) });
      gen.dispose();
      const lora = await pipeline("text-generation", { model, device: "webgpu" });
      const loraEvents = [];
      await lora.finetune({ ...options, lora: { rank: 4, alpha: 8, targetModules: ["q_proj", "v_proj"] }, onEvent: (e) => loraEvents.push(e) });
      const loraAfter = (await lora(prompt, { maxNewTokens: 6 })).tokens;
      lora.dispose();
      let minilm = null;
      if (minilmTexts) {
        const fe = await pipeline("feature-extraction", { model: "/assets/models/all-MiniLM-L6-v2", device: "webgpu" });
        minilm = await fe(minilmTexts);
        fe.dispose();
      }
      return { device: clfEvents[0].device.kind, scores, clfSteps: steps(clfEvents), before, lmSteps: steps(lmEvents), loraSteps: steps(loraEvents), loraAfter, minilm };
    } catch (e) {
      return { error: { name: e.name, message: e.message } };
    }
  }, { hidden, texts: bert.texts, rows: trainRows, lm, minilmTexts: hidden && hasMinilm ? minilm.texts : null });
  const worker = await started;
  out.requested = await worker.evaluate(() => self.requestedFeatures ?? null);
  out.shadersNeedingHidden = await worker.evaluate(() => self.shadersNeedingHidden ?? null);
  return out;
}

const close = (what, ours, theirs, tol) => {
  assert.equal(ours.length, theirs.length, `${what}: length`);
  ours.flat().forEach((x, i) => assert.ok(Number.isFinite(x) && Math.abs(x - theirs.flat()[i]) <= tol, `${what}[${i}]: ${x} vs ${theirs.flat()[i]}`));
};

test("without the subgroups and shader-f16 features, WebGPU gives the same numbers (encoders, decoders, fine-tuning, LoRA)", async () => {
  const hidden = await run(true);
  assert.equal(hidden.error, undefined, JSON.stringify(hidden.error) + "\n" + b.logs.join("\n"));
  const full = await run(false);
  assert.equal(full.error, undefined, JSON.stringify(full.error) + "\n" + b.logs.join("\n"));
  assert.equal(hidden.device, "webgpu");
  assert.deepEqual(hidden.requested.filter((f) => f === "subgroups" || f === "shader-f16"), [], "no hidden feature requested");
  assert.equal(hidden.shadersNeedingHidden, 0, "no shader enables a hidden feature");
  assert.equal(full.requested, null, "the comparison run uses webtune's own Worker");

  // encoder inference against transformers
  bert.texts.forEach((_, row) => {
    const logits = bert.logits.slice(row * 3, row * 3 + 3);
    const z = logits.reduce((s, x) => s + Math.exp(x), 0);
    const labels = ["negative", "neutral", "positive"];
    for (const { label, score } of hidden.scores[row]) {
      assert.ok(Math.abs(score - Math.exp(logits[labels.indexOf(label)]) / z) <= 1e-3, `row ${row} ${label}: ${score}`);
    }
  });
  // fine-tuning steps: the same as with the features; the decoder's also as PyTorch's
  close("classifier steps", hidden.clfSteps, full.clfSteps, 1e-4);
  close("decoder steps vs PyTorch", hidden.lmSteps.map(([loss]) => loss), lm.runs.pairs.steps.map((s) => s.loss), 1e-3);
  close("LoRA steps", hidden.loraSteps, full.loraSteps, 1e-4);
  assert.deepEqual(hidden.before, full.before, "generation");
  assert.deepEqual(hidden.loraAfter, full.loraAfter, "generation after LoRA");
  if (hasMinilm) {
    hidden.minilm.forEach((e, i) => close(`MiniLM embedding ${i}[:8]`, e.slice(0, 8), minilm.mean_pooled_first8[i], 1e-3));
  }
});
