// Fine-tuning through the public JS API (finetune → EncoderModel) in Chromium: on WebGPU the
// training loss falls and validation accuracy rises well above chance, and a checkpoint is made
// mid-run; the same run on the CPU path agrees, and so does the CPU run resumed from the WebGPU
// checkpoint; bad input and abort are clear errors. What made a real checkpoint's (MiniLM's)
// gradients NaN on WebGPU, GELU's backward at large inputs, is tests/browser.rs's GELU test.
// Needs pkg/ (pkg-config/build.sh).
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

// tiny-cls3 with dropout 0 (so WebGPU and CPU compute the same thing), 12 labelled rows × 3
const fixture = JSON.parse(readFileSync(join(ROOT, "tests/fixtures/bert/train-steps/expected.json"), "utf8"));
const rows = [0, 1, 2].flatMap(() => fixture.rows.map(({ text, label }) => ({ review: text, sentiment: label })));
const MODEL = {
  config: "/fixtures/bert/train-steps/config.json",
  weights: "/fixtures/bert/tiny-cls3/model.safetensors",
  tokenizer: "/fixtures/bert/tokenizer.json",
};

/**
 * Fine-tunes in the page on `device` (3 epochs × 3 steps, a checkpoint after each epoch, kept in
 * the page in `window.checkpoints[device]`; with `resume`, continues from the WebGPU run's step-3
 * checkpoint); returns the events, the device info and predictions.
 */
const run = (device, resume = false) => b.page.evaluate(async ([model, rows, device, resume]) => {
  const webtune = await import("/pkg/index.js");
  const events = [];
  try {
    const m = await webtune.finetune(model, {
      data: rows, validation: rows, columns: { text: "review", label: "sentiment" }, device,
      epochs: 3, batchSize: 12, learningRate: 1e-2, warmupRatio: 0.1, logEvery: 3, seed: 7, checkpointEvery: 3,
      onCheckpoint: (files) => { if (!resume) ((window.checkpoints ??= {})[device] ??= []).push(files); },
      resumeFrom: resume ? window.checkpoints.webgpu[0] : undefined,
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
}, [MODEL, rows, device, resume]);

const losses = (events) => events.filter((e) => e.type === "step").map((e) => e.loss);
const accuracies = (events) => events.filter((e) => e.type === "eval").map((e) => e.metrics.accuracy);

let gpu;
test("fine-tuning on WebGPU: the loss falls, validation accuracy rises, the model exports", async () => {
  const r = await run("webgpu");
  assert.equal(r.error, undefined, JSON.stringify(r.error) + "\n" + b.logs.join("\n"));
  gpu = r.ok;
  const [start] = gpu.events;
  assert.equal(start.type, "start");
  assert.equal(start.device.kind, "webgpu", "must run on a WebGPU adapter, not a fallback");
  assert.deepEqual(start.labels, ["negative", "neutral", "positive"]);
  const l = losses(gpu.events);
  assert.ok(l.at(-1) <= 0.6 * l[0], `training loss must fall by 40 %: ${l}`);
  const acc = accuracies(gpu.events);
  assert.equal(acc.length, 3, "an evaluation per epoch");
  const checkpoints = gpu.events.filter((e) => e.type === "checkpoint").map((e) => e.step);
  assert.deepEqual(checkpoints, [3, 6, 9]);
  assert.ok(Math.max(...acc) >= 0.8, `validation accuracy must rise well above chance (1/3): ${acc}`);
  const done = gpu.events.at(-1);
  assert.equal(done.type, "done");
  assert.equal(done.stopReason, "finished");
  assert.equal(gpu.info.device.kind, "webgpu");
  assert.equal(gpu.preds.length, 2);
  assert.ok(gpu.exported["model.safetensors"] > 100_000 && gpu.exported["tokenizer.json"] > 1000, JSON.stringify(gpu.exported));
  assert.equal(gpu.config.id2label["2"], "positive");
});

test("the same run on the CPU path agrees with WebGPU", async () => {
  const r = await run("cpu");
  assert.equal(r.error, undefined, JSON.stringify(r.error));
  const cpu = r.ok;
  assert.equal(cpu.events[0].device.kind, "cpu");
  assert.ok(gpu, "needs the WebGPU run");
  const [lg, lc] = [losses(gpu.events), losses(cpu.events)];
  assert.equal(lg.length, lc.length);
  lg.forEach((x, i) => assert.ok(Math.abs(x - lc[i]) <= 5e-3 * Math.max(1, Math.abs(x)), `step loss ${i}: WebGPU ${x}, CPU ${lc[i]}`));
  assert.deepEqual(accuracies(cpu.events), accuracies(gpu.events));
});

test("a CPU run resumed from the WebGPU run's step-3 checkpoint finishes like the WebGPU run", async () => {
  assert.ok(gpu, "needs the WebGPU run");
  const files = await b.page.evaluate(() => Object.fromEntries(Object.entries(window.checkpoints?.webgpu?.[0] ?? {}).map(([k, v]) => [k, v.length])));
  for (const f of ["config.json", "model.safetensors", "optimizer.safetensors", "trainer_state.json"]) {
    assert.ok(files[f] > 0, `checkpoint file ${f}: ${JSON.stringify(files)}`);
  }
  const r = await run("cpu", true);
  assert.equal(r.error, undefined, JSON.stringify(r.error));
  const resumed = r.ok.events;
  assert.equal(resumed[0].device.kind, "cpu");
  const steps = (events) => events.filter((e) => e.type === "step" && e.step > 3);
  const [lg, lr] = [steps(gpu.events), steps(resumed)];
  assert.deepEqual(lr.map((e) => e.step), [6, 9], "the resumed run continues after step 3");
  lg.forEach((e, i) => assert.ok(Math.abs(e.loss - lr[i].loss) <= 5e-3 * Math.max(1, e.loss), `step ${e.step}: WebGPU ${e.loss}, resumed on CPU ${lr[i].loss}`));
  assert.deepEqual(accuracies(resumed), accuracies(gpu.events).slice(1), "evaluations after the checkpoint");
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
      otherOptions: await err(webtune.finetune(model, { ...base, epochs: 6, batchSize: 12, resumeFrom: window.checkpoints.webgpu[0] })),
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
