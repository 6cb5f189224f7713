// Fine-tuning through the public JS API (finetune → EncoderModel) in Chromium, on the CPU path: the
// training loss falls and validation accuracy rises well above chance, a checkpoint is made after
// each epoch, and a run resumed from the first one ends as the uninterrupted run; bad input and
// abort are clear errors. The same recipe on WebGPU against PyTorch, step by step, is
// tests/browser.rs's and webgpu-features.test.mjs's (through the Worker), a GPU run's checkpoint
// resumed on the CPU tests/train.rs's; what made a real
// checkpoint's (MiniLM's) gradients NaN on WebGPU, GELU's backward at large inputs, is
// tests/browser.rs's GELU test. Needs pkg/ (pkg-config/build.sh).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, openBrowser } from "./harness.mjs";

let b;
before(async () => {
  b = await openBrowser();
  await b.page.goto(b.server.url + "test/blank.html");
});
after(async () => b?.close());

// tiny-cls3 with dropout 0 (so a resumed run computes what the uninterrupted one did), 12 labelled rows × 3
const fixture = JSON.parse(readFileSync(join(ROOT, "tests/fixtures/bert/train-steps/expected.json"), "utf8"));
const rows = [0, 1, 2].flatMap(() => fixture.rows.map(({ text, label }) => ({ review: text, sentiment: label })));
const MODEL = {
  config: "/fixtures/bert/train-steps/config.json",
  weights: "/fixtures/bert/tiny-cls3/model.safetensors",
  tokenizer: "/fixtures/bert/tokenizer.json",
};

/**
 * Fine-tunes in the page on the CPU path (3 epochs × 3 steps, a checkpoint after each epoch, kept
 * in the page in `window.checkpoints`; with `resume`, continues from the step-3 checkpoint);
 * returns the events, the device info and predictions.
 */
const run = (resume = false) => b.page.evaluate(async ([model, rows, resume]) => {
  const webtune = await import("/pkg/index.js");
  const events = [];
  try {
    const m = await webtune.finetune(model, {
      data: rows, validation: rows, columns: { text: "review", label: "sentiment" }, device: "cpu",
      epochs: 3, batchSize: 12, learningRate: 1e-2, warmupRatio: 0.1, logEvery: 3, seed: 7, checkpointEvery: 3,
      onCheckpoint: (files) => { if (!resume) (window.checkpoints ??= []).push(files); },
      resumeFrom: resume ? window.checkpoints[0] : undefined,
      onEvent: (e) => events.push(e),
    });
    const out = { events, info: m.info, preds: await m.classify(["charming and moving", "dull"]) };
    const files = await m.export();
    out.exported = Object.fromEntries(Object.entries(files).map(([k, v]) => [k, v.length]));
    out.config = JSON.parse(new TextDecoder().decode(files["config.json"]));
    m.dispose();
    return { ok: out };
  } catch (e) {
    return { error: { name: e.name, message: e.message }, events };
  }
}, [MODEL, rows, resume]);

const losses = (events) => events.filter((e) => e.type === "step").map((e) => e.loss);
const accuracies = (events) => events.filter((e) => e.type === "eval").map((e) => e.metrics.accuracy);

let first;
test("fine-tuning (CPU path): the loss falls, validation accuracy rises, the model exports", async () => {
  const r = await run();
  assert.equal(r.error, undefined, JSON.stringify(r.error) + "\n" + b.logs.join("\n"));
  first = r.ok;
  const [start] = first.events;
  assert.equal(start.type, "start");
  assert.equal(start.device.kind, "cpu");
  assert.deepEqual(start.labels, ["negative", "neutral", "positive"]);
  const l = losses(first.events);
  assert.ok(l.at(-1) <= 0.6 * l[0], `training loss must fall by 40 %: ${l}`);
  const acc = accuracies(first.events);
  assert.equal(acc.length, 3, "an evaluation per epoch");
  const checkpoints = first.events.filter((e) => e.type === "checkpoint").map((e) => e.step);
  assert.deepEqual(checkpoints, [3, 6, 9]);
  assert.ok(Math.max(...acc) >= 0.8, `validation accuracy must rise well above chance (1/3): ${acc}`);
  const done = first.events.at(-1);
  assert.equal(done.type, "done");
  assert.equal(done.stopReason, "finished");
  assert.equal(first.info.device.kind, "cpu");
  assert.equal(first.preds.length, 2);
  assert.ok(first.exported["model.safetensors"] > 100_000 && first.exported["tokenizer.json"] > 1000, JSON.stringify(first.exported));
  assert.equal(first.config.id2label["2"], "positive");
});

