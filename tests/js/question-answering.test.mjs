// pipeline("question-answering") in webtune's Worker, on the CPU path: the tiny BERT QA model reads
// a long context in windows and answers with offsets into it, fine-tunes on SQuAD rows, evaluates
// SQuAD exact match and F1, and its save loads back. The numbers (windows, logits, post-processing,
// steps) are compared with transformers and PyTorch natively (tests/question_answering.rs). Needs pkg/.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, openBrowser } from "./harness.mjs";

const expected = JSON.parse(readFileSync(join(ROOT, "tests/fixtures/question-answering/bert/expected.json"), "utf8"));

let b;
before(async () => {
  b = await openBrowser({ webgpu: false });
  await b.page.goto(b.server.url + "test/blank.html");
});
after(async () => b?.close());

test("a question-answering pipeline answers from every window of a long context with offsets, fine-tunes LoRA on SQuAD rows, evaluates, saves PEFT files, and its merged save loads back (CPU path)", async () => {
  const r = await b.page.evaluate(async ({ examples, settings }) => {
    const { pipeline } = await import("/pkg/index.js");
    const failure = (e) => ({ name: e.name, message: e.message });
    const file = async (url, name) => new File([await (await fetch(url)).arrayBuffer()], name);
    try {
      const model = [
        await file("/fixtures/question-answering/bert/config.json", "config.json"),
        await file("/fixtures/question-answering/bert/model.safetensors", "model.safetensors"),
        await file("/fixtures/fill-mask/bert/tokenizer.json", "tokenizer.json"),
      ];
      const qa = await pipeline("question-answering", { model, device: "cpu", maxLength: settings.max_length, docStride: settings.doc_stride });
      const { question, context } = examples[0];
      const out = { info: qa.info, one: await qa(question, context), top: await qa({ question, context }, { topK: 3 }), both: await qa(examples.slice(0, 2)) };
      out.emoji = { context: "😀 Zoë Brandt wrote it.", answer: await qa("Who wrote it?", "😀 Zoë Brandt wrote it.") };
      out.errors = {
        input: await qa(["not an object"]).then(() => null, failure),
        stride: await pipeline("question-answering", { model, device: "cpu", maxLength: 32, docStride: 20 }).then(() => null, failure),
      };
      const data = new File([JSON.stringify(examples)], "squad.json");
      out.done = await qa.finetune({ data, validation: data, epochs: 1, batchSize: 16, learningRate: 1e-2, maxLength: settings.max_length, docStride: settings.doc_stride, logEvery: 1, lora: { rank: 4 } });
      out.metrics = await qa.evaluate(data);
      const peft = await qa.save({ format: "peft" });
      out.peft = { files: Object.keys(peft).sort(), config: JSON.parse(await peft["adapter_config.json"].text()) };
      const saved = await qa.save();
      out.config = JSON.parse(await saved["config.json"].text());
      out.after = await qa(question, context);
      const reloaded = await pipeline("question-answering", { model: Object.entries(saved).map(([name, blob]) => new File([blob], name)), device: "cpu", maxLength: settings.max_length, docStride: settings.doc_stride });
      out.again = await reloaded(question, context);
      qa.dispose();
      reloaded.dispose();
      return out;
    } catch (e) {
      return { error: failure(e) };
    }
  }, { examples: expected.examples, settings: expected.settings });
  assert.ok(!r.error, JSON.stringify(r.error) + "\n" + b.logs.join("\n"));
  assert.equal(r.info.device.kind, "cpu");
  const context = expected.examples[0].context;
  const want = expected.v1[expected.examples[0].id];
  assert.deepEqual([r.one.answer, r.one.start, r.one.end], [want.text, want.start, want.end], "transformers' run_qa answer, from every window");
  assert.equal(context.slice(r.one.start, r.one.end), r.one.answer);
  assert.equal(r.top.length, 3);
  assert.deepEqual(r.top[0], r.one);
  assert.ok(r.top[0].score >= r.top[1].score && r.top[1].score >= r.top[2].score);
  assert.equal(r.both.length, 2);
  const e = r.emoji;
  assert.equal(e.context.slice(e.answer.start, e.answer.end), e.answer.answer, "offsets index the JS string (UTF-16)");
  assert.equal(r.errors.input.name, "OptionsError");
  assert.match(r.errors.stride.message, /docStride/);
  assert.equal(r.done.stopReason, "finished");
  assert.ok(Number.isFinite(r.metrics.f1) && r.metrics.no_answer.total === 1, JSON.stringify(r.metrics));
  assert.deepEqual(r.peft.files, ["adapter_config.json", "adapter_model.safetensors"]);
  assert.equal(r.peft.config.task_type, "QUESTION_ANS");
  assert.deepEqual(r.peft.config.modules_to_save, ["qa_outputs"]);
  assert.equal(r.config.architectures[0], "BertForQuestionAnswering");
  assert.notDeepEqual(r.after, r.one, "training changed the answer");
  const { score, ...answer } = r.after;
  assert.deepEqual({ ...r.again, score }, { ...answer, score }, "the saved (merged) model answers as the adapted one");
  assert.ok(Math.abs(r.again.score - score) < 1e-5, `scores ${r.again.score}, ${score}`);
});
