// Adapters switched at run time in headless Chromium (BENCHMARKS.md "adapters"): one GGUF base in
// webtune's Worker, then two LoRA adapters attached to it (a PEFT folder and llama.cpp's adapter
// GGUF), each answering in turn. Prints, as JSON lines, the Worker's wasm memory (its high-water
// mark) after the base alone has answered and after both adapters have, the adapters' file sizes,
// and the decoding speed of the base and of each adapter (greedy, the same prompt; the median of 3).
//
//   node tests/bench/adapters_browser.mjs --model FILE.gguf --peft DIR --gguf-adapter FILE [--device cpu|webgpu]
import { readFileSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { openBrowser } from "../js/harness.mjs";
import { webtuneWorkerMemory } from "./worker-memory.mjs";

const { values: a } = parseArgs({
  options: {
    model: { type: "string" },
    peft: { type: "string" },
    "gguf-adapter": { type: "string" },
    device: { type: "string", default: "cpu" },
    tokens: { type: "string", default: "48" },
  },
});
if (!a.model || !a.peft || !a["gguf-adapter"]) throw new Error("--model FILE.gguf --peft ADAPTER_DIR --gguf-adapter ADAPTER.gguf");

const b = await openBrowser({ extraMounts: { "/bench-model/": dirname(a.model), "/bench-peft/": a.peft, "/bench-gguf/": dirname(a["gguf-adapter"]) } });
const workers = [];
b.page.on("worker", (w) => workers.push(w));
try {
  await b.page.goto(b.server.url + "test/blank.html");
  const ask = (adapter) => b.page.evaluate(async ({ adapter, tokens }) => {
    const messages = [{ role: "user", content: "How long does shipping take?" }];
    const out = await window.gen.chat(messages, { maxNewTokens: tokens, adapter });
    return { adapter, text: out.text, newTokens: out.tokens.length, tokensPerSecond: out.tokensPerSecond };
  }, { adapter, tokens: Number(a.tokens) });
  await b.page.evaluate(async ({ url, device }) => {
    const { pipeline } = await import("/pkg/index.js");
    window.gen = await pipeline("text-generation", { model: url, device });
  }, { url: `/bench-model/${basename(a.model)}`, device: a.device });
  await ask(null); // warm-up: the first answer also allocates what decoding needs
  const runs = [await ask(null)];
  const baseBytes = await webtuneWorkerMemory(workers);
  const loaded = await b.page.evaluate(async (gguf) => [
    await window.gen.adapters.load("peft", "/bench-peft/"),
    await window.gen.adapters.load("gguf", gguf),
  ], `/bench-gguf/${basename(a["gguf-adapter"])}`);
  // three rounds, the base and each adapter in turn: speeds as medians
  for (let round = 0; round < 3; round++) runs.push(await ask("peft"), await ask("gguf"), ...(round ? [await ask(null)] : []));
  const withAdapters = await webtuneWorkerMemory(workers);
  const median = (adapter) => {
    const v = runs.filter((r) => r.adapter === adapter).map((r) => r.tokensPerSecond).sort((x, y) => x - y);
    return v[v.length >> 1];
  };
  const adapterFileBytes = statSync(join(a.peft, "adapter_model.safetensors")).size;
  for (const r of runs) console.log(JSON.stringify(r));
  console.log(JSON.stringify({
    model: basename(a.model), device: a.device, modelFileBytes: statSync(a.model).size, adapterFileBytes,
    ggufAdapterFileBytes: readFileSync(a["gguf-adapter"]).length, adapters: loaded,
    wasmBytesBaseAnswered: baseBytes, wasmBytesTwoAdaptersAnswered: withAdapters,
    baseTokensPerSecond: median(null), peftTokensPerSecond: median("peft"), ggufTokensPerSecond: median("gguf"),
  }));
} finally {
  await b.close();
}
