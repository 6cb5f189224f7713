// Browser side of the training step benchmark (BENCHMARKS.md "step"): all-MiniLM-L6-v2 fine-tuned
// through the public `finetune()` in headless Chromium, batch 16 × 64 tokens, on WebGPU and on the
// CPU path (wasm). Each `step` event (logEvery 1) carries that step's wall time, loss read
// included. Prints JSON lines in the format of tests/reference/bench_step.py.
//
//   node tests/bench/step.mjs [--devices webgpu,cpu] [--steps 8] [--warmup 2] [--gpu-steps 4] [--gpu-warmup 1]
// (software WebGPU, SwiftShader, takes about 5 minutes per step: hence fewer steps there)
import { parseArgs } from "node:util";
import { openBrowser } from "../js/harness.mjs";

const { values: a } = parseArgs({
  options: {
    devices: { type: "string", default: "webgpu,cpu" },
    steps: { type: "string", default: "8" },
    warmup: { type: "string", default: "2" },
    "gpu-steps": { type: "string", default: "4" },
    "gpu-warmup": { type: "string", default: "1" },
  },
});
const BATCH = 16, SEQ = 64;

const b = await openBrowser();
try {
  await b.page.goto(b.server.url + "test/blank.html");
  for (const device of a.devices.split(",")) {
    const r = await b.page.evaluate(async ({ device, steps, warmup, BATCH, SEQ }) => {
      const webtune = await import("/pkg/index.js");
      // the text of src/bin/webtune/bench.rs, cut to SEQ tokens by maxLength
      const text = "the quick brown fox jumps over the lazy dog while the cat sleeps ".repeat(Math.floor(SEQ / 8) + 2);
      const data = Array.from({ length: BATCH * steps }, (_, i) => ({ text, label: String(i % 2) }));
      const times = [], other = [];
      let kind = "";
      const model = await webtune.finetune("/assets/models/all-MiniLM-L6-v2", {
        device, data, validationSplit: 0, epochs: 1, batchSize: BATCH, maxLength: SEQ, learningRate: 5e-5, logEvery: 1,
        onEvent: (e) => {
          if (e.type === "start") kind = `${e.device.kind} (${e.device.backend})`;
          if (e.type === "step") times.push(e.stepMs);
          else if (!["start", "done", "eval"].includes(e.type)) other.push(e); // skipped steps, warnings
        },
      });
      model.dispose();
      const rest = times.slice(1 + warmup).sort((x, y) => x - y);
      return {
        bench: "step", engine: "webtune-browser", device: kind, batch: BATCH, seq: SEQ,
        first_ms: times[0], min_ms: rest[0], runs: rest.length, ...(other.length ? { other_events: other } : {}),
        median_ms: rest.length % 2 ? rest[rest.length >> 1] : (rest[rest.length / 2 - 1] + rest[rest.length / 2]) / 2,
      };
    }, {
      device, BATCH, SEQ,
      steps: Number(device === "webgpu" ? a["gpu-steps"] : a.steps),
      warmup: Number(device === "webgpu" ? a["gpu-warmup"] : a.warmup),
    });
    console.log(JSON.stringify(r));
  }
} finally {
  await b.close();
}
