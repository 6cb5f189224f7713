// Text-generation speed in one headless Chromium run (BENCHMARKS.md "generate"):
// a GGUF file (SmolLM2-135M-Instruct Q4_1 by default; Gemma 3 270M with `--model`), the same
// prompt, greedy, N new tokens, by webtune (pipeline("text-generation"), in its Worker) on the CPU
// path (wasm, one thread) and on WebGPU, and by wllama (npm @wllama/wllama: llama.cpp compiled to
// wasm) on one thread and on two (`wllama-2`; the page is served cross-origin isolated, as its
// threads need), no GPU layers, the file served from localhost (no network). For each engine: time to first token (the
// call until the first streamed piece) and decode speed ((tokens − 1) / time from the first piece
// to the end), medians over runs after one untimed warm-up; the texts are compared; webtune's own
// promptMs / tokensPerSecond and its Worker's wasm memory are reported too. Prints JSON lines.
//
//   node tests/bench/generate.mjs [--engines webtune-cpu,wllama,wllama-2,webtune-webgpu] [--tokens 48]
//        [--runs 5] [--webgpu-tokens 4] [--webgpu-runs 1] [--prompt "Once upon a time"]
//        [--model PATH-UNDER-ASSETS | /absolute/file.gguf]  (a K-quant file:
//        tests/reference/make_kquant_model.py writes ~/.cache/webtune/bench/SmolLM2-135M-Instruct.Q4_K_M-like.gguf)
import { existsSync } from "node:fs";
import { basename, dirname, isAbsolute, join } from "node:path";
import { parseArgs } from "node:util";
import { assetsRoot, openBrowser, ROOT } from "../js/harness.mjs";
import { webtuneWorkerMemory } from "./worker-memory.mjs";

const { values: a } = parseArgs({
  options: {
    engines: { type: "string", default: "webtune-cpu,wllama,wllama-2,webtune-webgpu" },
    tokens: { type: "string", default: "48" },
    runs: { type: "string", default: "5" },
    // SwiftShader (software WebGPU) needs about a minute for the prompt and seconds per token
    "webgpu-tokens": { type: "string", default: "4" },
    "webgpu-runs": { type: "string", default: "1" },
    prompt: { type: "string", default: "Once upon a time" },
    model: { type: "string", default: "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf" },
  },
});
const modelFile = isAbsolute(a.model) ? a.model : join(assetsRoot(), a.model);
if (!existsSync(modelFile)) throw new Error(`${modelFile} not found (set WEBTUNE_ASSETS, or give --model an absolute path)`);
const wllamaDir = join(ROOT, "tests/bench/node_modules/@wllama/wllama/esm");
const engines = a.engines.split(",");
if (engines.some((e) => e.startsWith("wllama")) && !existsSync(join(wllamaDir, "index.js"))) {
  throw new Error("wllama is not installed: run (cd tests/bench && npm install)");
}
const url = isAbsolute(a.model) ? `/bench-model/${basename(a.model)}` : `/assets/${a.model}`;

const b = await openBrowser({ isolated: true, extraMounts: { "/wllama/": wllamaDir, ...(isAbsolute(a.model) ? { "/bench-model/": dirname(a.model) } : {}) } });
const offsite = [];
b.page.on("request", (r) => { if (!r.url().startsWith(b.server.url) && !/^(blob|data):/.test(r.url())) offsite.push(r.url()); });
b.page.on("console", (m) => { if (m.text().startsWith("bench:")) process.stderr.write(m.text() + "\n"); });
const workers = [];
b.page.on("worker", (w) => workers.push(w));
try {
  await b.page.goto(b.server.url + "test/blank.html");
  const texts = {};
  for (const engine of engines) {
    const webgpu = engine === "webtune-webgpu";
    const settings = { url, prompt: a.prompt, tokens: Number(webgpu ? a["webgpu-tokens"] : a.tokens), runs: Number(webgpu ? a["webgpu-runs"] : a.runs) };
    const threads = engine === "wllama-2" ? 2 : 1;
    const r = await b.page.evaluate(engine.startsWith("wllama") ? wllamaRun : webtuneRun, { ...settings, device: webgpu ? "webgpu" : "cpu", threads });
    if (engine.startsWith("webtune")) r.wasmBytes = await webtuneWorkerMemory(workers);
    texts[engine] = r.text;
    console.log(JSON.stringify({ engine, ...r }));
  }
  const cpu = texts["webtune-cpu"], ll = texts.wllama;
  if (cpu !== undefined && ll !== undefined) console.log(JSON.stringify({ sameText: cpu === ll, webtune: cpu, wllama: ll }));
  if (offsite.length) throw new Error(`requests left localhost: ${offsite.join(", ")}`);
} finally {
  await b.close();
}

