// Browser side of the encoder latency benchmark (BENCHMARKS.md "encoder"): all-MiniLM-L6-v2
// feature extraction (tokenize, forward, mean pooling, vectors read back) in one headless Chromium
// run, by webtune's public JS API on WebGPU and on the CPU path (wasm), and by transformers.js
// (@huggingface/transformers from npm, fp32, devices "webgpu" and "wasm") on a local ONNX export
// of the same model (tests/reference/export_onnx.py) with allowRemoteModels = false. Prints JSON
// lines in the format of `webtune bench encoder`. Needs pkg/ (pkg-config/build.sh), the MiniLM
// asset and, for transformers.js, --onnx DIR (the export's folder).
//
//   node tests/bench/encoder.mjs [--engines webtune,transformers.js] [--devices webgpu,cpu]
//        [--batch-sizes 1,32] [--webgpu-batch-sizes 1] [--seq 64] [--runs 20] [--warmup 3] [--onnx DIR]
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { openBrowser, ROOT } from "../js/harness.mjs";

const { values: a } = parseArgs({
  options: {
    engines: { type: "string", default: "webtune" },
    devices: { type: "string", default: "webgpu,cpu" },
    "batch-sizes": { type: "string", default: "1,32" },
    // software WebGPU (SwiftShader) takes minutes per batch-32 call: this can shorten its list
    "webgpu-batch-sizes": { type: "string" },
    seq: { type: "string", default: "64" },
    runs: { type: "string", default: "20" },
    warmup: { type: "string", default: "3" },
    onnx: { type: "string" },
  },
});
const engines = a.engines.split(",");
const extraMounts = {};
if (engines.includes("transformers.js")) {
  if (!a.onnx) throw new Error("--onnx DIR is needed for transformers.js (tests/reference/export_onnx.py writes it)");
  const modules = join(ROOT, "tests/bench/node_modules"); // pkg-config/bench.sh installs them (tests/bench/package.json)
  extraMounts["/tjs/"] = join(modules, "@huggingface/transformers/dist");
  extraMounts["/ort/"] = join(modules, "onnxruntime-web/dist");
  if (!existsSync(join(extraMounts["/tjs/"], "transformers.js"))) {
    throw new Error(`transformers.js is not installed: run (cd tests/bench && ONNXRUNTIME_NODE_INSTALL=skip npm install)`);
  }
  extraMounts["/tjs-models/all-MiniLM-L6-v2/"] = resolve(a.onnx);
}
const sizes = (list) => list.split(",").map(Number);
const settings = { seq: Number(a.seq), runs: Number(a.runs), warmup: Number(a.warmup) };
const batchesOn = (device) => sizes(device === "webgpu" ? a["webgpu-batch-sizes"] ?? a["batch-sizes"] : a["batch-sizes"]);

const b = await openBrowser({ extraMounts });
const offsite = [];
b.page.on("console", (m) => { if (m.text().startsWith("bench:")) process.stderr.write(m.text() + "\n"); }); // progress
b.page.on("request", (r) => { if (!r.url().startsWith(b.server.url) && !r.url().startsWith("blob:")) offsite.push(r.url()); });
try {
  await b.page.goto(b.server.url + "test/blank.html");
  await b.page.evaluate((src) => { window.__timeCalls = src; }, timeCalls.toString()); // shared by both engines
  // The same 64 tokens for every engine: the text of src/bin/webtune/bench.rs, cut by webtune's
  // tokenizer (maxLength) and given to transformers.js already cut (its pipeline truncates only at
  // the model's 512). The first webtune vector is kept to check that both engines agree.
  const reference = {};
  for (const engine of engines) {
    for (const device of a.devices.split(",")) {
      const rows = await b.page.evaluate(engine === "webtune" ? webtuneRun : transformersRun, { device, reference, batches: batchesOn(device), ...settings });
      for (const r of rows) {
        if (r.vector) { reference.vector ??= r.vector; delete r.vector; }
        console.log(JSON.stringify(r));
      }
    }
  }
  if (offsite.length) throw new Error(`requests left localhost: ${offsite.join(", ")}`);
} finally {
  await b.close();
}

