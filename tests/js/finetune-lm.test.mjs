// Fine-tuning a decoder through pipeline("text-generation") in Chromium, on the CPU path: the tiny
// Llama fixture with its character tokenizer (tests/reference/make_lm_train_fixture.py) trains with
// PyTorch's losses and gradient norms step by step (on WebGPU: webgpu-features.test.mjs in
// webtune's Worker, tests/browser.rs on the default adapter); evaluate gives PyTorch's
// loss of the trained model; save() gives a Hugging Face folder that loads back as the same model;
// an abort keeps the model trained so far; a stored run (OPFS) aborted and resumed with runs.resume
// ends as the uninterrupted run; bad options and data are clear errors. Needs pkg/.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, openBrowser } from "./harness.mjs";

const expected = JSON.parse(readFileSync(join(ROOT, "tests/fixtures/llama/train-steps/expected.json"), "utf8"));

let b;
before(async () => {
  b = await openBrowser();
  await b.page.goto(b.server.url + "test/blank.html");
});
after(async () => b?.close());

test("a Llama fine-tunes in webtune's Worker like PyTorch (CPU path); evaluate, save, reload, abort, errors", async () => {
  const r = await b.page.evaluate(async ({ rows, recipe }) => {
    const { pipeline, runs } = await import("/pkg/index.js");
    const failure = (e) => ({ name: e.name, message: e.message });
    const model = {
      config: "/fixtures/llama/tiny/config.json",
      weights: "/fixtures/llama/tiny/model.safetensors",
      tokenizer: "/fixtures/llama/train-steps/tokenizer.json",
    };
    const options = {
      data: rows, validationSplit: 0, epochs: recipe.steps, batchSize: rows.length, learningRate: recipe.learning_rate,
      weightDecay: recipe.weight_decay, warmupSteps: recipe.warmup_steps, maxGradNorm: recipe.max_grad_norm, logEvery: 1,
    };
    const prompt = "Q: capital of France? A:";
    const run = async (device) => {
      const gen = await pipeline("text-generation", { model, device });
      const before = await gen(prompt, { maxNewTokens: 6 });
      const events = [];
      const done = await gen.finetune({ ...options, onEvent: (e) => events.push(e) });
      const metrics = await gen.evaluate(rows);
      const after = await gen(prompt, { maxNewTokens: 6 });
      return { gen, info: gen.info, before, events, done, metrics, after };
    };
    try {
      const cpu = await run("cpu");
      // generated answers scored (BLEU, ROUGE-L; their parity: tests/data.rs): the pipeline's own greedy answers
      const scored = await cpu.gen.evaluate(rows, { generate: true, maxNewTokens: 6 });
      const firstAnswer = (await cpu.gen(rows[0].prompt, { maxNewTokens: 6 })).text.trim();
      // save → load the saved files back (as picked files) → the same generation
      const saved = await cpu.gen.save();
      const files = await Promise.all(Object.entries(saved).map(async ([name, blob]) => new File([await blob.arrayBuffer()], name)));
      const reloaded = await pipeline("text-generation", { model: files, device: "cpu" });
      const again = await reloaded(prompt, { maxNewTokens: 6 });
      const config = JSON.parse(await saved["config.json"].text());
      reloaded.dispose();
      // abort after the first step: AbortError, and the model keeps what it learned
      const ac = new AbortController();
      const aborted = await cpu.gen.finetune({ ...options, onEvent: (e) => { if (e.type === "step") ac.abort(); }, signal: ac.signal })
        .then(() => null, failure);
      const usable = await cpu.gen(prompt, { maxNewTokens: 2 });
      // a stored run (OPFS) aborted after step 1, resumed from its latest checkpoint: ends as the uninterrupted run
      // (the abort reaches the Worker while it trains on; aborting early leaves it steps to notice in)
      const fresh = await pipeline("text-generation", { model, device: "cpu" });
      const ac2 = new AbortController();
      const storedCheckpoints = [];
      const onStoredEvent = (e) => {
        if (e.type === "step" && e.step === 1) ac2.abort();
        if (e.type === "checkpoint") storedCheckpoints.push(e.step);
      };
      const storedAbort = await fresh.finetune({ ...options, run: "lm", checkpointEvery: 1, signal: ac2.signal, onEvent: onStoredEvent })
        .then(() => null, failure);
      fresh.dispose();
      const resumedEvents = [];
      const resumed = await runs.resume("lm", { onEvent: (e) => resumedEvents.push(e) });
      const resumedMetrics = await resumed.pipeline.evaluate(rows);
      const resumedAfter = await resumed.pipeline(prompt, { maxNewTokens: 6 });
      resumed.pipeline.dispose();
      await runs.delete("lm");
      const errors = {
        unknownOption: await cpu.gen.finetune({ ...options, epoch: 1 }).then(() => null, failure),
        loraInit: await cpu.gen.finetune({ ...options, lora: { init: "pissa" } }).then(() => null, failure),
        loraDropout: await cpu.gen.finetune({ ...options, lora: { dropout: 1 } }).then(() => null, failure),
        metric: await cpu.gen.finetune({ ...options, metric: "accuracy" }).then(() => null, failure),
        chatTemplate: await cpu.gen.finetune({ ...options, chatTemplate: true }).then(() => null, failure),
        columns: await cpu.gen.finetune({ ...options, data: [{ sentence: "hello" }] }).then(() => null, failure),
        noData: await cpu.gen.finetune({ ...options, data: [] }).then(() => null, failure),
        evaluateOption: await cpu.gen.evaluate(rows, { topK: 3 }).then(() => null, failure),
        saveFormat: await cpu.gen.save({ format: "onnx" }).then(() => null, failure),
      };
      // LoRA: adapters only, saved as PEFT files, or merged into a plain model (on the CPU path: LoRA
      // on WebGPU against PEFT is tests/browser.rs's, in the Worker webgpu-features.test.mjs's)
      const lora = await pipeline("text-generation", { model, device: "cpu" });
      const loraEvents = [];
      await lora.finetune({ ...options, lora: { rank: 4, alpha: 8, targetModules: ["q_proj", "v_proj"] }, onEvent: (e) => loraEvents.push(e) });
      const loraAfter = await lora(prompt, { maxNewTokens: 6 });
      const peft = await lora.save({ format: "peft" });
      const peftConfig = JSON.parse(await peft["adapter_config.json"].text());
      const header = async (blob) => {
        const bytes = new Uint8Array(await blob.arrayBuffer());
        const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
        return JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
      };
      const peftTensors = await header(peft["adapter_model.safetensors"]);
      // llama.cpp's adapter GGUF (its conversion is tests/gguf_lora.rs's): the magic and the adapter keys
      const gguf = new TextDecoder("latin1").decode(new Uint8Array(await (await lora.save({ format: "gguf-lora" }))["adapter.gguf"].arrayBuffer()));
      const mergedFiles = await lora.save();
      const merged = await pipeline("text-generation", {
        model: await Promise.all(Object.entries(mergedFiles).map(async ([n, blob]) => new File([await blob.arrayBuffer()], n))), device: "cpu",
      });
      const mergedAfter = await merged(prompt, { maxNewTokens: 6 });
      const loraErrors = {
        again: await lora.finetune(options).then(() => null, failure),
        badModule: await cpu.gen.finetune({ ...options, lora: { targetModules: ["c_attn"] } }).then(() => null, failure),
        peftWithoutLora: await cpu.gen.save({ format: "peft" }).then(() => null, failure),
        ggufWithoutLora: await cpu.gen.save({ format: "gguf-lora" }).then(() => null, failure),
      };
      merged.dispose();
      lora.dispose();
      cpu.gen.dispose();
      delete cpu.gen;
      return {
        cpu, names: Object.keys(saved).sort(), config, again, aborted, usable, errors,
        storedAbort, storedCheckpoints, resumedDone: resumed.done, resumedSteps: resumedEvents.filter((e) => e.type === "step").map((e) => e.step),
        resumedMetrics, resumedAfter, resumedTask: resumed.pipeline.task,
        loraEvents, loraAfter, peftNames: Object.keys(peft).sort(), peftConfig, peftTensors, mergedAfter, loraErrors,
        gguf: { magic: gguf.slice(0, 4), adapter: gguf.includes("adapter.lora.alpha"), lora_b: gguf.includes("blk.1.attn_v.weight.lora_b") },
        scored, firstAnswer,
      };
    } catch (e) {
      return { error: failure(e) };
    }
  }, { rows: expected.pairs, recipe: expected.recipe });
  assert.equal(r.error, undefined, JSON.stringify(r.error) + "\n" + b.logs.join("\n"));
  assert.equal(r.cpu.info.device.kind, "cpu");
  const want = expected.runs.pairs;
  // the CPU path against PyTorch, step by step
  const x = r.cpu, tol = 1e-4;
  const where = x.info.device.kind;
  const steps = x.events.filter((e) => e.type === "step");
  assert.equal(steps.length, want.steps.length, `${where}: one step event per step`);
  steps.forEach((s, i) => {
    const w = want.steps[i];
    assert.ok(Math.abs(s.loss - w.loss) <= tol, `${where} step ${i} loss: ours ${s.loss}, PyTorch ${w.loss}`);
    assert.ok(Math.abs(s.gradNorm - w.grad_norm) <= tol * 10, `${where} step ${i} grad norm: ours ${s.gradNorm}, PyTorch ${w.grad_norm}`);
    assert.ok(Math.abs(s.learningRate - w.learning_rate) <= 1e-12, `${where} step ${i} lr`);
  });
  assert.equal(x.events[0].type, "start");
  assert.equal(x.done.stopReason, "finished");
  assert.ok(Math.abs(x.metrics.loss - want.final_loss) <= tol * 10, `${where}: trained loss ${x.metrics.loss}, PyTorch ${want.final_loss}`);
  assert.ok(Math.abs(x.metrics.perplexity - Math.exp(x.metrics.loss)) < 1e-9);
  assert.equal(x.metrics.examples, expected.pairs.length);
  assert.notDeepEqual(x.after.tokens, x.before.tokens, `${where}: training changed what the model writes`);
  assert.deepEqual(r.names, ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]);
  assert.deepEqual(r.config.architectures, ["LlamaForCausalLM"]);
  assert.deepEqual(r.again.tokens, r.cpu.after.tokens, "the saved folder loads back as the trained model");
  assert.equal(r.aborted?.name, "AbortError", JSON.stringify(r.aborted));
  assert.equal(r.usable.tokens.length, 2, "usable after the abort");
  assert.equal(r.storedAbort?.name, "AbortError", JSON.stringify(r.storedAbort));
  assert.equal(r.resumedTask, "text-generation");
  // The abort reaches the worker while it trains on: step 4 (and its checkpoint) may finish first.
  const last = r.storedCheckpoints.at(-1);
  assert.ok(last >= 1 && last < 5, `the aborted run's checkpoints: ${r.storedCheckpoints}`);
  assert.deepEqual(r.resumedSteps, [2, 3, 4, 5].filter((s) => s > last), `resumed after the step-${last} checkpoint`);
  assert.equal(r.resumedDone.stopReason, "finished");
  assert.equal(r.scored.answers.length, expected.pairs.length);
  assert.equal(r.scored.answers[0], r.firstAnswer, "evaluate's answers are the pipeline's greedy answers");
  assert.ok(r.scored.bleu >= 0 && r.scored.bleu <= 100 && r.scored.rouge_l >= 0 && r.scored.rouge_l <= 1, JSON.stringify(r.scored));
  assert.ok(Math.abs(r.scored.loss - r.cpu.metrics.loss) < 1e-9, "the loss is reported beside the scores");
  assert.ok(Math.abs(r.resumedMetrics.loss - r.cpu.metrics.loss) <= 1e-5, `resumed run's loss ${r.resumedMetrics.loss}, uninterrupted ${r.cpu.metrics.loss}`);
  assert.deepEqual(r.resumedAfter.tokens, r.cpu.after.tokens, "the resumed run writes what the uninterrupted one writes");
  const e = r.errors;
  assert.equal(e.unknownOption?.name, "OptionsError");
  assert.match(e.unknownOption.message, /unknown option "epoch"; valid options are epochs, batchSize/);
  assert.equal(e.loraInit?.name, "OptionsError");
  assert.match(e.loraInit.message, /pissa.*kaiming.*gaussian/);
  assert.equal(e.loraDropout?.name, "OptionsError");
  assert.match(e.loraDropout.message, /lora.dropout must be in \[0, 1\)/);
  assert.equal(e.metric?.name, "OptionsError");
  assert.match(e.metric.message, /valid metrics are loss, perplexity/);
  assert.equal(e.chatTemplate?.name, "OptionsError");
  assert.match(e.chatTemplate.message, /no chat template/);
  assert.equal(e.columns?.name, "DataError");
  assert.match(e.columns.message, /"text" column, "prompt" and "completion" columns, or a "messages" column/);
  assert.equal(e.noData?.name, "DataError");
  assert.equal(e.evaluateOption?.name, "OptionsError");
  assert.equal(e.saveFormat?.name, "OptionsError");

  // LoRA
  const start = r.loraEvents.find((e) => e.type === "start");
  assert.equal(start.device.kind, "cpu");
  assert.ok(start.memory.gradientBytes < start.memory.weightBytes / 5, `only the adapters train: ${JSON.stringify(start.memory)}`);
  const loraSteps = r.loraEvents.filter((e) => e.type === "step");
  assert.ok(Math.abs(loraSteps[0].loss - want.steps[0].loss) <= 1e-3, "B starts at zero: the first loss is the base model's");
  assert.ok(loraSteps.at(-1).loss < loraSteps[0].loss, "the adapters learn");
  assert.deepEqual(r.peftNames, ["adapter_config.json", "adapter_model.safetensors"]);
  assert.equal(r.peftConfig.peft_type, "LORA");
  assert.equal(r.peftConfig.r, 4);
  assert.deepEqual(r.peftConfig.target_modules, ["q_proj", "v_proj"]);
  assert.deepEqual(r.peftTensors["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"].shape, [4, 32]);
  assert.deepEqual(r.peftTensors["base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight"].shape, [16, 4]);
  assert.equal(Object.keys(r.peftTensors).filter((k) => k !== "__metadata__").length, 8);
  assert.deepEqual(r.mergedAfter.tokens, r.loraAfter.tokens, "the merged model writes what the adapted one writes");
  assert.equal(r.loraErrors.again?.name, "OptionsError");
  assert.match(r.loraErrors.again.message, /already carries LoRA adapters/);
  assert.equal(r.loraErrors.badModule?.name, "OptionsError");
  assert.match(r.loraErrors.badModule.message, /unknown module "c_attn"; valid modules are q_proj/);
  assert.equal(r.loraErrors.peftWithoutLora?.name, "OptionsError");
  assert.match(r.loraErrors.peftWithoutLora.message, /no LoRA adapters/);
  assert.deepEqual(r.gguf, { magic: "GGUF", adapter: true, lora_b: true });
  assert.equal(r.loraErrors.ggufWithoutLora?.name, "OptionsError");
  assert.match(r.loraErrors.ggufWithoutLora.message, /save format "gguf-lora"/);
});