/** In the page: webtune's pipeline on `device`; one warm-up, then `runs` timed generations. */
async function webtuneRun({ url, prompt, tokens, runs, device }) {
  const { pipeline } = await import("/pkg/index.js");
  const t0 = performance.now();
  const gen = await pipeline("text-generation", { model: url, device });
  const loadMs = performance.now() - t0;
  const once = async () => {
    const start = performance.now();
    let first = null;
    const out = await gen(prompt, { maxNewTokens: tokens, stop: [], onToken: () => { first ??= performance.now(); } });
    const end = performance.now();
    console.log(`bench: webtune ${device}: ${out.tokens.length} tokens in ${(end - start).toFixed(0)} ms`);
    return { ttft: first - start, decode: (out.tokens.length - 1) / ((end - first) / 1000), out };
  };
  await once();
  const timed = [];
  for (let i = 0; i < runs; i++) timed.push(await once());
  const last = timed.at(-1).out;
  gen.dispose();
  const m = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
  return {
    device, loadMs, runs, newTokens: last.tokens.length,
    ttftMs: m(timed.map((t) => t.ttft)), decodeTokensPerSecond: m(timed.map((t) => t.decode)),
    reportedPromptMs: m(timed.map((t) => t.out.promptMs)), reportedTokensPerSecond: m(timed.map((t) => t.out.tokensPerSecond)),
    text: last.text,
  };
}

/** In the page: wllama on `threads` threads, no GPU layers; one warm-up, then `runs` timed generations. */
async function wllamaRun({ url, prompt, tokens, runs, threads }) {
  if (threads > 1 && !crossOriginIsolated) throw new Error("wllama's threads need a cross-origin isolated page");
  const { Wllama } = await import("/wllama/index.js");
  const w = new Wllama({ default: "/wllama/wasm/wllama.wasm" }, { suppressNativeLog: true });
  const t0 = performance.now();
  await w.loadModelFromUrl(new URL(url, location.href).href, { n_threads: threads, n_gpu_layers: 0, n_ctx: 512, useCache: false });
  if (w.isMultithread() !== threads > 1) throw new Error(`wllama runs ${w.isMultithread() ? "multi" : "single"}-threaded, ${threads} thread(s) asked`);
  const loadMs = performance.now() - t0;
  const once = async () => {
    const start = performance.now();
    let first = null, text = "", timings = null;
    await w.createCompletion({
      prompt, max_tokens: tokens, temperature: 0, stream: true,
      onData: (chunk) => { first ??= performance.now(); text += chunk.choices?.[0]?.text ?? ""; timings = chunk.timings ?? timings; },
    });
    const end = performance.now();
    const n = timings?.predicted_n ?? tokens;
    console.log(`bench: wllama: ${n} tokens in ${(end - start).toFixed(0)} ms`);
    return { ttft: first - start, decode: (n - 1) / ((end - first) / 1000), text, n, timings };
  };
  await once();
  const timed = [];
  for (let i = 0; i < runs; i++) timed.push(await once());
  const m = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
  const last = timed.at(-1);
  await w.exit();
  return {
    device: "cpu", threads, loadMs, runs, newTokens: last.n,
    ttftMs: m(timed.map((t) => t.ttft)), decodeTokensPerSecond: m(timed.map((t) => t.decode)),
    reportedPromptMs: m(timed.map((t) => t.timings?.prompt_ms ?? NaN)), reportedTokensPerSecond: m(timed.map((t) => t.timings?.predicted_per_second ?? NaN)),
    text: last.text,
  };
}
