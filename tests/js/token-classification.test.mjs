// pipeline("token-classification") (alias "ner") in webtune's Worker, on the CPU path: the tiny
// BERT token classifier's entities equal transformers' pipeline for every aggregation strategy
// (tests/reference/make_token_classification_fixtures.py); a search, fine-tuning on CoNLL text and
// on {tokens, tags} rows, seqeval's metrics, and a save that loads back. The numbers on the GPU are
// the native wgpu test's (tests/token_classification.rs): the head adds no kernel of its own.
// Needs pkg/.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, openBrowser } from "./harness.mjs";

const expected = JSON.parse(readFileSync(join(ROOT, "tests/fixtures/token-classification/bert/expected.json"), "utf8"));
const conll = expected.sentences.map((s) => s.words.map((w, i) => `${w} ${s.tags[i]}`).join("\n")).join("\n\n") + "\n";

let b;
before(async () => {
  b = await openBrowser({ webgpu: false });
  await b.page.goto(b.server.url + "test/blank.html");
});
after(async () => b?.close());

test("a NER pipeline tags like transformers' with every aggregation, fine-tunes on CoNLL and rows, evaluates entity F1, and its save loads back (CPU path)", async () => {
  const r = await b.page.evaluate(async ({ texts, conll, rows }) => {
    const { pipeline } = await import("/pkg/index.js");
    const failure = (e) => ({ name: e.name, message: e.message });
    const file = async (url, name) => new File([await (await fetch(url)).arrayBuffer()], name);
    try {
      const model = [
        await file("/fixtures/token-classification/bert/config.json", "config.json"),
        await file("/fixtures/token-classification/bert/model.safetensors", "model.safetensors"),
        await file("/fixtures/encoders/bert/tokenizer.json", "tokenizer.json"),
      ];
      const ner = await pipeline("ner", { model, device: "cpu" });
      const tagged = {};
      for (const aggregation of ["none", "simple", "first", "average", "max"]) tagged[aggregation] = await ner(texts, { aggregation });
      const single = await ner(texts[0]);
      const errors = {
        aggregation: await ner("x", { aggregation: "longest" }).then(() => null, failure),
        columns: await ner.finetune({ data: rows, columns: { text: "t" } }).then(() => null, failure),
      };
      const searched = await ner.search({ data: rows, validation: rows, space: { learningRate: [1e-3, 1e-2] }, batchSize: 4 });
      const events = [];
      const done = await ner.finetune({ data: new File([conll], "train.conll"), validation: rows, epochs: 2, batchSize: 4, learningRate: 1e-3, logEvery: 1, onEvent: (e) => events.push(e) });
      const metrics = await ner.evaluate(rows);
      const saved = await ner.save();
      const config = JSON.parse(await saved["config.json"].text());
      const after = await ner(texts[0]);
      const reloaded = await pipeline("token-classification", { model: Object.values(saved).map((blob, i) => new File([blob], Object.keys(saved)[i])), device: "cpu" });
      const again = await reloaded(texts[0]);
      ner.dispose();
      reloaded.dispose();
      return { device: ner.info.device.kind, tagged, single, errors, searched, done, evals: events.filter((e) => e.type === "eval").map((e) => e.metrics), metrics, config, after, again };
    } catch (e) {
      return { error: failure(e) };
    }
  }, { texts: expected.texts, conll, rows: expected.sentences.map((s) => ({ tokens: s.words, tags: s.tags })) });
  assert.ok(!r.error, JSON.stringify(r.error) + "\n" + b.logs.join("\n"));
  assert.equal(r.device, "cpu");
  for (const [strategy, want] of Object.entries(expected.pipeline)) {
    want.forEach((entities, t) => {
      const ours = r.tagged[strategy][t];
      assert.equal(ours.length, entities.length, `${strategy} text ${t}: entity count`);
      entities.forEach((e, i) => {
        const o = ours[i];
        assert.equal(o.entity, e.entity ?? e.entity_group, `${strategy} text ${t} #${i}`);
        assert.deepEqual([o.word, o.start, o.end], [e.word, e.start, e.end], `${strategy} text ${t} #${i}`);
        assert.ok(Math.abs(o.score - e.score) <= 1e-4, `${strategy} text ${t} #${i}: score ${o.score} vs ${e.score}`);
      });
    });
  }
  assert.deepEqual(r.single, r.tagged.simple[0], "one text gives one list");
  assert.equal(r.errors.aggregation.name, "OptionsError");
  assert.match(r.errors.aggregation.message, /aggregation|longest/);
  assert.match(r.errors.columns.message, /columns are for table data/);
  assert.deepEqual(r.searched.trials.map((t) => t.settings.learningRate), [1e-3, 1e-2], "the core's grid, in the Worker");
  assert.equal(r.searched.metric, "f1");
  assert.equal(r.done.stopReason, "finished");
  assert.equal(r.evals.length, 2, "one evaluation per epoch");
  for (const m of [...r.evals, r.metrics]) assert.ok(m.f1 >= 0 && m.f1 <= 1 && Array.isArray(m.per_type), JSON.stringify(m));
  assert.equal(r.metrics.examples, expected.sentences.length);
  assert.equal(r.config.architectures[0], "BertForTokenClassification");
  assert.deepEqual(r.again, r.after, "the saved model tags as the trained one");
});
