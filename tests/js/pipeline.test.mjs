// pipeline() in Chromium: models load by hub id from a local mirror of the Hugging Face layout,
// in webtune's Worker, with progress events; a reload loads them from Cache Storage without a
// single request; fine-tuning, abort, evaluate, save and reloading the saved files work through
// the pipeline; bad input is a clear error. Needs pkg/ (pkg-config/build.sh).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { ROOT, openBrowser, requireAsset } from "./harness.mjs";

const FIX = join(ROOT, "tests/fixtures/bert");
const expected = JSON.parse(readFileSync(join(FIX, "tiny-cls3/expected.json"), "utf8"));
const train = JSON.parse(readFileSync(join(FIX, "train-steps/expected.json"), "utf8"));
const rows = [0, 1, 2].flatMap(() => train.rows.map(({ text, label }) => ({ text, label })));

// {hub}/webtune/tiny-cls3/resolve/main/{config.json, model.safetensors, tokenizer.json}
const hub = mkdtempSync(join(tmpdir(), "webtune-hub-"));
const repo = join(hub, "webtune/tiny-cls3/resolve/main");
mkdirSync(repo, { recursive: true });
copyFileSync(join(FIX, "tiny-cls3/config.json"), join(repo, "config.json"));
copyFileSync(join(FIX, "tiny-cls3/model.safetensors"), join(repo, "model.safetensors"));
copyFileSync(join(FIX, "tokenizer.json"), join(repo, "tokenizer.json"));

let b;
before(async () => {
  b = await openBrowser({ extraMounts: { "/hub/": hub } });
  await b.page.goto(b.server.url + "test/blank.html");
});
after(async () => {
  await b?.close();
  rmSync(hub, { recursive: true, force: true });
});

const hubRequests = () => b.server.requests.filter((p) => p.startsWith("/hub/"));

/**
 * Loads webtune/tiny-cls3 by hub id in the page and classifies the fixture's texts, on the CPU
 * path: the device changes neither the requests, the progress events nor the cache (a pipeline's
 * numbers on WebGPU against transformers: webgpu-features.test.mjs, encoder.test.mjs).
 */
const loadAndClassify = () => b.page.evaluate(async (texts) => {
  const { env, pipeline } = await import("/pkg/index.js");
  env.remoteHost = `${location.origin}/hub`;
  const progress = [];
  try {
    const clf = await pipeline("text-classification", { model: "webtune/tiny-cls3", device: "cpu", onProgress: (e) => progress.push(e) });
    const out = { progress, info: clf.info, scores: await clf(texts), one: await clf(texts[0], { topK: 1 }) };
    clf.dispose();
    // fetches made by the Worker are not in the page's resource timing
    out.pageFetches = performance.getEntriesByType("resource").map((e) => new URL(e.name).pathname);
    return out;
  } catch (e) {
    return { error: { name: e.name, message: e.message }, progress };
  }
}, expected.texts);

const softmax = (xs) => {
  const m = Math.max(...xs);
  const e = xs.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
};

test("pipeline loads a hub id in its Worker with progress events, matches transformers (CPU path), and a reload uses the cache", async () => {
  const r = await loadAndClassify();
  assert.equal(r.error, undefined, JSON.stringify(r.error) + "\n" + b.logs.join("\n"));
  assert.equal(r.info.device.kind, "cpu", `ran on ${JSON.stringify(r.info.device)}`);

  // numbers: transformers' logits for the same texts (tests/reference), as probabilities
  const n = r.info.labels.length;
  r.scores.forEach((scores, i) => {
    const want = softmax(expected.logits.slice(i * n, (i + 1) * n));
    assert.deepEqual(scores.map((s) => s.score), [...scores.map((s) => s.score)].sort((x, y) => y - x), "highest first");
    for (const { label, score } of scores) {
      const ref = want[r.info.labels.indexOf(label)];
      assert.ok(Math.abs(score - ref) <= 1e-3, `text ${i} ${label}: ours=${score} reference=${ref}`);
    }
  });
  // one text alone (no padding) vs the same text in a padded batch of 3
  assert.equal(r.one.length, 1);
  assert.equal(r.one[0].label, r.scores[0][0].label);
  assert.ok(Math.abs(r.one[0].score - r.scores[0][0].score) <= 1e-5, `${r.one[0].score} vs ${r.scores[0][0].score}`);

  // progress: per file initiate → download → progress… → done (from the network), then ready
  const files = ["config.json", "model.safetensors", "tokenizer.json"];
  for (const file of files) {
    const seq = r.progress.filter((e) => e.file === file).map((e) => e.status);
    assert.deepEqual([seq[0], seq[1], seq.at(-1)], ["initiate", "download", "done"], `${file}: ${seq}`);
    assert.ok(seq.includes("progress"), `${file}: ${seq}`);
    const done = r.progress.find((e) => e.file === file && e.status === "done");
    assert.equal(done.fromCache, false);
    assert.equal(done.loaded, readFileSync(join(repo, file)).length);
  }
  assert.deepEqual(r.progress.at(-1), { status: "ready", task: "text-classification", name: "webtune/tiny-cls3" });
  // and whether the folder is a SetFit model's (it is not: no events for the head it lacks)
  assert.deepEqual(hubRequests().sort(), [...files, "model_head.pkl"].map((f) => `/hub/webtune/tiny-cls3/resolve/main/${f}`).sort());
  assert.ok(!r.progress.some((e) => e.file === "model_head.pkl"), JSON.stringify(r.progress.filter((e) => e.file === "model_head.pkl")));
  // the page itself fetched neither the model nor the wasm: the Worker did
  assert.ok(!r.pageFetches.some((p) => p.startsWith("/hub/") || p.endsWith(".wasm")), r.pageFetches.join(", "));

  // reload: every file comes from Cache Storage, no request reaches the hub
  await b.page.reload();
  const before = hubRequests().length;
  const again = await loadAndClassify();
  assert.equal(again.error, undefined, JSON.stringify(again.error));
  assert.equal(hubRequests().length, before, `requests after reload: ${hubRequests().slice(before)}`);
  for (const file of files) {
    const done = again.progress.find((e) => e.file === file && e.status === "done");
    assert.equal(done.fromCache, true, file);
  }
  assert.deepEqual(again.scores, r.scores);
});

test("a feature-extraction pipeline gives the vectors loadEncoder gives (CPU path)", async () => {
  const r = await b.page.evaluate(async (texts) => {
    const { env, loadEncoder, pipeline } = await import("/pkg/index.js");
    env.remoteHost = `${location.origin}/hub`;
    const fe = await pipeline("feature-extraction", { model: "webtune/tiny-cls3", device: "cpu" });
    const out = { one: await fe(texts[0]), many: await fe(texts, { normalize: true }), info: fe.info };
    fe.dispose();
    const enc = await loadEncoder("/hub/webtune/tiny-cls3/resolve/main", { device: "cpu" });
    out.reference = await enc.embed(texts, { normalize: true });
    enc.dispose();
    return out;
  }, expected.texts);
  assert.equal(r.info.device.kind, "cpu");
  assert.equal(r.one.length, r.info.hiddenSize);
  assert.equal(r.many.length, expected.texts.length);
  r.many.forEach((v, i) => {
    assert.ok(Math.abs(Math.hypot(...v) - 1) < 1e-5, "normalized");
    v.forEach((x, j) => assert.ok(Math.abs(x - r.reference[i][j]) < 1e-6, `text ${i} dim ${j}: ${x} vs ${r.reference[i][j]}`));
  });
});

