// pipeline("fill-mask") in webtune's Worker, on the CPU path: the tiny BERT masked LM fills masks
// as transformers' pipeline does (top 5, targets, two masks; tests/reference/make_fill_mask_fixtures.py),
// continues its pretraining on a .txt file, evaluates its masked-LM loss, and its save loads back.
// The numbers on the GPU are the native wgpu test's (tests/fill_mask.rs). Needs pkg/.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, openBrowser } from "./harness.mjs";

const expected = JSON.parse(readFileSync(join(ROOT, "tests/fixtures/fill-mask/bert/expected.json"), "utf8"));

let b;
before(async () => {
  b = await openBrowser({ webgpu: false });
  await b.page.goto(b.server.url + "test/blank.html");
});
after(async () => b?.close());

test("a fill-mask pipeline fills like transformers', continues pretraining on a .txt file, evaluates, and its save loads back (CPU path)", async () => {
  const r = await b.page.evaluate(async ({ texts, targets, corpus }) => {
    const { pipeline } = await import("/pkg/index.js");
    const failure = (e) => ({ name: e.name, message: e.message });
    const file = async (name) => new File([await (await fetch(`/fixtures/fill-mask/bert/${name}`)).arrayBuffer()], name);
    try {
      const fill = await pipeline("fill-mask", { model: [await file("config.json"), await file("model.safetensors"), await file("tokenizer.json")], device: "cpu" });
      const out = { info: fill.info, each: await fill(texts), targeted: await fill(targets.text, { targets: targets.targets, topK: 3 }) };
      out.errors = {
        noMask: await fill("no mask here").then(() => null, failure),
        topK: await fill(texts[0], { topK: 0 }).then(() => null, failure),
      };
      const data = new File([corpus], "domain.txt");
      const before = await fill.evaluate(data);
      out.done = await fill.finetune({ data, validation: data, epochs: 3, batchSize: 4, learningRate: 2e-3, logEvery: 1 });
      out.losses = [before.loss, (await fill.evaluate(data)).loss];
      const saved = await fill.save();
      out.config = JSON.parse(await saved["config.json"].text());
      out.after = await fill(texts[0]);
      const reloaded = await pipeline("fill-mask", { model: Object.entries(saved).map(([name, blob]) => new File([blob], name)), device: "cpu" });
      out.again = await reloaded(texts[0]);
      fill.dispose();
      reloaded.dispose();
      return out;
    } catch (e) {
      return { error: failure(e) };
    }
  }, { texts: expected.texts, targets: expected.targets, corpus: expected.batch.texts.join("\n").repeat(4) });
  assert.ok(!r.error, JSON.stringify(r.error) + "\n" + b.logs.join("\n"));
  assert.equal(r.info.device.kind, "cpu");
  assert.equal(r.info.maskToken, "[MASK]");
  const same = (what, ours, theirs) => {
    assert.equal(ours.length, theirs.length, `${what}: candidates`);
    theirs.forEach((t, i) => {
      assert.deepEqual([ours[i].token, ours[i].token_str, ours[i].sequence], [t.token, t.token_str, t.sequence], `${what} #${i}`);
      assert.ok(Math.abs(ours[i].score - t.score) <= 1e-4, `${what} #${i}: score ${ours[i].score} vs ${t.score}`);
    });
  };
  expected.pipeline.forEach((want, t) => {
    if (Array.isArray(want[0])) want.forEach((m, k) => same(`text ${t} mask ${k}`, r.each[t][k], m));
    else same(`text ${t}`, r.each[t], want);
  });
  same("targets", r.targeted, expected.targets.result);
  assert.equal(r.errors.noMask.name, "DataError");
  assert.match(r.errors.noMask.message, /no mask token: write \[MASK\]/);
  assert.equal(r.errors.topK.name, "OptionsError");
  assert.equal(r.done.stopReason, "finished");
  assert.ok(r.losses[1] < r.losses[0], `the masked-LM loss on the texts falls: ${r.losses}`);
  assert.equal(r.config.architectures[0], "BertForMaskedLM");
  assert.deepEqual(r.again, r.after, "the saved model fills as the trained one");
});
