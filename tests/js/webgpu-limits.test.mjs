// GPT-2-small's token embeddings (50257 × 768 f32, 154 MB) on a WebGPU device that binds only
// 128 MiB per buffer — WebGPU's default, which phones and integrated GPUs keep, and which CubeCL
// also uses as its largest allocation. The test page makes Chromium's adapter report that limit
// (SwiftShader offers 1 GiB); webtune then holds the table in vocabulary parts. A random
// GPT-2-small-shaped model (one block) must generate the same greedy tokens and the same loss as
// the CPU path computes (no limit there), and the device must survive.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { openBrowser, requireAsset } from "./harness.mjs";

const LIMIT = 128 * 2 ** 20;
let b;
before(async () => {
  b = await openBrowser();
});
after(async () => b?.close());

/** Runs in the page: builds the model (seeded: the same every time), loads it on `device` on this thread, generates and evaluates. */
async function run(device) {
  const { loadDecoder } = await import("/pkg/index.js");
  const config = { model_type: "gpt2", vocab_size: 50257, n_positions: 1024, n_embd: 768, n_layer: 1, n_head: 12, bos_token_id: 50256, eos_token_id: 50256 };
  const h = config.n_embd;
  const shapes = {
    "transformer.wte.weight": [config.vocab_size, h], "transformer.wpe.weight": [config.n_positions, h],
    "transformer.h.0.ln_1.weight": [h], "transformer.h.0.ln_1.bias": [h],
    "transformer.h.0.attn.c_attn.weight": [h, 3 * h], "transformer.h.0.attn.c_attn.bias": [3 * h],
    "transformer.h.0.attn.c_proj.weight": [h, h], "transformer.h.0.attn.c_proj.bias": [h],
    "transformer.h.0.ln_2.weight": [h], "transformer.h.0.ln_2.bias": [h],
    "transformer.h.0.mlp.c_fc.weight": [h, 4 * h], "transformer.h.0.mlp.c_fc.bias": [4 * h],
    "transformer.h.0.mlp.c_proj.weight": [4 * h, h], "transformer.h.0.mlp.c_proj.bias": [h],
    "transformer.ln_f.weight": [h], "transformer.ln_f.bias": [h],
  };
  let seed = 7;
  const random = () => { // mulberry32
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const header = {};
  let offset = 0;
  for (const [name, shape] of Object.entries(shapes)) {
    const bytes = shape.reduce((a, x) => a * x, 4);
    header[name] = { dtype: "F32", shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8);
  const file = new Uint8Array(8 + json.length + offset);
  new DataView(file.buffer).setBigUint64(0, BigInt(json.length), true);
  file.set(new TextEncoder().encode(json), 8);
  const values = new Float32Array(file.buffer, 8 + json.length);
  for (const [name, { data_offsets: [start, end] }] of Object.entries(header)) {
    const part = values.subarray(start / 4, end / 4);
    if (/ln_.*weight/.test(name)) part.fill(1);
    else if (!name.endsWith(".bias")) for (let i = 0; i < part.length; i++) part[i] = (random() - 0.5) * 0.08;
  }
  const model = await loadDecoder(
    { config: new TextEncoder().encode(JSON.stringify(config)), weights: file, tokenizer: "/assets/tokenizers/gpt2/tokenizer.json" },
    { device },
  );
  try {
    // the prompt through the chunked table and head, then one step from the KV cache (on SwiftShader
    // each further token costs seconds and repeats the same lookups: this model writes 30526 again)
    const out = await model.generate("The quick brown fox", { maxNewTokens: 2 });
    const metrics = await model.evaluate([{ text: "jumps over the lazy dog, again and again." }]);
    return { tokens: out.tokens, loss: metrics.loss, device: model.info.device };
  } finally {
    model.dispose();
  }
}

test("a GPT-2-small-shaped model runs on a WebGPU device that binds 128 MiB per buffer: same tokens and loss as the CPU path", async (t) => {
  if (!requireAsset(t, "tokenizers/gpt2/tokenizer.json", "the GPT-2 tokenizer (see the assets README)")) return;
  await b.page.addInitScript((limit) => {
    const limits = Object.getOwnPropertyDescriptor(GPUAdapter.prototype, "limits").get;
    Object.defineProperty(GPUAdapter.prototype, "limits", {
      get() {
        const real = limits.call(this);
        return new Proxy(real, {
          get: (target, key) => (key === "maxStorageBufferBindingSize" ? limit : Reflect.get(target, key)),
        });
      },
    });
  }, LIMIT);
  await b.page.goto(b.server.url + "test/blank.html");
  const cpu = await b.page.evaluate(run, "cpu").catch((e) => ({ error: String(e) }));
  assert.equal(cpu.error, undefined, cpu.error + "\n" + b.logs.join("\n"));
  const gpu = await b.page.evaluate(run, "webgpu").catch((e) => ({ error: String(e) }));
  assert.equal(gpu.error, undefined, gpu.error + "\n" + b.logs.join("\n"));
  assert.equal(gpu.device.kind, "webgpu");
  assert.equal(gpu.device.maxStorageBufferBindingSize, LIMIT, "the page's device binds 128 MiB");
  assert.deepEqual(gpu.tokens, cpu.tokens, "greedy tokens");
  assert.ok(Math.abs(gpu.loss - cpu.loss) <= 1e-4 * Math.abs(cpu.loss), `loss: WebGPU ${gpu.loss}, CPU ${cpu.loss}`);
  assert.ok(!b.logs.some((l) => /lost|validation error/i.test(l)), b.logs.join("\n"));
});