test("search: a 4-trial grid runs in the Worker, reports each trial, keeps the best, and that model equals a plain run with its settings (CPU path)", async () => {
  const r = await b.page.evaluate(async (rows) => {
    const { env, pipeline } = await import("/pkg/index.js");
    env.remoteHost = `${location.origin}/hub`;
    const failure = (e) => ({ name: e.name, message: e.message });
    const common = { data: rows, validationSplit: 0.25, batchSize: 6, warmupRatio: 0, logEvery: 100 };
    const texts = ["a delight from start to finish", "dull", "it was fine"];
    try {
      const searched = await pipeline("text-classification", { model: "webtune/tiny-cls3", device: "cpu" });
      const events = [];
      const result = await searched.search({
        ...common, space: { learningRate: [1e-3, 5e-3], epochs: [1, 2] }, metric: "accuracy",
        onEvent: (e) => events.push(e.type === "trial" ? e : { type: e.type, trial: e.trial }),
      });
      const fromSearch = await searched(texts);
      const plain = await pipeline("text-classification", { model: "webtune/tiny-cls3", device: "cpu" });
      await plain.finetune({ ...common, ...result.best.settings, metric: "accuracy" });
      const fromPlain = await plain(texts);
      const errors = {
        space: await searched.search({ ...common, space: { dropout: [0.1] } }).then(() => null, failure),
        run: await searched.search({ ...common, space: { epochs: [1] }, run: "x" }).then(() => null, failure),
        noValidation: await plain.search({ ...common, validationSplit: 0, space: { epochs: [1] } }).then(() => null, failure),
      };
      searched.dispose();
      plain.dispose();
      return { result, trialEvents: events.filter((e) => e.type === "trial"), doneTrials: events.filter((e) => e.type === "done").map((e) => e.trial), fromSearch, fromPlain, errors };
    } catch (e) {
      return { error: failure(e) };
    }
  }, rows);
  assert.ok(!r.error, JSON.stringify(r.error));
  const { trials, best } = r.result;
  assert.deepEqual(trials.map((t) => t.settings), [
    { learningRate: 1e-3, epochs: 1 }, { learningRate: 1e-3, epochs: 2 }, { learningRate: 5e-3, epochs: 1 }, { learningRate: 5e-3, epochs: 2 },
  ], "the grid, last key fastest");
  assert.deepEqual(r.doneTrials, [0, 1, 2, 3], "each trial's training events carry its index");
  assert.deepEqual(r.trialEvents.map((e) => e.value), trials.map((t) => t.value));
  const top = Math.max(...trials.map((t) => t.value));
  assert.equal(best.value, top);
  assert.equal(best.index, trials.findIndex((t) => t.value === top), "the first trial with the best accuracy");
  // the kept model is the best trial's: a plain run with its settings gives the same probabilities
  for (const [i, scores] of r.fromSearch.entries()) {
    for (const [j, s] of scores.entries()) {
      assert.equal(s.label, r.fromPlain[i][j].label);
      assert.ok(Math.abs(s.score - r.fromPlain[i][j].score) <= 1e-6, `${s.score} vs ${r.fromPlain[i][j].score}`);
    }
  }
  assert.match(r.errors.space?.message ?? "", /unknown option "dropout"; valid options are learningRate, epochs, batchSize, loraRank/);
  assert.match(r.errors.run?.message ?? "", /run is not available in a search/);
  assert.match(r.errors.noValidation?.message ?? "", /give validation data/);
});

test("a pipeline fine-tunes in its Worker (CPU path), aborts keeping the model usable, evaluates, saves, and its saved files load", async () => {
  const r = await b.page.evaluate(async ({ rows }) => {
    const { env, pipeline } = await import("/pkg/index.js");
    env.remoteHost = `${location.origin}/hub`;
    const err = (e) => ({ name: e.name, message: e.message });
    try {
      const clf = await pipeline("text-classification", { model: "webtune/tiny-cls3", device: "cpu" });
      const events = [];
      const done = await clf.finetune({
        data: rows, validation: rows, epochs: 6, batchSize: 12, learningRate: 3e-3, warmupRatio: 0.1, logEvery: 1, seed: 7,
        onEvent: (e) => events.push(e),
      });
      const metrics = await clf.evaluate(rows);
      // abort after the 2nd step of a long run: AbortError, and the pipeline still classifies
      const ac = new AbortController();
      let aborted;
      await clf.finetune({
        data: rows, epochs: 100, batchSize: 12, learningRate: 1e-4, logEvery: 1, validationSplit: 0,
        onEvent: (e) => { if (e.type === "step" && e.step === 2) ac.abort(); },
        signal: ac.signal,
      }).catch((e) => { aborted = err(e); });
      const afterAbort = await clf("charming and moving");
      const saved = await clf.save();
      const names = Object.keys(saved).sort();
      const files = Object.entries(saved).map(([name, blob]) => new File([blob], name));
      const reloaded = await pipeline("text-classification", { model: files, device: "cpu" });
      const same = [await clf("dull"), await reloaded("dull")];
      const info = [clf.info, reloaded.info];
      clf.dispose();
      reloaded.dispose();
      return { ok: { done, events, metrics, aborted, afterAbort, names, same, info } };
    } catch (e) {
      return { error: err(e) };
    }
  }, { rows });
  assert.equal(r.error, undefined, JSON.stringify(r.error) + "\n" + b.logs.join("\n"));
  const { done, events, metrics, aborted, afterAbort, names, same, info } = r.ok;
  assert.equal(info[0].device.kind, "cpu");
  assert.equal(done.type, "done");
  assert.equal(done.stopReason, "finished");
  const losses = events.filter((e) => e.type === "step").map((e) => e.loss);
  assert.equal(losses.length, 18);
  assert.ok(losses.at(-1) < losses[0], `loss ${losses}`);
  assert.deepEqual([...info[0].labels].sort(), [...new Set(rows.map((x) => x.label))].sort());
  assert.equal(metrics.examples, rows.length);
  assert.ok(metrics.accuracy > 0.5, `accuracy ${metrics.accuracy}`);
  assert.equal(aborted?.name, "AbortError", JSON.stringify(aborted));
  assert.equal(afterAbort.length, info[0].labels.length);
  assert.deepEqual(names, ["config.json", "model.safetensors", "tokenizer.json"]);
  assert.deepEqual(info[1].labels, info[0].labels);
  same[0].forEach((s, i) => {
    assert.equal(s.label, same[1][i].label);
    assert.ok(Math.abs(s.score - same[1][i].score) < 1e-5, `${s.score} vs ${same[1][i].score}`);
  });
});

