// WebGPU without the optional features: Firefox and Safari 26 offer no "subgroups" (and Safari
// no "shader-f16"), so webtune's kernels must not need them. webtune's Worker runs here on an
// adapter that hides both (tests/js/pages/hide-webgpu-features.js) and must give the reference's
// numbers: encoder inference (tiny BERT against transformers, MiniLM's embeddings against
// sentence-transformers), classifier and decoder fine-tuning steps (against PyTorch); LoRA steps
// and generation against webtune's CPU path in the same Worker (one seed draws the same adapters
// on every device). A real checkpoint's gradients on WebGPU are the GELU check of tests/browser.rs
// (what once made MiniLM's NaN) and MiniLM's out-of-memory plan in pipeline.test.mjs; a MiniLM
// step here would add ~35 s of SwiftShader shader compiles for shapes the tiny runs already cover.
// Needs pkg/.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, assetsRoot, openBrowser } from "./harness.mjs";

const bert = JSON.parse(readFileSync(join(ROOT, "tests/fixtures/bert/tiny-cls3/expected.json"), "utf8"));
const clf = JSON.parse(readFileSync(join(ROOT, "tests/fixtures/bert/train-steps/expected.json"), "utf8"));
const minilm = JSON.parse(readFileSync(join(ROOT, "tests/fixtures/bert/minilm.json"), "utf8"));
const lm = JSON.parse(readFileSync(join(ROOT, "tests/fixtures/llama/train-steps/expected.json"), "utf8"));
const hasMinilm = existsSync(join(assetsRoot(), "models/all-MiniLM-L6-v2/model.safetensors"));

let b;
before(async () => {
  b = await openBrowser();
  await b.page.goto(b.server.url + "test/blank.html");
});
after(async () => b?.close());

/** Runs every check in a Worker whose adapter hides the features; returns the numbers. */
async function run() {
  const started = b.page.waitForEvent("worker");
  const out = await b.page.evaluate(async ({ texts, clf, lm, minilmTexts }) => {
    const { env, pipeline } = await import("/pkg/index.js");
    env.workerUrl = "/test/hidden-features-worker.js";
    const file = async (url, name) => new File([await (await fetch(url)).arrayBuffer()], name);
    const steps = (events) => events.filter((e) => e.type === "step").map((e) => [e.loss, e.gradNorm]);
    const trained = async (p, options) => {
      const events = [];
      await p.finetune({ ...options, onEvent: (e) => events.push(e) });
      return { device: events.find((e) => e.type === "start").device.kind, steps: steps(events) };
    };
    try {
      const tokenizer = await file("/fixtures/bert/tokenizer.json", "tokenizer.json");
      const weights = await file("/fixtures/bert/tiny-cls3/model.safetensors", "model.safetensors");
      const tiny = await pipeline("text-classification", { model: [await file("/fixtures/bert/tiny-cls3/config.json", "config.json"), weights, tokenizer], device: "webgpu" });
      const scores = await tiny(texts);
      tiny.dispose();
      // PyTorch's recipe (tests/reference/make_train_fixture.py): dropout 0, one batch of all rows
      const noDropout = await pipeline("text-classification", { model: [await file("/fixtures/bert/train-steps/config.json", "config.json"), weights, tokenizer], device: "webgpu" });
      const r = clf.recipe;
      const clfRun = await trained(noDropout, {
        data: clf.rows, validationSplit: 0, epochs: r.steps, batchSize: clf.rows.length, learningRate: r.learning_rate,
        weightDecay: r.weight_decay, warmupSteps: r.warmup_steps, maxGradNorm: r.max_grad_norm, logEvery: 1,
      });
      noDropout.dispose();

      const model = { config: "/fixtures/llama/tiny/config.json", weights: "/fixtures/llama/tiny/model.safetensors", tokenizer: "/fixtures/llama/train-steps/tokenizer.json" };
      const options = {
        data: lm.pairs, validationSplit: 0, epochs: lm.recipe.steps, batchSize: lm.pairs.length, learningRate: lm.recipe.learning_rate,
        weightDecay: lm.recipe.weight_decay, warmupSteps: lm.recipe.warmup_steps, maxGradNorm: lm.recipe.max_grad_norm, logEvery: 1,
      };
      const prompt = "Q: capital of France? A:";
      const lora = { rank: 4, alpha: 8, targetModules: ["q_proj", "v_proj"] };
      const decoders = {};
      for (const device of ["webgpu", "cpu"]) {
        const gen = await pipeline("text-generation", { model, device });
        const before = (await gen(prompt, { maxNewTokens: 6 })).tokens;
        const full = device === "webgpu" ? await trained(gen, options) : null;
        gen.dispose();
        const adapted = await pipeline("text-generation", { model, device });
        const loraRun = await trained(adapted, { ...options, lora, seed: 5 });
        const loraAfter = (await adapted(prompt, { maxNewTokens: 6 })).tokens;
        adapted.dispose();
        decoders[device] = { before, full, lora: loraRun, loraAfter };
      }

      let minilm = null;
      if (minilmTexts) {
        const fe = await pipeline("feature-extraction", { model: "/assets/models/all-MiniLM-L6-v2", device: "webgpu" });
        const embeddings = await fe(minilmTexts);
        fe.dispose();
        minilm = { embeddings };
      }
      return { scores, clf: clfRun, decoders, minilm };
    } catch (e) {
      return { error: { name: e.name, message: e.message } };
    }
  }, { texts: bert.texts, clf, lm, minilmTexts: hasMinilm ? minilm.texts : null });
  const worker = await started;
  out.requested = await worker.evaluate(() => self.requestedFeatures ?? null);
  out.shadersNeedingHidden = await worker.evaluate(() => self.shadersNeedingHidden ?? null);
  return out;
}