// Times `embed` over `batches`: the first call, `warmup` untimed calls, then the median of `runs`.
async function timeCalls(embed, batches, runs, warmup) {
  const out = [];
  for (const batch of batches) {
    const time = async () => {
      const t = performance.now();
      const v = await embed(batch);
      const ms = performance.now() - t;
      console.log(`bench: batch ${batch}: ${ms.toFixed(1)} ms`);
      return [ms, v];
    };
    const [first, firstVectors] = await time();
    for (let i = 0; i < warmup; i++) await time();
    const ms = [];
    for (let i = 0; i < runs; i++) ms.push((await time())[0]);
    ms.sort((x, y) => x - y);
    const median = ms.length % 2 ? ms[ms.length >> 1] : (ms[ms.length / 2 - 1] + ms[ms.length / 2]) / 2;
    out.push({ batch, first_ms: first, median_ms: median, min_ms: ms[0], runs: ms.length, vector: Array.from(firstVectors[0]) });
  }
  return out;
}

async function webtuneRun({ device, batches, seq, runs, warmup }) {
  const webtune = await import("/pkg/index.js");
  const t0 = performance.now();
  const m = await webtune.loadEncoder("/assets/models/all-MiniLM-L6-v2", { device, maxLength: seq });
  const loadMs = performance.now() - t0;
  const text = "the quick brown fox jumps over the lazy dog while the cat sleeps ".repeat(Math.floor(seq / 8) + 2);
  const embed = (batch) => m.embed(Array(batch).fill(text));
  const timeCalls = eval(`(${window.__timeCalls})`);
  const rows = await timeCalls(embed, batches, runs, warmup);
  const kind = `${m.info.device.kind} (${m.info.device.backend})`;
  m.dispose();
  return rows.map((r) => ({ bench: "encoder", engine: "webtune-browser", device: kind, seq, load_ms: loadMs, ...r }));
}

async function transformersRun({ device, batches, seq, runs, warmup, reference }) {
  const { env, pipeline } = await import("/tjs/transformers.js");
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = "/tjs-models/";
  env.useBrowserCache = false;
  env.backends.onnx.wasm.wasmPaths = "/ort/";
  const tjsDevice = device === "cpu" ? "wasm" : device;
  const t0 = performance.now();
  let fe;
  try {
    fe = await pipeline("feature-extraction", "all-MiniLM-L6-v2", { device: tjsDevice, dtype: "fp32" });
  } catch (e) {
    return [{ bench: "encoder", engine: "transformers.js", device: tjsDevice, seq, error: `${e.name}: ${e.message}` }];
  }
  const loadMs = performance.now() - t0;
  const long = "the quick brown fox jumps over the lazy dog while the cat sleeps ".repeat(Math.floor(seq / 8) + 2);
  const ids = fe.tokenizer(long, { add_special_tokens: false }).input_ids.tolist()[0].slice(0, seq - 2);
  const text = fe.tokenizer.decode(ids);
  const tokens = fe.tokenizer(text).input_ids.dims[1];
  if (tokens !== seq) throw new Error(`the cut text is ${tokens} tokens, not ${seq}`);
  const embed = async (batch) => (await fe(Array(batch).fill(text), { pooling: "mean", normalize: false })).tolist();
  const timeCalls = eval(`(${window.__timeCalls})`);
  const rows = await timeCalls(embed, batches, runs, warmup);
  const ort = env.backends.onnx;
  const threads = ort.wasm?.numThreads;
  await fe.dispose();
  return rows.map((r) => {
    // same numbers as webtune? cosine of the first vectors (both mean-pooled, not normalized)
    let cosine = null;
    if (reference.vector) {
      const [x, y] = [r.vector, reference.vector];
      const dot = (p, q) => p.reduce((s, v, i) => s + v * q[i], 0);
      cosine = dot(x, y) / Math.sqrt(dot(x, x) * dot(y, y));
    }
    return {
      bench: "encoder", engine: "transformers.js", device: tjsDevice, seq, load_ms: loadMs, ...r, vector: undefined,
      cosine_to_webtune: cosine, wasm_threads: threads ?? null, cross_origin_isolated: self.crossOriginIsolated,
    };
  });
}
