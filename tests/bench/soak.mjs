// Resource soak (RELIABILITY.md "resources"): in webtune's Worker in headless Chromium,
//   1. 200 load → classify → dispose cycles of a pipeline on WebGPU (the tiny BERT fixture),
//   2. fine-tuning runs of 100 and then 1,000 steps on WebGPU, and on the CPU path,
// sampling after warm-up and at the end of each phase the wasm memory and the WebGPU device's
// memory pools (allocations, bytes reserved). Prints JSON lines and exits non-zero when the growth
// passes the bounds. Also printed, not bounded: GPU buffers created and not destroyed — wgpu's
// WebGPU backend never calls destroy() on a dropped buffer, so those wait for the JS garbage
// collector, and their count says nothing about what webtune holds.
//   node tests/bench/soak.mjs [--cycles 200] [--steps 1000]
import { parseArgs } from "node:util";
import { openBrowser } from "../js/harness.mjs";

const { values: a } = parseArgs({ options: { cycles: { type: "string", default: "200" }, steps: { type: "string", default: "1000" } } });
const MB = 2 ** 20;
const BOUNDS = { wasmBytes: 32 * MB, poolAllocations: 16, poolBytesReserved: 16 * MB };

const b = await openBrowser();
let failed = false;
try {
  await b.page.goto(b.server.url + "test/blank.html");
  const started = b.page.waitForEvent("worker");
  await b.page.evaluate(async () => {
    const { env, pipeline } = await import("/pkg/index.js");
    env.workerUrl = "/test/counting-worker.js";
    const file = async (url, name) => new File([await (await fetch(url)).arrayBuffer()], name);
    const model = await Promise.all([
      file("/fixtures/bert/tiny-cls3/config.json", "config.json"), file("/fixtures/bert/tiny-cls3/model.safetensors", "model.safetensors"),
      file("/fixtures/bert/tokenizer.json", "tokenizer.json"),
    ]);
    const rows = Array.from({ length: 36 }, (_, i) => ({ text: `review number ${i} was ${i % 3 ? "fine" : "dull"}`, label: i % 3 ? "positive" : "negative" }));
    window.cycles = async (n) => {
      for (let i = 0; i < n; i++) {
        const p = await pipeline("text-classification", { model, device: "webgpu" });
        await p(["a fine film", "dull"]);
        p.dispose();
      }
    };
    window.train = async (steps, device) => {
      const p = await pipeline("text-classification", { model, device });
      const done = await p.finetune({ data: rows, validationSplit: 0, batchSize: 6, epochs: Math.ceil(steps / 6), learningRate: 1e-3, logEvery: 50 });
      p.dispose();
      return done.steps;
    };
    await window.cycles(1); // starts the Worker
  });
  const worker = await started;
  const sample = () => worker.evaluate(async () => {
    const { core, loadCore } = await import("/pkg/core.js");
    const wasm = await loadCore();
    const pool = await core.memoryPoolUsage({ device: "webgpu" });
    return {
      wasmBytes: wasm.memory.buffer.byteLength, poolAllocations: pool.allocations, poolBytesReserved: pool.bytesReserved,
      undestroyedBuffers: self.liveBuffers, undestroyedBufferBytes: self.liveBufferBytes,
    };
  });
  const report = (phase, first, last, extra) => {
    const growth = Object.fromEntries(Object.keys(first).map((k) => [k, last[k] - first[k]]));
    const over = Object.keys(BOUNDS).filter((k) => growth[k] > BOUNDS[k]);
    failed ||= over.length > 0;
    console.log(JSON.stringify({ phase, ...extra, first, last, growth, bounds: BOUNDS, ok: over.length === 0 }));
  };
  const cycles = Number(a.cycles);
  await b.page.evaluate(() => window.cycles(19));
  const warm = await sample();
  let t = Date.now();
  await b.page.evaluate((n) => window.cycles(n), cycles - 20);
  report("load/dispose (WebGPU)", warm, await sample(), { cycles, seconds: (Date.now() - t) / 1e3 });
  for (const device of ["webgpu", "cpu"]) {
    t = Date.now();
    const short = await b.page.evaluate((device) => window.train(100, device), device);
    const afterShort = await sample();
    const long = await b.page.evaluate(([n, device]) => window.train(n, device), [Number(a.steps), device]);
    report(`fine-tuning (${device})`, afterShort, await sample(), { steps: [short, long], seconds: (Date.now() - t) / 1e3 });
  }
} finally {
  await b.close();
}
process.exit(failed ? 1 : 0);