test("a run resumed from the step-3 checkpoint finishes like the uninterrupted run", async () => {
  assert.ok(first, "needs the first run");
  const files = await b.page.evaluate(() => Object.fromEntries(Object.entries(window.checkpoints?.[0] ?? {}).map(([k, v]) => [k, v.length])));
  for (const f of ["config.json", "model.safetensors", "optimizer.safetensors", "trainer_state.json"]) {
    assert.ok(files[f] > 0, `checkpoint file ${f}: ${JSON.stringify(files)}`);
  }
  const r = await run(true);
  assert.equal(r.error, undefined, JSON.stringify(r.error));
  const resumed = r.ok.events;
  const steps = (events) => events.filter((e) => e.type === "step" && e.step > 3);
  const [want, got] = [steps(first.events), steps(resumed)];
  assert.deepEqual(got.map((e) => e.step), [6, 9], "the resumed run continues after step 3");
  want.forEach((e, i) => assert.ok(Math.abs(e.loss - got[i].loss) <= 1e-5 * Math.max(1, e.loss), `step ${e.step}: uninterrupted ${e.loss}, resumed ${got[i].loss}`));
  assert.deepEqual(accuracies(resumed), accuracies(first.events).slice(1), "evaluations after the checkpoint");
});

test("bad input and abort", async () => {
  const r = await b.page.evaluate(async ([model, rows]) => {
    const webtune = await import("/pkg/index.js");
    const err = (p) => p.then(() => null, (e) => ({ name: e.name, message: e.message, model: !!e.model }));
    const base = { data: rows, columns: { text: "review", label: "sentiment" }, device: "cpu" };
    const ctl = new AbortController();
    let steps = 0;
    return {
      unknown: await err(webtune.finetune(model, { ...base, epoch: 2 })),
      nanRate: await err(webtune.finetune(model, { ...base, learningRate: NaN })),
      noData: await err(webtune.finetune(model, { device: "cpu" })),
      badColumn: await err(webtune.finetune(model, { ...base, columns: { text: "text", label: "sentiment" } })),
      oneClass: await err(webtune.finetune(model, { ...base, data: rows.slice(0, 4).map((r) => ({ ...r, sentiment: "positive" })) })),
      noFormat: await err(webtune.finetune(model, { ...base, data: new Uint8Array([1, 2]) })),
      badMetric: await err(webtune.finetune(model, { ...base, metric: "f1" })),
      noSink: await err(webtune.finetune(model, { ...base, checkpointEvery: 2 })),
      badResume: await err(webtune.finetune(model, { ...base, resumeFrom: { "model.safetensors": new Uint8Array(4) } })),
      otherOptions: await err(webtune.finetune(model, { ...base, epochs: 6, batchSize: 12, resumeFrom: window.checkpoints[0] })),
      aborted: await err(webtune.finetune(model, { ...base, epochs: 50, batchSize: 4, logEvery: 1, signal: ctl.signal,
        onEvent: (e) => { if (e.type === "step" && ++steps === 2) ctl.abort(); } })),
      steps,
    };
  }, [MODEL, rows]);
  assert.equal(r.unknown.name, "OptionsError");
  assert.match(r.unknown.message, /"epoch".*epochs/);
  assert.equal(r.nanRate?.name, "OptionsError");
  assert.match(r.nanRate.message, /NaN; give a finite number/);
  assert.match(r.noData.message, /data is required/);
  assert.equal(r.badColumn.name, "DataError");
  assert.match(r.badColumn.message, /no column "text".*review/);
  assert.equal(r.oneClass.name, "DataError");
  assert.match(r.oneClass.message, /at least 2/);
  assert.match(r.noFormat.message, /format/);
  assert.equal(r.badMetric.name, "OptionsError");
  assert.match(r.badMetric.message, /macro_f1/);
  assert.match(r.noSink.message, /onCheckpoint/);
  assert.match(r.badResume.message, /resumeFrom/);
  assert.equal(r.otherOptions.name, "OptionsError");
  assert.match(r.otherOptions.message, /cannot resume: option/);
  assert.equal(r.aborted.name, "AbortError");
  assert.ok(r.aborted.model, "the abort carries the model trained so far");
  assert.equal(r.steps, 2, "training stops at the next step boundary");
});
