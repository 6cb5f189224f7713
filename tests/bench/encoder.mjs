// Browser side of the encoder latency benchmark: all-MiniLM-L6-v2 through the public JS API in
// headless Chromium, on WebGPU and on the CPU path (wasm). Prints JSON lines in the format of
// `webtune bench encoder`. Needs pkg/ (pkg-config/build.sh) and the MiniLM asset.
//
//   node tests/bench/encoder.mjs [--devices webgpu,cpu] [--batch-sizes 1,32] [--seq 64] [--runs 20]
import { parseArgs } from "node:util";
import { openBrowser } from "../js/harness.mjs";

const { values: a } = parseArgs({
  options: {
    devices: { type: "string", default: "webgpu,cpu" },
    "batch-sizes": { type: "string", default: "1,32" },
    seq: { type: "string", default: "64" },
    runs: { type: "string", default: "20" },
    warmup: { type: "string", default: "3" },
  },
});

const b = await openBrowser();
try {
  await b.page.goto(b.server.url + "test/blank.html");
  for (const device of a.devices.split(",")) {
    const rows = await b.page.evaluate(async ({ device, batches, seq, runs, warmup }) => {
      const webtune = await import("/pkg/index.js");
      const t0 = performance.now();
      const m = await webtune.loadEncoder("/assets/models/all-MiniLM-L6-v2", { device, maxLength: seq });
      const loadMs = performance.now() - t0;
      // same text as src/bin/webtune/bench.rs
      const text = "the quick brown fox jumps over the lazy dog while the cat sleeps ".repeat(Math.floor(seq / 8) + 2);
      const out = [];
      for (const batch of batches) {
        const texts = Array(batch).fill(text);
        const time = async () => { const t = performance.now(); await m.embed(texts); return performance.now() - t; };
        const first = await time();
        for (let i = 0; i < warmup; i++) await time();
        const ms = [];
        for (let i = 0; i < runs; i++) ms.push(await time());
        ms.sort((x, y) => x - y);
        out.push({
          bench: "encoder", engine: "webtune-browser", device: `${m.info.device.kind} (${m.info.device.backend})`,
          batch, seq, first_ms: first, median_ms: ms[ms.length >> 1], min_ms: ms[0], runs, load_ms: loadMs,
        });
      }
      m.dispose();
      return out;
    }, { device, batches: a["batch-sizes"].split(",").map(Number), seq: Number(a.seq), runs: Number(a.runs), warmup: Number(a.warmup) });
    for (const r of rows) console.log(JSON.stringify(r));
  }
} finally {
  await b.close();
}
