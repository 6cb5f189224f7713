// The browser share of the hostile-input suite (the native one is tests/hostile.rs): broken model
// folders, GGUF files, tokenizers, data files and options through pipeline() in webtune's
// Worker. Each is an error with its stable name and a message naming the problem and the fix;
// no panic reaches the console; the pipelines loaded before keep working. Needs pkg/.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, openBrowser } from "./harness.mjs";
import { writeHostileFiles } from "./hostile-files.mjs";

const FIX = join(ROOT, "tests/fixtures/bert");
const dir = mkdtempSync(join(tmpdir(), "webtune-hostile-"));
const cases = writeHostileFiles(dir, join(FIX, "tiny-cls3"), join(FIX, "tokenizer.json"));

let b;
before(async () => {
  b = await openBrowser({ extraMounts: { "/hostile/": dir } });
  await b.page.goto(b.server.url + "test/blank.html");
});
after(async () => b?.close());

test("hostile files and options through pipeline() in the Worker: named errors, no panic, earlier pipelines unharmed", async () => {
  const r = await b.page.evaluate(async (cases) => {
    const { pipeline } = await import("/pkg/index.js");
    const file = async (url, name) => new File([await (await fetch(url)).arrayBuffer()], name);
    const folder = async ({ config = "/fixtures/bert/tiny-cls3/config.json", weights = "/fixtures/bert/tiny-cls3/model.safetensors", tokenizer = "/fixtures/bert/tokenizer.json" }) =>
      Promise.all([file(config, "config.json"), file(weights, "model.safetensors"), file(tokenizer, "tokenizer.json")]);
    const grab = (p) => p.then(() => null, (e) => ({ name: e.name, message: e.message }));
    const clf = await pipeline("text-classification", { model: await folder({}), device: "cpu" });
    // a GGUF is recognised by its bytes, not its name
    const gen = await pipeline("text-generation", { model: await file("/hostile/good.gguf", "weights.bin"), device: "cpu" });
    const out = {};
    for (const c of cases.configs) out[`config ${c}`] = await grab(pipeline("text-classification", { model: await folder({ config: `/hostile/config-${c}.json` }), device: "cpu" }));
    for (const c of cases.weights) out[`weights ${c}`] = await grab(pipeline("text-classification", { model: await folder({ weights: `/hostile/weights-${c}.safetensors` }), device: "cpu" }));
    for (const c of ["beyond", "notJson"]) out[`tokenizer ${c}`] = await grab(pipeline("text-classification", { model: await folder({ tokenizer: `/hostile/tokenizer-${c}.json` }), device: "cpu" }));
    for (const c of cases.ggufs.filter((c) => c !== "good" && c !== "endlessTemplate")) {
      out[`gguf ${c}`] = await grab(pipeline("text-generation", { model: await file(`/hostile/${c}.gguf`, `${c}.gguf`), device: "cpu" }));
    }
    const endless = await pipeline("text-generation", { model: await file("/hostile/endlessTemplate.gguf", "t.gguf"), device: "cpu" });
    out["gguf endlessTemplate"] = await grab(endless.chat([{ role: "user", content: "hi" }], { maxNewTokens: 2 }));
    endless.dispose();
    const rows = [{ text: "a fine film", label: "good" }, { text: "dull", label: "bad" }];
    const csv = (text) => new File([text], "d.csv");
    const train = (options) => grab(clf.finetune({ validationSplit: 0, epochs: 1, ...options }));
    out["data no label column"] = await train({ data: csv("text,verdict\nfine,good\n") });
    out["data unclosed quote"] = await train({ data: csv('text,label\n"fine,good\nbad,bad\n') });
    out["data broken JSONL"] = await train({ data: new File(['{"text": "fine", "label": "good"}\n{"text": \n'], "d.jsonl") });
    out["data empty text"] = await train({ data: [{ text: "", label: "good" }, { text: "dull", label: "bad" }] });
    out["pairs maxLength 2"] = await train({ data: rows.map((x) => ({ ...x, textPair: "and more" })), columns: { textPair: "textPair" }, maxLength: 2 });
    out["option maxGradNorm -1"] = await train({ data: rows, maxGradNorm: -1 });
    out["option learningRate NaN"] = await train({ data: rows, learningRate: NaN });
    out["option unknown"] = await train({ data: rows, learning_rate: 0.1 });
    const after = { labels: (await clf("a fine film")).length, text: (await gen("hello", { maxNewTokens: 2 })).text !== undefined };
    clf.dispose();
    gen.dispose();
    return { out, after };
  }, cases);
  const expect = {
    "config dropout1": ["WeightsError", /hidden_dropout_prob 1 must be in \[0, 1\)/],
    "config layers0": ["WeightsError", /num_hidden_layers 0 .*at least 1/],
    "config hugeVocab": ["WeightsError", /does not belong to these weights; use the config.json saved with them/],
    "config heads5": ["WeightsError", /multiple of num_attention_heads 5/],
    "config padBeyond": ["WeightsError", /pad_token_id 100000 .*vocab_size 600/],
    "config labels0": ["WeightsError", /0 labels .*between 1 and/],
    "config notJson": ["WeightsError", /config.json/],
    "weights nan": ["WeightsError", /bert\.embeddings\.word_embeddings\.weight holds NaN.*earlier checkpoint/],
    "weights inf": ["WeightsError", /classifier\.weight holds inf/],
    "weights truncated": ["WeightsError", /not a valid safetensors file.*re-download/],
    "weights headerHuge": ["WeightsError", /not a valid safetensors file/],
    "tokenizer beyond": ["WeightsError", /token ids up to 600, .*600 token embeddings.*saved with this model/],
    "tokenizer notJson": ["WeightsError", /tokenizer\.json could not be parsed/],
    "gguf alignment0": ["WeightsError", /general\.alignment .*power of two/],
    "gguf nested": ["WeightsError", /nested more than 4 deep/],
    "gguf blocks0": ["WeightsError", /num_hidden_layers 0/],
    "gguf bos5e9": ["WeightsError", /bos_token_id.*not a token id/],
    "gguf dimsOverflow": ["WeightsError", /output_norm\.weight has dimensions.*too large/],
    "gguf nanTensor": ["WeightsError", /blk\.0\.attn_k\.weight holds NaN/],
    "gguf q1d": ["WeightsError", /blk\.0\.attn_q\.weight has shape \[64\].*metadata implies/],
    "gguf q4k": ["WeightsError", /blk\.0\.ffn_up\.weight has 128 values, not a whole number of Q4_K blocks of 256/],
    "gguf q3k": ["WeightsError", /ggml type 11 \(Q3_K\).*supported: .*Q6_K/],
    "gguf truncated": ["WeightsError", /past the end of the file.*download it again/],
    "gguf endlessTemplate": ["WeightsError", /chat template ran more than .* steps.*fix or replace chat_template/],
    "data no label column": ["DataError", /label/],
    "data unclosed quote": ["DataError", /d\.csv/],
    "data broken JSONL": ["DataError", /d\.jsonl.*line 2/],
    "data empty text": ["DataError", /empty/],
    "pairs maxLength 2": ["OptionsError", /maxLength 2 leaves no room.*3 special tokens/],
    "option maxGradNorm -1": ["OptionsError", /maxGradNorm/],
    "option learningRate NaN": ["OptionsError", /learningRate/],
    "option unknown": ["OptionsError", /learning_rate/],
  };
  const failures = [];
  for (const [name, [kind, pattern]] of Object.entries(expect)) {
    const got = r.out[name];
    if (got?.name !== kind || !pattern.test(got.message)) failures.push(`${name}: ${JSON.stringify(got)}, expected ${kind} ${pattern}`);
  }
  assert.deepEqual(failures, [], failures.join("\n"));
  assert.ok(Object.keys(expect).length >= 30);
  assert.deepEqual(r.after, { labels: 3, text: true }, "the pipelines loaded before still work");
  assert.ok(!b.logs.some((l) => /panicked|RuntimeError|unreachable/.test(l)), "no panic:\n" + b.logs.join("\n"));
});