for (const storage of ["opfs", "indexeddb"]) {
test(`a run stored in ${storage} resumes after a page reload and ends as the uninterrupted run (CPU path); saved models are listed and deleted`, async () => {
  const opts = { data: rows, validation: rows, epochs: 6, batchSize: 12, learningRate: 3e-3, warmupRatio: 0.1, logEvery: 1, seed: 7 };
  const first = await b.page.evaluate(async ({ opts, storage }) => {
    const { env, models, pipeline, runs } = await import("/pkg/index.js");
    env.remoteHost = `${location.origin}/hub`;
    env.storage = storage; // where runs and models are kept (IndexedDB: browsers without OPFS)
    try {
      await runs.delete("r1");
      const full = [];
      const a = await pipeline("text-classification", { model: "webtune/tiny-cls3", device: "cpu" });
      await a.finetune({ ...opts, onEvent: (e) => full.push(e) });
      a.dispose();
      // the same run, stored with a checkpoint every 3 steps, aborted from here after step 4 (the
      // Worker sees the abort a step or two later): a checkpoint of step 3 or 6 is the latest
      const p = await pipeline("text-classification", { model: "webtune/tiny-cls3", device: "cpu" });
      const ac = new AbortController();
      let aborted = null;
      await p.finetune({
        ...opts, run: "r1", checkpointEvery: 3, signal: ac.signal,
        onEvent: (e) => { if (e.type === "step" && e.step === 4) ac.abort(); },
      }).catch((e) => { aborted = e.name; });
      await p.save({ name: "m1" });
      p.dispose();
      // where the run went: an OPFS folder, or IndexedDB keys
      const inOpfs = await navigator.storage.getDirectory().then((d) => d.getDirectoryHandle("webtune"))
        .then((d) => d.getDirectoryHandle("runs")).then((d) => d.getDirectoryHandle("r1")).then(() => true, () => false);
      const inIdb = (await indexedDB.databases()).some((d) => d.name === "webtune") && await new Promise((resolve) => {
        const open = indexedDB.open("webtune");
        open.onsuccess = () => {
          const q = open.result.transaction("files").objectStore("files").count(IDBKeyRange.bound("runs/r1/", "runs/r1/\uffff"));
          q.onsuccess = () => { resolve(q.result > 0); open.result.close(); };
        };
      });
      return { full, aborted, where: { opfs: inOpfs, indexeddb: inIdb }, runs: await runs.list(), models: await models.list() };
    } catch (e) {
      return { error: { name: e.name, message: e.message } };
    }
  }, { opts, storage });
  assert.equal(first.error, undefined, JSON.stringify(first.error) + "\n" + b.logs.join("\n"));
  assert.equal(first.aborted, "AbortError");
  assert.deepEqual(first.where, { opfs: storage === "opfs", indexeddb: storage === "indexeddb" });
  assert.equal(first.runs.length, 1);
  const k = first.runs[0].step;
  assert.ok(k >= 3 && k % 3 === 0 && k < 18, `latest checkpoint at step ${k}`);
  assert.deepEqual({ ...first.runs[0], step: k, updated: null }, { name: "r1", step: k, updated: null, finished: false });
  assert.deepEqual(first.models.map((m) => m.name), ["m1"]);
  assert.ok(first.models[0].bytes > 100_000);

  await b.page.reload(); // a new page and a new Worker: only the storage remembers the run
  const second = await b.page.evaluate(async (storage) => {
    const { env, models, pipeline, runs } = await import("/pkg/index.js");
    env.storage = storage;
    try {
      // the stored run as a recipe that continues it on GPUs (tests/recipe.rs: the Trainer's steps)
      const recipe = await runs.recipe("r1");
      const continued = { resume: JSON.parse(new TextDecoder().decode(recipe["recipe.json"])).resume, files: Object.keys(recipe).filter((n) => n.startsWith("resume/")) };
      const events = [];
      const { pipeline: p, done } = await runs.resume("r1", { onEvent: (e) => events.push(e) });
      const info = p.info;
      const files = await models.files("m1");
      const m = await pipeline("text-classification", { model: files, device: "cpu" });
      const saved = await m("dull");
      p.dispose();
      m.dispose();
      const deleted = [await runs.delete("r1"), await models.delete("m1"), await runs.delete("r1")];
      return { events, done, info, saved, names: files.map((f) => f.name).sort(), deleted, runs: await runs.list(), models: await models.list(), continued };
    } catch (e) {
      return { error: { name: e.name, message: e.message } };
    }
  }, storage);
  assert.equal(second.error, undefined, JSON.stringify(second.error) + "\n" + b.logs.join("\n"));
  assert.equal(second.info.device.kind, "cpu");
  assert.equal(second.continued.resume.step, k, "the recipe continues from the latest checkpoint");
  for (const f of ["resume/model.safetensors", "resume/exp_avg.safetensors", "resume/exp_avg_sq.safetensors", "resume/config.json"]) {
    assert.ok(second.continued.files.includes(f), `${f} in ${second.continued.files}`);
  }
  const steps = (events) => events.filter((e) => e.type === "step");
  const resumed = steps(second.events);
  assert.deepEqual(resumed.map((e) => e.step), Array.from({ length: 18 - k }, (_, i) => k + 1 + i));
  const full = steps(first.full).slice(k);
  resumed.forEach((e, i) => assert.ok(Math.abs(e.loss - full[i].loss) <= 1e-5, `step ${e.step}: resumed ${e.loss}, uninterrupted ${full[i].loss}`));
  const evals = (events) => events.filter((e) => e.type === "eval").map((e) => [e.step, e.metrics.accuracy]);
  assert.deepEqual(evals(second.events), evals(first.full).filter(([step]) => step > k));
  assert.equal(second.done.stopReason, "finished");
  assert.deepEqual(second.done.best, first.full.at(-1).best);
  assert.deepEqual(second.names, ["config.json", "model.safetensors", "tokenizer.json"]);
  assert.equal(second.saved.length, 3);
  assert.deepEqual(second.deleted, [true, true, false]);
  assert.deepEqual([second.runs, second.models], [[], []]);
});
}

// The device does not change what goes over the network: the CPU path proves it in seconds.
test("privacy: no request leaves localhost, and fine-tuning on the user's file makes no request at all (CPU path)", async () => {
  // Every request of the page and of webtune's Worker goes through this route: a request to any
  // other origin is recorded and refused.
  const seen = [], offsite = [];
  const origin = new URL(b.server.url).origin;
  const route = (r) => {
    const url = r.request().url();
    seen.push(url);
    if (new URL(url).origin !== origin) { offsite.push(url); return r.abort(); }
    return r.continue();
  };
  const context = b.page.context();
  await context.route("**/*", route);
  try {
    const load = await b.page.evaluate(async () => {
      const { env, pipeline } = await import("/pkg/index.js");
      env.remoteHost = `${location.origin}/hub`;
      env.useCache = false; // fetched now, so that the Worker's requests are seen to pass the route
      try {
        window.clf = await pipeline("text-classification", { model: "webtune/tiny-cls3", device: "cpu" });
        return { device: window.clf.info.device.kind };
      } catch (e) {
        return { error: { name: e.name, message: e.message } };
      } finally {
        env.useCache = true;
      }
    });
    assert.equal(load.error, undefined, JSON.stringify(load.error) + "\n" + b.logs.join("\n"));
    assert.equal(load.device, "cpu");
    assert.ok(seen.some((u) => u.endsWith("/hub/webtune/tiny-cls3/resolve/main/model.safetensors")), `the route saw the Worker's downloads: ${seen.join(", ")}`);
    const before = seen.length;
    const r = await b.page.evaluate(async (rows) => {
      // the user's private data: a CSV file picked from disk
      const csv = "text,label\n" + rows.map((x) => `"${x.text.replaceAll('"', '""')}",${x.label}`).join("\n");
      const file = new File([csv], "reviews.csv", { type: "text/csv" });
      try {
        const steps = [];
        const done = await window.clf.finetune({ data: file, epochs: 1, batchSize: 12, validationSplit: 0.25, onEvent: (e) => e.type === "step" && steps.push(e) });
        const metrics = await window.clf.evaluate(file);
        const scores = await window.clf("charming and moving");
        const saved = Object.keys(await window.clf.save());
        return { done: done.type, steps: steps.length, metrics: metrics.examples, scores: scores.length, saved };
      } catch (e) {
        return { error: { name: e.name, message: e.message } };
      } finally {
        window.clf.dispose();
      }
    }, rows);
    assert.equal(r.error, undefined, JSON.stringify(r.error) + "\n" + b.logs.join("\n"));
    assert.equal(r.done, "done");
    assert.ok(r.steps > 0 && r.metrics === rows.length && r.scores > 0 && r.saved.length === 3, JSON.stringify(r));
    assert.deepEqual(seen.slice(before), [], "requests while fine-tuning, evaluating and saving");
    assert.deepEqual(offsite, [], "requests that left localhost");
  } finally {
    await context.unroute("**/*", route);
  }
});