const close = (what, ours, theirs, tol) => {
  assert.equal(ours.length, theirs.length, `${what}: length`);
  ours.flat().forEach((x, i) => assert.ok(Number.isFinite(x) && Math.abs(x - theirs.flat()[i]) <= tol, `${what}[${i}]: ${x} vs ${theirs.flat()[i]}`));
};

test("without the subgroups and shader-f16 features, WebGPU gives the reference's numbers (encoders, decoders, fine-tuning, LoRA)", async () => {
  const r = await run();
  assert.equal(r.error, undefined, JSON.stringify(r.error) + "\n" + b.logs.join("\n"));
  assert.deepEqual(r.requested.filter((f) => f === "subgroups" || f === "shader-f16"), [], "no hidden feature requested");
  assert.equal(r.shadersNeedingHidden, 0, "no shader enables a hidden feature");
  const { webgpu, cpu } = r.decoders;
  for (const run of [r.clf, webgpu.full, webgpu.lora]) assert.equal(run.device, "webgpu");
  assert.equal(cpu.lora.device, "cpu");

  // encoder inference against transformers
  bert.texts.forEach((_, row) => {
    const logits = bert.logits.slice(row * 3, row * 3 + 3);
    const z = logits.reduce((s, x) => s + Math.exp(x), 0);
    const labels = ["negative", "neutral", "positive"];
    for (const { label, score } of r.scores[row]) {
      assert.ok(Math.abs(score - Math.exp(logits[labels.indexOf(label)]) / z) <= 1e-3, `row ${row} ${label}: ${score}`);
    }
  });
  // fine-tuning steps against PyTorch
  close("classifier steps vs PyTorch", r.clf.steps, clf.steps.map((s) => [s.loss, s.grad_norm]), 1e-3);
  close("decoder steps vs PyTorch", webgpu.full.steps.map(([loss]) => loss), lm.runs.pairs.steps.map((s) => s.loss), 1e-3);
  close("decoder gradient norms vs PyTorch", webgpu.full.steps.map(([, norm]) => norm), lm.runs.pairs.steps.map((s) => s.grad_norm), 1e-2);
  // against the CPU path
  close("LoRA steps vs the CPU path", webgpu.lora.steps, cpu.lora.steps, 1e-4);
  assert.deepEqual(webgpu.before, cpu.before, "generation");
  assert.deepEqual(webgpu.loraAfter, cpu.loraAfter, "generation after LoRA");
  if (hasMinilm) {
    r.minilm.embeddings.forEach((e, i) => close(`MiniLM embedding ${i}[:8]`, e.slice(0, 8), minilm.mean_pooled_first8[i], 1e-3));
  }
});
