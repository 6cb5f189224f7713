// LoRA fine-tuning of a GGUF model in headless Chromium (BENCHMARKS.md "lora-gemma", "qlora"): the
// file served from localhost, `pipeline("text-generation")` in webtune's Worker, LoRA rank 8 on
// q/v, batch 4; the rows are www/samples/shop-faq.jsonl's chat rows (assistant turns learned) or,
// with --alpaca FILE, Alpaca's instruction/output pairs. Prints each step event, the held-out loss
// before and after, the time per step and the Worker's wasm memory (its high-water mark) as JSON
// lines. The base stays quantized (QLoRA) unless --dequantize-base.
//
//   node tests/bench/lora_browser.mjs --model FILE.gguf [--rows 16] [--epochs 1] [--max-length 128]
//        [--alpaca alpaca_5000.json] [--device cpu|webgpu] [--dequantize-base] [--gradient-checkpointing]
import { readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { openBrowser, ROOT } from "../js/harness.mjs";
import { webtuneWorkerMemory } from "./worker-memory.mjs";

const { values: a } = parseArgs({
  options: {
    model: { type: "string" },
    rows: { type: "string", default: "16" },
    epochs: { type: "string", default: "1" },
    "max-length": { type: "string", default: "128" },
    alpaca: { type: "string" },
    device: { type: "string", default: "cpu" },
    "dequantize-base": { type: "boolean", default: false },
    "gradient-checkpointing": { type: "boolean", default: false },
  },
});
if (!a.model) throw new Error("--model /path/to/model.gguf (node pkg-config/models.mjs gemma-3-270m fetches Gemma 3 270M)");
let train, held;
if (a.alpaca) {
  const rows = JSON.parse(readFileSync(a.alpaca, "utf8")).map((r) => ({
    prompt: r.input ? `${r.instruction}\n\n${r.input}` : r.instruction,
    completion: r.output,
  }));
  train = rows.slice(0, Number(a.rows));
  held = rows.slice(1000, 1008);
} else {
  const lines = readFileSync(join(ROOT, "www/samples/shop-faq.jsonl"), "utf8").trim().split("\n").map(JSON.parse);
  train = lines.filter((_, i) => i % 6 !== 5).slice(0, Number(a.rows));
  held = lines.filter((_, i) => i % 6 === 5).slice(0, 8);
}

const b = await openBrowser({ extraMounts: { "/bench-model/": dirname(a.model) } });
const workers = [];
b.page.on("worker", (w) => workers.push(w));
b.page.on("console", (m) => { if (m.text().startsWith("bench:")) console.log(m.text().slice("bench:".length).trim()); });
try {
  await b.page.goto(b.server.url + "test/blank.html");
  const options = {
    epochs: Number(a.epochs), maxLength: Number(a["max-length"]),
    dequantizeBase: a["dequantize-base"], gradientCheckpointing: a["gradient-checkpointing"],
  };
  const result = await b.page.evaluate(async ({ url, train, held, device, options }) => {
    const { pipeline } = await import("/pkg/index.js");
    const t0 = performance.now();
    const gen = await pipeline("text-generation", { model: url, device });
    const loadMs = performance.now() - t0;
    const before = await gen.evaluate(held, { maxLength: options.maxLength });
    const t1 = performance.now();
    const done = await gen.finetune({
      data: train, validationSplit: 0, batchSize: 4, learningRate: 1e-3, warmupSteps: 1, logEvery: 1, ...options,
      lora: { rank: 8, alpha: 16 },
      onEvent: (e) => { if (e.type === "step" || e.type === "start") console.log(`bench: ${JSON.stringify(e)}`); },
    });
    const trainMs = performance.now() - t1;
    const after = await gen.evaluate(held, { maxLength: options.maxLength });
    return { loadMs, trainMs, steps: done.steps, before: before.loss, after: after.loss };
  }, { url: `/bench-model/${basename(a.model)}`, train, held, device: a.device, options });
  const wasmBytes = await webtuneWorkerMemory(workers);
  const model = basename(a.model);
  console.log(JSON.stringify({ model, device: a.device, base: a["dequantize-base"] ? "f32" : "quantized", gradientCheckpointing: a["gradient-checkpointing"], ...result, msPerStep: result.trainMs / result.steps, wasmBytes }));
} finally {
  await b.close();
}