test("a GPU device lost mid-training is a GpuError; webtune replaces its Worker and runs.resume() continues from the last checkpoint (WebGPU)", async () => {
  await b.page.reload(); // no Worker yet: the next one to start is the one whose device is lost
  const started = b.page.waitForEvent("worker");
  const run = b.page.evaluate(async (rows) => {
    const { env, pipeline, runs } = await import("/pkg/index.js");
    env.remoteHost = `${location.origin}/hub`;
    const failure = (e) => ({ name: e.name, message: e.message });
    try {
      await runs.delete("lost1");
      const p = await pipeline("text-classification", { model: "webtune/tiny-cls3", device: "webgpu" });
      const steps = [];
      const error = await p.finetune({
        data: rows.slice(0, 12), validationSplit: 0, epochs: 4, batchSize: 6, learningRate: 1e-3, logEvery: 1, run: "lost1", checkpointEvery: 3,
        onEvent: (e) => { if (e.type === "step" && steps.push(e.step) === 4) window.loseDevice = true; },
      }).then(() => null, failure);
      const oldPipeline = await p("fine").then(() => null, failure);
      const stored = await runs.list();
      const events = [];
      const { pipeline: q, done } = await runs.resume("lost1", { onEvent: (e) => events.push(e) });
      const scores = await q("fine");
      q.dispose();
      p.dispose();
      return {
        device: p.info.device.kind, steps, error, oldPipeline, stored, done, scores: scores.length, resumedDevice: q.info.device.kind,
        resumed: events.filter((e) => e.type === "step").map((e) => e.step), deleted: await runs.delete("lost1"),
      };
    } catch (e) {
      return { error: failure(e), unexpected: true };
    }
  }, rows);
  // In webtune's Worker: the next command encoder webtune creates after the page says so destroys
  // its device, as a driver reset or a crashed GPU process would lose it.
  const worker = await started;
  await worker.evaluate(() => {
    const create = GPUDevice.prototype.createCommandEncoder;
    GPUDevice.prototype.createCommandEncoder = function (...args) {
      if (self.loseDevice) {
        self.loseDevice = false;
        this.destroy();
      }
      return create.apply(this, args);
    };
  });
  await b.page.waitForFunction(() => window.loseDevice === true, null, { timeout: 120_000 });
  await worker.evaluate(() => { self.loseDevice = true; });
  const r = await run;
  assert.ok(!r.unexpected, JSON.stringify(r.error) + "\n" + b.logs.join("\n"));
  assert.equal(r.device, "webgpu");
  assert.equal(r.error?.name, "GpuError", JSON.stringify(r));
  assert.match(r.error.message, /GPU device was lost \(destroyed.*started a fresh worker.*runs\.resume\(name\)/s);
  // 8 steps (12 rows, 2 steps an epoch): the loss at step 4 ends the run before its last step
  assert.ok(r.steps.length >= 4 && r.steps.at(-1) < 8, `the loss stopped the run (steps ${r.steps.join(",")})`);
  assert.equal(r.oldPipeline?.name, "GpuError", "the old Worker's pipeline is gone");
  assert.match(r.oldPipeline.message, /lost with the GPU device.*load the model again/);
  const k = r.stored[0]?.step;
  // the checkpoint being taken when the device went may be lost with it: an earlier one is kept
  assert.ok(k >= 3 && k % 3 === 0 && k <= r.steps.at(-1), `latest checkpoint at step ${k}, last step ${r.steps.at(-1)}`);
  assert.equal(r.resumedDevice, "webgpu", "the fresh Worker has a new WebGPU device");
  assert.deepEqual(r.resumed, Array.from({ length: 8 - k }, (_, i) => k + 1 + i));
  assert.equal(r.done.stopReason, "finished");
  assert.equal(r.scores, 3);
  assert.equal(r.deleted, true);
  assert.ok(!b.logs.some((l) => l.startsWith("[pageerror]") || /panicked/.test(l)), "no panic:\n" + b.logs.join("\n"));
});

test("a panic in the core is an InternalError; webtune replaces its Worker, old pipelines say so, and runs.resume() continues from the last checkpoint", async () => {
  const r = await b.page.evaluate(async (rows) => {
    const { env, pipeline, runs } = await import("/pkg/index.js");
    const { request } = await import("/pkg/client.js"); // internal: panicForTest exists only in test builds
    env.remoteHost = `${location.origin}/hub`;
    const failure = (e) => ({ name: e.name, message: e.message });
    try {
      await runs.delete("trap1");
      const p = await pipeline("text-classification", { model: "webtune/tiny-cls3", device: "cpu" });
      const steps = [];
      // panic once the step-3 checkpoint is stored (its write may still be going on at step 4)
      const stored3 = async () => ((await runs.list()).find((x) => x.name === "trap1")?.step ?? 0) >= 3;
      let panic = null;
      const error = await p.finetune({
        data: rows, validationSplit: 0, epochs: 40, batchSize: 6, learningRate: 1e-3, logEvery: 1, run: "trap1", checkpointEvery: 3,
        onEvent: (e) => {
          if (e.type === "step" && steps.push(e.step) === 4) {
            panic = (async () => {
              while (!(await stored3())) await new Promise((r) => setTimeout(r, 10));
              return request("panicForTest", { what: "mid-run" }).then(() => null, failure);
            })();
          }
        },
      }).then(() => null, failure);
      const oldPipeline = await p("fine").then(() => null, failure);
      const stored = await runs.list();
      const events = [];
      const { pipeline: q, done } = await runs.resume("trap1", { onEvent: (e) => events.push(e) });
      const scores = await q("fine");
      q.dispose();
      p.dispose();
      return {
        steps, error, panic: await panic, oldPipeline, stored, done, scores: scores.length,
        resumed: events.filter((e) => e.type === "step").map((e) => e.step), deleted: await runs.delete("trap1"),
      };
    } catch (e) {
      return { error: failure(e), unexpected: true };
    }
  }, rows);
  assert.ok(!r.unexpected, JSON.stringify(r.error) + "\n" + b.logs.join("\n"));
  for (const e of [r.error, r.panic]) {
    assert.equal(e?.name, "InternalError", JSON.stringify(r));
    assert.match(e.message, /internal error while running (finetune|panicForTest).*a bug in webtune.*started a fresh worker.*runs\.resume\(name\)/s);
  }
  assert.match(r.panic.message, /panicForTest/);
  assert.equal(r.oldPipeline?.name, "InternalError", "the old Worker's pipeline is gone");
  assert.match(r.oldPipeline.message, /lost when webtune replaced its worker after an internal error.*load the model again/);
  const k = r.stored.find((x) => x.name === "trap1")?.step;
  assert.ok(k >= 3 && k % 3 === 0 && k <= r.steps.at(-1) && r.steps.at(-1) < 240, `latest checkpoint at step ${k}, last step ${r.steps.at(-1)}`);
  assert.deepEqual(r.resumed, Array.from({ length: 240 - k }, (_, i) => k + 1 + i));
  assert.equal(r.done.stopReason, "finished");
  assert.equal(r.scores, 3);
  assert.equal(r.deleted, true);
  assert.ok(b.logs.some((l) => /panicked at .*\n?.*panicForTest: mid-run/.test(l)), "console_error_panic_hook logged the panic:\n" + b.logs.join("\n"));
});

test("a Worker killed while it writes a checkpoint leaves the previous one: runs.resume() continues from it (OPFS and IndexedDB)", async () => {
  for (const storage of ["opfs", "indexeddb"]) {
    await b.page.reload(); // no Worker yet: the next one to start is the one killed
    const started = b.page.waitForEvent("worker");
    // never settles: the Worker dies under it (the reload below ends the evaluation)
    b.page.evaluate(async ({ rows, storage }) => {
      const { env, pipeline, runs } = await import("/pkg/index.js");
      env.remoteHost = `${location.origin}/hub`;
      env.storage = storage;
      await runs.delete("killed1");
      const p = await pipeline("text-classification", { model: "webtune/tiny-cls3", device: "cpu" });
      await p.finetune({
        data: rows, validationSplit: 0, epochs: 4, batchSize: 6, learningRate: 1e-3, logEvery: 1, run: "killed1", checkpointEvery: 3,
        onEvent: (e) => { if (e.type === "checkpoint" && e.step === 3) window.killNext = true; },
      });
    }, { rows, storage }).catch(() => {});
    // In the Worker: once the page says so, the next checkpoint file written kills the Worker in
    // the middle of the write (self.close(): nothing after it runs, the write never completes).
    const worker = await started;
    const closed = new Promise((resolve) => worker.once("close", resolve));
    await worker.evaluate(() => {
      // a checkpoint after the first (whose write may still be going on when the page hears of it)
      const later = (dir) => /^checkpoint-\d+$/.test(dir) && dir !== "checkpoint-3";
      let dir = "";
      const getDirectoryHandle = FileSystemDirectoryHandle.prototype.getDirectoryHandle;
      FileSystemDirectoryHandle.prototype.getDirectoryHandle = function (name, options) {
        dir = name;
        return getDirectoryHandle.call(this, name, options);
      };
      const write = FileSystemWritableFileStream.prototype.write;
      FileSystemWritableFileStream.prototype.write = function (data) {
        if (self.killNext && later(dir) && (data?.byteLength ?? data?.size ?? 0) > 1000) { self.close(); return new Promise(() => {}); }
        return write.call(this, data);
      };
      const put = IDBObjectStore.prototype.put;
      IDBObjectStore.prototype.put = function (value, key) {
        if (self.killNext && later(String(key).split("/")[2]) && value?.size > 1000) { self.close(); throw new Error("killed"); }
        return put.call(this, value, key);
      };
    });
    await b.page.waitForFunction(() => window.killNext === true, null, { timeout: 120_000 });
    await worker.evaluate(() => { self.killNext = true; });
    let timer;
    const late = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${storage}: the Worker was not killed by a checkpoint write`)), 120_000); });
    await Promise.race([closed, late]).finally(() => clearTimeout(timer));
    await b.page.reload();
    const r = await b.page.evaluate(async (storage) => {
      const { env, runs } = await import("/pkg/index.js");
      env.remoteHost = `${location.origin}/hub`;
      env.storage = storage;
      try {
        const stored = await runs.list();
        const events = [];
        const { pipeline: q, done } = await runs.resume("killed1", { onEvent: (e) => events.push(e) });
        const scores = await q("fine");
        q.dispose();
        return { stored, done, scores: scores.length, resumed: events.filter((e) => e.type === "step").map((e) => e.step), deleted: await runs.delete("killed1") };
      } catch (e) {
        return { error: { name: e.name, message: e.message } };
      }
    }, storage);
    assert.equal(r.error, undefined, `${storage}: ${JSON.stringify(r.error)}\n${b.logs.join("\n")}`);
    const k = r.stored.find((x) => x.name === "killed1")?.step;
    assert.ok(k >= 3 && k % 3 === 0 && k < 24, `${storage}: the last complete checkpoint is kept (step ${k})`);
    assert.deepEqual(r.resumed, Array.from({ length: 24 - k }, (_, i) => k + 1 + i), storage);
    assert.equal(r.done.stopReason, "finished");
    assert.equal(r.scores, 3);
    assert.equal(r.deleted, true);
  }
});

test("a fine-tuning plan the GPU cannot hold is an OutOfMemoryError before any step (MiniLM on WebGPU)", async (t) => {
  if (!requireAsset(t, "models/all-MiniLM-L6-v2/model.safetensors", "see ../shared/assets/README.md")) return;
  const r = await b.page.evaluate(async () => {
    const { pipeline } = await import("/pkg/index.js");
    const clf = await pipeline("text-classification", { model: "/assets/models/all-MiniLM-L6-v2", device: "webgpu" });
    const rows = Array.from({ length: 128 }, (_, i) => ({ text: `review number ${i}`, label: i % 2 ? "pos" : "neg" }));
    const events = [];
    try {
      await clf.finetune({ data: rows, validationSplit: 0, batchSize: 128, maxLength: 512, onEvent: (e) => events.push(e) });
      return { events, device: clf.info.device };
    } catch (e) {
      return { error: { name: e.name, message: e.message }, events, device: clf.info.device };
    } finally {
      clf.dispose();
    }
  });
  assert.equal(r.device.kind, "webgpu");
  assert.equal(r.error?.name, "OutOfMemoryError", JSON.stringify(r));
  assert.match(r.error.message, /attention scores \(128 × 12 heads × 512 × 512\).*maxStorageBufferBindingSize.*lower batchSize or maxLength/);
  assert.deepEqual(r.events, [], "refused before the run started");
});

test("pipeline: bad input is a clear, named error", async () => {
  const errors = await b.page.evaluate(async () => {
    const { env, pipeline, runs } = await import("/pkg/index.js");
    env.remoteHost = `${location.origin}/hub`;
    const grab = async (f) => {
      try {
        await f();
        return null;
      } catch (e) {
        return { name: e.name, message: e.message };
      }
    };
    const clf = await pipeline("text-classification", { model: "webtune/tiny-cls3", device: "cpu" });
    const out = {
      task: await grab(() => pipeline("summarization", { model: "webtune/tiny-cls3" })),
      generation: await grab(() => pipeline("text-generation", { model: "x/y" })),
      notGguf: await grab(() => pipeline("text-generation", { model: new File(["<html>404</html>"], "model.gguf"), device: "cpu" })),
      option: await grab(() => pipeline("text-classification", { model: "webtune/tiny-cls3", devise: "cpu" })),
      noModel: await grab(() => pipeline("feature-extraction", {})),
      envKey: await grab(() => { env.remoteHots = "x"; }),
      envType: await grab(() => { env.useCache = "yes"; }),
      envChoice: await grab(() => { env.storage = "s3"; }),
      missing: await grab(() => pipeline("text-classification", { model: "webtune/nope", device: "cpu" })),
      picked: await grab(() => pipeline("text-classification", { model: [new File(["{}"], "config.json")] })),
      runOption: await grab(() => clf("hi", { top_k: 1 })),
      saveFormat: await grab(() => clf.save({ format: "peft" })),
      noData: await grab(() => clf.finetune({ epochs: 1 })),
      runName: await grab(() => clf.finetune({ data: [{ text: "a", label: "x" }], run: "a/b", checkpointEvery: 1 })),
      runNoEvery: await grab(() => clf.finetune({ data: [{ text: "a", label: "x" }], run: "r" })),
      noRun: await grab(() => runs.resume("never-started")),
    };
    env.allowRemoteModels = false;
    out.remote = await grab(() => pipeline("text-classification", { model: "webtune/tiny-cls3" }));
    env.allowRemoteModels = true;
    clf.dispose();
    out.disposed = await grab(() => clf("hi"));
    return out;
  });
  const expect = {
    task: ["OptionsError", /unknown task "summarization"; valid tasks are feature-extraction, fill-mask, question-answering, text-classification, text-generation, token-classification/],
    generation: ["NetworkError", /config.json: .*\/hub\/x\/y\/resolve\/main\/config.json answered HTTP 404/],
    notGguf: ["WeightsError", /not a GGUF file/],
    option: ["OptionsError", /unknown option "devise"; valid options are model, device/],
    noModel: ["OptionsError", /options.model is required/],
    envKey: ["OptionsError", /unknown setting "remoteHots"; valid settings are remoteHost/],
    envType: ["OptionsError", /env.useCache must be a boolean, got string/],
    envChoice: ["OptionsError", /env.storage must be one of "auto", "opfs", "indexeddb", got "s3"/],
    missing: ["NetworkError", /config.json: .*\/hub\/webtune\/nope\/resolve\/main\/config.json answered HTTP 404/],
    picked: ["OptionsError", /the picked files lack model.safetensors, tokenizer.json/],
    runOption: ["OptionsError", /unknown option "top_k"; valid options are topK/],
    saveFormat: ["OptionsError", /this model has no LoRA adapters: fine-tune it with lora/],
    noData: ["OptionsError", /options.data is required/],
    remote: ["OptionsError", /allowRemoteModels is false/],
    runName: ["OptionsError", /run name must be 1-100 letters/],
    runNoEvery: ["OptionsError", /a stored run needs checkpointEvery/],
    noRun: ["OptionsError", /no stored run named "never-started"/],
    disposed: ["OptionsError", /disposed/],
  };
  for (const [k, [name, re]] of Object.entries(expect)) {
    assert.ok(errors[k], `${k}: no error`);
    assert.equal(errors[k].name, name, `${k}: ${JSON.stringify(errors[k])}`);
    assert.match(errors[k].message, re, k);
  }
});

test("without WebGPU a pipeline falls back to the CPU with a warning event; device \"webgpu\" is a WebGpuUnavailableError", async () => {
  const nogpu = await openBrowser({ webgpu: false, extraMounts: { "/hub/": hub } });
  try {
    await nogpu.page.goto(nogpu.server.url + "test/blank.html");
    const r = await nogpu.page.evaluate(async () => {
      const { env, pipeline } = await import("/pkg/index.js");
      env.remoteHost = `${location.origin}/hub`;
      const progress = [];
      const clf = await pipeline("text-classification", { model: "webtune/tiny-cls3", onProgress: (e) => progress.push(e) });
      const out = { progress, info: clf.info, scores: await clf("dull") };
      clf.dispose();
      try {
        await pipeline("text-classification", { model: "webtune/tiny-cls3", device: "webgpu" });
      } catch (e) {
        out.forced = { name: e.name, message: e.message };
      }
      return out;
    });
    assert.equal(r.info.device.kind, "cpu", "the CPU path, as WebGPU is off in this browser");
    const warning = r.progress.find((e) => e.status === "warning");
    assert.ok(warning, JSON.stringify(r.progress.map((e) => e.status)));
    // one sentence, not wgpu's Debug dump of the backends it did not ask
    assert.equal(warning.message, "running on the CPU: this browser offers no WebGPU adapter");
    assert.equal(r.info.device.fallback, "this browser offers no WebGPU adapter");
    assert.equal(r.progress.at(-1).status, "ready");
    assert.equal(r.scores.length, 3);
    assert.equal(r.forced?.name, "WebGpuUnavailableError", JSON.stringify(r.forced));
  } finally {
    await nogpu.close();
  }
});

test("a random search draws the same trials in the browser as the CLI's `webtune search` for the same seed", async () => {
  const space = { learningRate: [1e-3, 2e-3, 5e-3], epochs: [1, 2] };
  const inBrowser = await b.page.evaluate(async ({ rows, space }) => {
    const { env, pipeline } = await import("/pkg/index.js");
    env.remoteHost = `${location.origin}/hub`;
    const clf = await pipeline("text-classification", { model: "webtune/tiny-cls3", device: "cpu" });
    const found = await clf.search({ data: rows, validationSplit: 0.25, batchSize: 6, space, strategy: "random", trials: 3, seed: 7 });
    clf.dispose();
    return found.trials.map((t) => t.settings);
  }, { rows, space });
  // the CLI's plan for the same space and seed, without training
  const cli = execFileSync("cargo", [
    "run", "--quiet", "--bin", "webtune", "--", "search", "--dry-run", "--model", "unused", "--data", "unused.csv", "--out", "unused",
    "--learning-rates", space.learningRate.join(","), "--epoch-counts", space.epochs.join(","), "--strategy", "random", "--trials", "3", "--seed", "7",
  ], { cwd: ROOT, encoding: "utf8" });
  const fromCli = cli.trim().split("\n").map((line) => JSON.parse(line).settings);
  assert.equal(inBrowser.length, 3);
  assert.deepEqual(inBrowser, fromCli);
});

/** FNV-1a, 64 bits (tests/reference/make_recipe_fixture.py's): how the recipe fixture names its files' contents. */
function fnv1a64(bytes) {
  let h = 0xcbf29ce484222325n;
  for (const b of bytes) h = BigInt.asUintN(64, (h ^ BigInt(b)) * 0x100000001b3n);
  return h.toString(16).padStart(16, "0");
}

test("save({ format: \"recipe\" }) after finetune writes the run the CLI writes (its rows, batch order, program and options: tests/recipe.rs checks them against transformers' Trainer)", async () => {
  const fixture = JSON.parse(readFileSync(join(ROOT, "tests/fixtures/recipe/expected.json"), "utf8")).full;
  const rows = readFileSync(join(ROOT, "tests/fixtures/recipe/data.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
  const r = await b.page.evaluate(async ({ rows, options, split }) => {
    const { pipeline } = await import("/pkg/index.js");
    const failure = (e) => ({ name: e.name, message: e.message });
    const model = { config: "/fixtures/bert/train-steps/config.json", weights: "/fixtures/bert/tiny-cls3/model.safetensors", tokenizer: "/fixtures/bert/tokenizer.json" };
    const clf = await pipeline("text-classification", { model, device: "cpu" });
    const before = await clf.save({ format: "recipe" }).then(() => null, failure);
    await clf.finetune({ ...options, data: rows, validationSplit: split });
    const files = await clf.save({ format: "recipe" });
    const bytes = Object.fromEntries(await Promise.all(Object.entries(files).map(async ([n, blob]) => [n, Array.from(new Uint8Array(await blob.arrayBuffer()))])));
    const named = await clf.save({ format: "recipe", name: "r" }).then(() => null, failure);
    clf.dispose();
    return { before, bytes, named };
  }, { rows, options: fixture.webtune_options, split: fixture.validation_split });
  const text = (n) => new TextDecoder().decode(new Uint8Array(r.bytes[n]));
  assert.deepEqual(Object.keys(r.bytes).sort(), Object.keys(fixture.recipe_files).sort());
  for (const name of ["train.jsonl", "validation.jsonl", "webtune_order.json", "train.py", "requirements.txt", "accelerate_multi_gpu.yaml", "accelerate_deepspeed.yaml", "ds_zero2.json"]) {
    assert.equal(fnv1a64(r.bytes[name]), fixture.recipe_files[name], `${name}: the browser's recipe is the CLI's`);
  }
  const written = JSON.parse(text("recipe.json"));
  assert.deepEqual(written.webtune_options, fixture.webtune_options, "the run's options");
  assert.equal(written.model, "files", "the base as the pipeline loaded it");
  assert.match(r.before?.message, /format "recipe" writes the run that fine-tuned this pipeline.*call finetune/);
  assert.match(r.named?.message, /not a model to keep by name/);
});

test("save({ format: \"recipe\" }) after a token-classification finetune on a CoNLL file writes the CLI's recipe (tests/recipe.rs runs it in transformers' Trainer)", async () => {
  const fixture = JSON.parse(readFileSync(join(ROOT, "tests/fixtures/recipe/expected.json"), "utf8"))["ner-full"];
  const conll = readFileSync(join(ROOT, "tests/fixtures/recipe/ner.txt"), "utf8");
  const r = await b.page.evaluate(async ({ conll, options, split }) => {
    const { pipeline } = await import("/pkg/index.js");
    const model = { config: "/fixtures/token-classification/bert/train-config.json", weights: "/fixtures/token-classification/bert/model.safetensors", tokenizer: "/fixtures/encoders/bert/tokenizer.json" };
    const ner = await pipeline("token-classification", { model, device: "cpu" });
    const steps = [];
    await ner.finetune({ ...options, data: new File([conll], "ner.txt"), validationSplit: split, onEvent: (e) => e.type === "step" && steps.push(e.loss) });
    const files = await ner.save({ format: "recipe" });
    const bytes = Object.fromEntries(await Promise.all(Object.entries(files).map(async ([n, blob]) => [n, Array.from(new Uint8Array(await blob.arrayBuffer()))])));
    ner.dispose();
    return { bytes, steps };
  }, { conll, options: fixture.webtune_options, split: fixture.validation_split });
  assert.deepEqual(Object.keys(r.bytes).sort(), Object.keys(fixture.recipe_files).sort());
  for (const name of ["train.jsonl", "validation.jsonl", "webtune_order.json", "train.py", "webtune_recipe.py"]) {
    assert.equal(fnv1a64(r.bytes[name]), fixture.recipe_files[name], `${name}: the browser's recipe is the CLI's`);
  }
  const written = JSON.parse(new TextDecoder().decode(new Uint8Array(r.bytes["recipe.json"])));
  assert.equal(written.task, "token-classification");
  assert.deepEqual(written.webtune_options, fixture.webtune_options, "the run's options");
  assert.equal(r.steps.length, fixture.steps.length);
  r.steps.forEach((loss, i) => assert.ok(Math.abs(loss - fixture.steps[i].loss) <= 1e-4 * Math.max(1, fixture.steps[i].loss), `step ${i + 1}: ${loss} vs the Trainer's ${fixture.steps[i].loss}`));
});

test("save({ format: \"recipe\" }) after a text-generation finetune writes the CLI's recipe (rows, batch order, program: tests/recipe.rs runs it in transformers' Trainer)", async () => {
  const fixture = JSON.parse(readFileSync(join(ROOT, "tests/fixtures/recipe/expected.json"), "utf8"))["lm-pairs"];
  const rows = readFileSync(join(ROOT, "tests/fixtures/recipe/pairs.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
  const r = await b.page.evaluate(async ({ rows, options, split }) => {
    const { pipeline } = await import("/pkg/index.js");
    const tokenizerConfig = new Uint8Array(await (await fetch("/fixtures/recipe/lm-model.json")).arrayBuffer());
    const model = { config: "/fixtures/llama/tiny/config.json", weights: "/fixtures/llama/tiny/model.safetensors", tokenizer: "/fixtures/llama/train-steps/tokenizer.json", tokenizerConfig };
    const gen = await pipeline("text-generation", { model, device: "cpu" });
    const steps = [];
    await gen.finetune({ ...options, data: rows, validationSplit: split, onEvent: (e) => e.type === "step" && steps.push(e.loss) });
    const files = await gen.save({ format: "recipe" });
    const bytes = Object.fromEntries(await Promise.all(Object.entries(files).map(async ([n, blob]) => [n, Array.from(new Uint8Array(await blob.arrayBuffer()))])));
    gen.dispose();
    return { bytes, steps };
  }, { rows, options: fixture.webtune_options, split: fixture.validation_split });
  const text = (n) => new TextDecoder().decode(new Uint8Array(r.bytes[n]));
  assert.deepEqual(Object.keys(r.bytes).sort(), Object.keys(fixture.recipe_files).sort());
  for (const name of ["train.jsonl", "validation.jsonl", "webtune_order.json", "train.py", "webtune_recipe.py", "requirements.txt"]) {
    assert.equal(fnv1a64(r.bytes[name]), fixture.recipe_files[name], `${name}: the browser's recipe is the CLI's`);
  }
  const written = JSON.parse(text("recipe.json"));
  assert.deepEqual(written.webtune_options, fixture.webtune_options, "the run's options");
  assert.equal(written.task, "text-generation");
  assert.equal(written.model, "files", "the base as the pipeline loaded it");
  assert.equal(written.chat_template, false);
  // the run the recipe describes is the one that trained: the Trainer's steps
  assert.equal(r.steps.length, fixture.steps.length);
  r.steps.forEach((loss, i) => assert.ok(Math.abs(loss - fixture.steps[i].loss) <= 1e-4 * Math.max(1, fixture.steps[i].loss), `step ${i + 1}: ${loss} vs the Trainer's ${fixture.steps[i].loss}`));
});

test("finetune({ method: \"setfit\" }) trains setfit's run on a sentence-transformer folder in the Worker (CPU path): its probabilities, its folder (which opens again), its evaluation", async () => {
  const fixture = JSON.parse(readFileSync(join(ROOT, "tests/fixtures/setfit/expected.json"), "utf8"));
  const rows = readFileSync(join(ROOT, "tests/fixtures/setfit/data.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
  const run = fixture.run;
  const r = await b.page.evaluate(async ({ rows, run, test }) => {
    const { models, pipeline } = await import("/pkg/index.js");
    const failure = (e) => ({ name: e.name, message: e.message });
    const clf = await pipeline("text-classification", { model: "/fixtures/setfit/body", device: "cpu" });
    const events = [];
    await clf.finetune({
      method: "setfit", data: rows, validationSplit: 0, epochs: run.epochs, batchSize: run.batch_size, learningRate: run.learning_rate,
      warmupRatio: run.warmup_ratio, weightDecay: run.weight_decay, seed: run.seed, maxLength: run.max_length, logEvery: 1, onEvent: (e) => events.push(e.type),
    });
    const scores = await clf(test);
    const files = await clf.save();
    const names = Object.keys(files).sort();
    const saved = Object.fromEntries(await Promise.all(Object.entries(files).map(async ([name, blob]) => [name, Array.from(new Uint8Array(await blob.arrayBuffer()))])));
    // the saved folder opens again as the SetFit model it is: from save()'s files, and kept by name (My models)
    const reopened = await pipeline("text-classification", { model: files, device: "cpu" });
    const reopenedScores = await reopened(test);
    const reopenedNames = Object.keys(await reopened.save()).sort();
    reopened.dispose();
    // a folder whose config_setfit.json normalises the embeddings trains again into one that does
    const config = JSON.parse(await files["config_setfit.json"].text());
    const normalising = { ...files, "config_setfit.json": new Blob([JSON.stringify({ ...config, normalize_embeddings: true })]) };
    const again = await pipeline("text-classification", { model: normalising, device: "cpu" });
    await again.finetune({ method: "setfit", data: rows, validationSplit: 0, epochs: 1, batchSize: 8 });
    const normalisedAgain = JSON.parse(await (await again.save())["config_setfit.json"].text()).normalize_embeddings;
    again.dispose();
    await clf.save({ name: "setfit-kept" });
    const kept = await pipeline("text-classification", { model: await models.files("setfit-kept"), device: "cpu" });
    const keptScores = await kept(test);
    kept.dispose();
    await models.delete("setfit-kept");
    const evaluation = await clf.evaluate(rows);
    const recipeFiles = await clf.save({ format: "recipe" });
    const recipe = Object.keys(recipeFiles).sort();
    const recipeProgram = await recipeFiles["train.py"].text();
    const checkpointed = await clf.finetune({ method: "setfit", data: rows, checkpointEvery: 2, onCheckpoint() {} }).then(() => null, failure);
    // "label these next": the pool by the model's uncertainty
    const ranked = await clf.rank(test.map((text) => ({ text })), { strategy: "margin" });
    const badStrategy = await clf.rank(test, { strategy: "random" }).then(() => null, failure);
    const emptyRow = await clf.rank([{ sentence: "x" }]).then(() => null, failure);
    // setfit's differentiable head trained end to end (tests/setfit.rs: its steps are setfit's),
    // through the Worker: the head's steps follow the body's in one run's events
    const headRun = [];
    await clf.finetune({ method: "setfit", head: "differentiable", endToEnd: true, headEpochs: 2, data: rows, validationSplit: 0, epochs: 1, batchSize: 8, logEvery: 1,
      onEvent: (e) => headRun.push(e.type === "start" ? ["start", e.totalSteps] : e.type === "step" ? ["step", e.step] : e.type === "done" ? ["done", e.steps] : [e.type]) });
    const differentiable = await clf(test);
    const strayHead = await clf.finetune({ data: rows, headEpochs: 2 }).then(() => null, failure);
    clf.dispose();
    const embedder = await pipeline("feature-extraction", { model: "/fixtures/setfit/body", device: "cpu" });
    const noHead = await embedder.rank(test).then(() => null, failure);
    embedder.dispose();
    return {
      steps: events.filter((t) => t === "step").length, last: events.at(-1), scores, names, accuracy: evaluation.accuracy, recipe, checkpointed, ranked, badStrategy, emptyRow, noHead,
      reopenedScores, reopenedNames, keptScores, saved, recipeProgram, differentiable, headRun, strayHead, normalisedAgain,
    };
  }, { rows, run, test: fixture.test });
  assert.equal(r.steps, fixture.steps.length, "setfit's optimizer steps");
  assert.equal(r.last, "done");
  fixture.saved.probabilities.forEach((want, i) => {
    for (const { label, score } of r.scores[i]) {
      assert.ok(Math.abs(score - want[fixture.names.indexOf(label)]) <= 1e-4, `text ${i}, ${label}: ${score} vs setfit's ${want[fixture.names.indexOf(label)]}`);
    }
  });
  assert.deepEqual(r.names, fixture.saved.files, "the folder setfit loads");
  for (const [what, scores] of [["reopened from save()'s files", r.reopenedScores], ["reopened from My models", r.keptScores]]) {
    scores.forEach((ranked, i) => ranked.forEach(({ label, score }, k) => {
      assert.equal(label, r.scores[i][k].label, `${what}: text ${i} rank ${k}`);
      assert.ok(Math.abs(score - r.scores[i][k].score) <= 1e-6, `${what}: text ${i}, ${label}: ${score} vs ${r.scores[i][k].score}`);
    }));
  }
  assert.deepEqual(r.reopenedNames, fixture.saved.files, "a reopened SetFit model saves the same folder");
  assert.equal(r.normalisedAgain, true, "retrained from a normalising SetFit folder, the model normalises too");
  assert.ok(r.accuracy > 0 && r.accuracy <= 1);
  // its recipe runs setfit's Trainer (tests/recipe.rs checks that program's steps against webtune's)
  assert.ok(r.recipe?.includes("train.py") && r.recipe.includes("webtune_order.json"), JSON.stringify(r.recipe));
  assert.match(r.recipeProgram, /from setfit import SetFitModel, Trainer, TrainingArguments/);
  assert.match(r.checkpointed?.message, /SetFit run is not checkpointed/);
  r.differentiable.forEach((ranked) => assert.ok(Math.abs(ranked.reduce((a, { score }) => a + score, 0) - 1) < 1e-5 && ranked.length === fixture.names.length, JSON.stringify(ranked)));
  const bodySteps = Math.ceil(fixture.pairs.oversampling.length / 8), headSteps = 2 * Math.ceil(rows.length / 2);
  assert.deepEqual(r.headRun.filter(([t]) => t !== "eval"), [["start", bodySteps + headSteps], ...Array.from({ length: bodySteps + headSteps }, (_, i) => ["step", i + 1]), ["done", bodySteps + headSteps]]);
  assert.match(r.strayHead?.message, /headEpochs, headBatchSize and headLearningRate train SetFit's differentiable head/);
  // margin: 1 − (p₁ − p₂) of setfit's own probabilities for the texts, most uncertain first
  const margins = fixture.saved.probabilities.map((p) => { const s = [...p].sort((a, b) => b - a); return 1 - (s[0] - s[1]); });
  assert.deepEqual(r.ranked.map((x) => x.index), margins.map((m, i) => [m, i]).sort((a, b) => b[0] - a[0] || a[1] - b[1]).map(([, i]) => i));
  r.ranked.forEach((x) => {
    assert.ok(Math.abs(x.score - margins[x.index]) <= 1e-4, `${x.index}: ${x.score} vs ${margins[x.index]}`);
    assert.equal(x.text, fixture.test[x.index]);
  });
  assert.match(r.badStrategy?.message, /unknown strategy "random"; valid strategies are "entropy", "margin", "least-confident"/);
  assert.match(r.emptyRow?.message, /row 0 has no text in column "text"/);
  assert.match(r.noHead?.message, /a feature-extraction pipeline has no classifier to be unsure with/);

  // the saved folder on the hub: loaded by its id, it is the SetFit model setfit loads (its head,
  // labels and pooling), and a reload takes every file from the cache
  const repo = join(hub, "webtune/setfit-saved/resolve/main");
  for (const [name, bytes] of Object.entries(r.saved)) {
    mkdirSync(dirname(join(repo, name)), { recursive: true });
    writeFileSync(join(repo, name), Uint8Array.from(bytes));
  }
  const byId = () => b.page.evaluate(async (test) => {
    const { env, pipeline } = await import("/pkg/index.js");
    env.remoteHost = `${location.origin}/hub`;
    const clf = await pipeline("text-classification", { model: "webtune/setfit-saved", device: "cpu" });
    const out = { info: clf.info, scores: await clf(test) };
    clf.dispose();
    return out;
  }, fixture.test);
  const first = await byId();
  assert.equal(first.info.method, "setfit");
  assert.deepEqual(first.info.warnings, []);
  fixture.saved.probabilities.forEach((want, i) => {
    for (const { label, score } of first.scores[i]) {
      assert.ok(Math.abs(score - want[fixture.names.indexOf(label)]) <= 1e-4, `by hub id: text ${i}, ${label}: ${score} vs setfit's ${want[fixture.names.indexOf(label)]}`);
    }
  });
  const asked = hubRequests().filter((p) => p.includes("/setfit-saved/")).map((p) => p.split("/resolve/main/")[1]).sort();
  // each once: the folder's files, and two files a sentence-transformers folder may carry that this one lacks
  assert.deepEqual(asked, [...fixture.saved.files, "special_tokens_map.json", "vocab.txt"].sort());
  await b.page.reload();
  const before = hubRequests().length;
  const again = await byId();
  assert.equal(hubRequests().length, before, `requests after reload: ${hubRequests().slice(before)}`);
  assert.deepEqual(again.scores, first.scores);
});

test("finetune({ augment: { ops: [\"substitute\", \"insert\"], model } }) fetches the named masked LM in the Worker and trains on its copies; a model without a masked-LM head says what to name (CPU path)", async () => {
  const rows = readFileSync(join(ROOT, "tests/fixtures/setfit/data.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
  const r = await b.page.evaluate(async ({ rows }) => {
    const { pipeline } = await import("/pkg/index.js");
    const failure = (e) => ({ name: e.name, message: e.message });
    const clf = await pipeline("text-classification", { model: "/fixtures/setfit/body", device: "cpu" });
    const run = async (augment) => {
      const events = [];
      await clf.finetune({ data: rows, validationSplit: 0, epochs: 1, batchSize: 4, augment, onEvent: (e) => events.push(e) });
      return { examples: events.find((e) => e.type === "start").trainExamples, last: events.at(-1).type };
    };
    const named = await run({ ops: ["substitute", "insert"], rate: 0.3, model: "/fixtures/fill-mask/bert" });
    const noHead = await run({ ops: ["substitute"] }).then(() => null, failure);
    const missing = await run({ ops: ["insert"], model: "/fixtures/no-such-model" }).then(() => null, failure);
    clf.dispose();
    return { named, noHead, missing };
  }, { rows });
  assert.deepEqual(r.named, { examples: 2 * rows.length, last: "done" }, "each row and one copy the masked LM filled");
  assert.equal(r.noHead?.name, "OptionsError");
  assert.match(r.noHead.message, /the model being fine-tuned has no masked-LM head .* name one with augment\.model/);
  assert.ok(r.missing?.name && /no-such-model/.test(r.missing.message), JSON.stringify(r.missing));
});

test("runs.recipe of a stored LoRA run continues its adapters: the checkpoint's adapters and their moments, and the adapters the run started from (CPU path)", async () => {
  const r = await b.page.evaluate(async (rows) => {
    const { env, pipeline, runs } = await import("/pkg/index.js");
    env.remoteHost = `${location.origin}/hub`;
    await runs.delete("lora-run");
    const p = await pipeline("text-classification", { model: "webtune/tiny-cls3", device: "cpu" });
    await p.finetune({ data: rows, validationSplit: 0.25, epochs: 2, batchSize: 6, learningRate: 1e-3, seed: 3, lora: { rank: 4 }, run: "lora-run", checkpointEvery: 2 });
    p.dispose();
    const files = await runs.recipe("lora-run");
    await runs.delete("lora-run");
    return { names: Object.keys(files).sort(), recipe: JSON.parse(new TextDecoder().decode(files["recipe.json"])) };
  }, rows);
  for (const f of ["resume/adapter_model.safetensors", "resume/adapter_config.json", "resume/exp_avg.safetensors", "resume/exp_avg_sq.safetensors", "initial_adapter/adapter_model.safetensors"]) {
    assert.ok(r.names.includes(f), `${f} in ${r.names}`);
  }
  assert.ok(r.recipe.resume.step >= 2 && r.recipe.resume.step % 2 === 0, JSON.stringify(r.recipe.resume));
  assert.equal(r.recipe.lora.r, 4);
});
