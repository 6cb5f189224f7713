// LoRA fine-tuning of Google's Gemma 3 270M Q4_K_M GGUF in headless Chromium, on the CPU path
// (BENCHMARKS.md "generate", Gemma): the file served from localhost, `pipeline("text-generation")`
// in webtune's Worker, LoRA rank 8 on q/v, a few rows of www/samples/shop-faq.jsonl (chat rows,
// assistant turns learned), batch 4 × up to 128 tokens; prints each step event, the held-out loss
// before and after, and the Worker's wasm memory (its high-water mark). Prints JSON lines.
//
//   node tests/bench/lora_gemma.mjs --model /path/to/gemma-3-270m-q4_k_m.gguf [--rows 16] [--epochs 1]
import { readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { openBrowser, ROOT } from "../js/harness.mjs";

const { values: a } = parseArgs({
  options: { model: { type: "string" }, rows: { type: "string", default: "16" }, epochs: { type: "string", default: "1" } },
});
if (!a.model) throw new Error("--model /path/to/gemma-3-270m-q4_k_m.gguf (node pkg-config/models.mjs gemma-3-270m fetches it)");
const lines = readFileSync(join(ROOT, "www/samples/shop-faq.jsonl"), "utf8").trim().split("\n").map(JSON.parse);
const train = lines.filter((_, i) => i % 6 !== 5).slice(0, Number(a.rows));
const held = lines.filter((_, i) => i % 6 === 5).slice(0, 8);

const b = await openBrowser({ extraMounts: { "/bench-model/": dirname(a.model) } });
const workers = [];
b.page.on("worker", (w) => workers.push(w));
b.page.on("console", (m) => { if (m.text().startsWith("bench:")) console.log(m.text().slice("bench:".length).trim()); });
try {
  await b.page.goto(b.server.url + "test/blank.html");
  const result = await b.page.evaluate(async ({ url, train, held, epochs }) => {
    const { pipeline } = await import("/pkg/index.js");
    const t0 = performance.now();
    const gen = await pipeline("text-generation", { model: url, device: "cpu" });
    const loadMs = performance.now() - t0;
    const before = await gen.evaluate(held, { maxLength: 128 });
    const t1 = performance.now();
    const done = await gen.finetune({
      data: train, validationSplit: 0, epochs, batchSize: 4, maxLength: 128, learningRate: 1e-3, warmupSteps: 1, logEvery: 1,
      lora: { rank: 8, alpha: 16 },
      onEvent: (e) => { if (e.type === "step" || e.type === "start") console.log(`bench: ${JSON.stringify(e)}`); },
    });
    const trainMs = performance.now() - t1;
    const after = await gen.evaluate(held, { maxLength: 128 });
    return { loadMs, trainMs, steps: done.steps, before: before.loss, after: after.loss };
  }, { url: `/bench-model/${basename(a.model)}`, train, held, epochs: Number(a.epochs) });
  let wasmBytes = null;
  for (const w of workers) {
    wasmBytes ??= await w.evaluate(async () => {
      if (!self.name?.startsWith?.("webtune")) return null;
      const { loadCore } = await import("/pkg/core.js");
      return (await loadCore()).memory.buffer.byteLength;
    }).catch(() => null);
  }
  console.log(JSON.stringify({ ...result, msPerStep: result.trainMs / result.steps, wasmBytes }));
} finally {
  await b.close();
}
