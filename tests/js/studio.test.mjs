// The built package in a real page: init() + selfTest() through the public JS API on the CPU path,
// and the demo page's self-test button on WebGPU (the same selfTest in webtune's Worker; the Rust
// self-test on WebGPU is tests/browser.rs's). Needs pkg/ (pkg-config/build.sh).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, openBrowser, openDemoOnCpu, screenshots, tabWalk } from "./harness.mjs";

let b;
before(async () => {
  b = await openBrowser();
  await b.page.goto(b.server.url + "test/blank.html");
});
after(async () => b?.close());

const api = (fn, arg) => b.page.evaluate(async ([fn, arg]) => {
  const webtune = await import("/pkg/index.js");
  try {
    return { ok: await webtune[fn](arg) };
  } catch (e) {
    return { error: { name: e.name, message: e.message, isClass: typeof webtune[e.name] === "function" && e instanceof webtune[e.name], stack: String(e.stack) } };
  }
}, [fn, arg]);

test("init() selects the WebGPU adapter and reports its limits", async () => {
  const { ok: info, error } = await api("init", { device: "webgpu" });
  assert.equal(error, undefined, JSON.stringify(error) + "\n" + b.logs.join("\n"));
  assert.equal(info.kind, "webgpu");
  assert.equal(info.backend, "BrowserWebGpu");
  assert.ok(info.maxStorageBufferBindingSize >= 128 * 2 ** 20, JSON.stringify(info));
  assert.ok(info.fallback == null, `fallback: ${info.fallback}`);
});

test("selfTest({device: 'cpu'}) runs on the wasm CPU path", async () => {
  const { ok: r, error } = await api("selfTest", { device: "cpu" });
  assert.equal(error, undefined, JSON.stringify(error));
  assert.equal(r.device.kind, "cpu");
  assert.ok(r.passed && r.lossAfter < r.lossBefore, JSON.stringify(r));
  assert.ok(Math.abs(r.updateSize - 0.01) < 1e-3, JSON.stringify(r));
});

test("unknown options are rejected with an OptionsError listing the valid keys", async () => {
  const { error } = await api("init", { devise: "webgpu" });
  assert.equal(error.name, "OptionsError");
  assert.ok(error.isClass);
  assert.match(error.message, /"devise".*valid options are device/);
  const bad = await api("init", { device: "tpu" });
  assert.equal(bad.error.name, "OptionsError");
  assert.match(bad.error.message, /"tpu".*"auto"/);
});

test("the demo page leaves a software WebGPU adapter for the CPU under auto, selects WebGPU when asked, and its self-test button passes", async () => {
  const page = await b.browser.newPage();
  await page.goto(b.server.url);
  await page.waitForFunction(() => document.querySelector("#device-info td"), null, { timeout: 60_000 });
  // "auto" leaves a software adapter (SwiftShader here: a fallback adapter) for the CPU, and says so
  const fallback = await page.evaluate(async () => (await navigator.gpu.requestAdapter())?.info?.isFallbackAdapter);
  if (fallback) {
    assert.match(await page.textContent("#device-info"), /cpu/);
    assert.match(await page.textContent("#fallback"), /^Using the CPU: the only GPU adapter.* is a software renderer/);
  } else {
    assert.match(await page.textContent("#device-info"), /webgpu/);
  }
  await page.selectOption("#device-choice", "webgpu");
  await page.click("#init-btn");
  await page.waitForFunction(() => /webgpu/.test(document.querySelector("#device-info").textContent), null, { timeout: 60_000 });
  await page.click("#selftest-btn");
  await page.waitForFunction(() => /passed|FAILED/.test(document.querySelector("#selftest-result").textContent), null, { timeout: 120_000 });
  assert.match(await page.textContent("#selftest-result"), /^passed on webgpu: .*largest update 1\.\d+e-2/);
  // one device story: the page itself never instantiated webtune's wasm (device card, self-test
  // and version all ran in the Worker that the panels' pipelines use)
  const pageWasm = await page.evaluate(() => performance.getEntriesByType("resource").filter((r) => r.name.endsWith("webtune_core_bg.wasm")).length);
  assert.equal(pageWasm, 0, "the page thread loaded no wasm");
  await screenshots(page, "demo-selftest", { fullPage: false });
  await page.close();
});

/**
 * Runs `test(page, { demo, csv, noTokenizer })` on the demo page on the CPU path with the tiny BERT classifier (at /tiny)
 * and its 36-row CSV picked, then closes the browser and removes the model folder.
 */
async function withTinyDemo(test) {
  // a model folder for the tiny fixture (the fixtures share one tokenizer.json)
  const dir = mkdtempSync(join(tmpdir(), "webtune-demo-"));
  copyFileSync(join(ROOT, "tests/fixtures/bert/train-steps/config.json"), join(dir, "config.json"));
  copyFileSync(join(ROOT, "tests/fixtures/bert/tiny-cls3/model.safetensors"), join(dir, "model.safetensors"));
  copyFileSync(join(ROOT, "tests/fixtures/bert/tokenizer.json"), join(dir, "tokenizer.json"));
  const rows = JSON.parse(readFileSync(join(ROOT, "tests/fixtures/bert/train-steps/expected.json"), "utf8")).rows;
  const csv = "review,stars\n" + [0, 1, 2].flatMap(() => rows.map((r) => `"${r.text}",${r.label}`)).join("\n");
  // the same model without its tokenizer.json (a folder people save with the model only)
  const bare = mkdtempSync(join(tmpdir(), "webtune-no-tokenizer-"));
  copyFileSync(join(dir, "config.json"), join(bare, "config.json"));
  copyFileSync(join(dir, "model.safetensors"), join(bare, "model.safetensors"));
  const demo = await openBrowser({ extraMounts: { "/tiny/": dir, "/no-tokenizer/": bare } });
  try {
    const page = demo.page;
    await openDemoOnCpu(demo);
    await page.fill("#ft-model", "/tiny");
    await page.setInputFiles("#ft-file", { name: "reviews.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
    // the preview fills the column fields from its guesses: typing into them before it lands races it
    await page.waitForFunction(() => document.querySelector("#ft-data-summary").textContent.startsWith("reviews.csv"));
    await page.fill("#ft-text", "review");
    await page.fill("#ft-label", "stars");
    // 12 rows per class: the panel proposes SetFit (its own test); these tests fine-tune
    assert.equal(await page.inputValue("#ft-method"), "setfit");
    assert.equal(await page.isHidden("#ft-method-why"), false, "the proposal says why");
    await page.selectOption("#ft-method", "finetune");
    await test(page, { demo, csv, noTokenizer: "/no-tokenizer" });
  } finally {
    await demo.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(bare, { recursive: true, force: true });
  }
}

const doneOrError = () => /^done/.test(document.querySelector("#ft-status").textContent) || !document.querySelector("#error").hidden;

test("the demo's fine-tune panel trains (CPU path), charts the loss, classifies and offers the download", async () => {
  await withTinyDemo(async (page, { demo }) => {
    await page.fill("#ft-epochs", "3");
    await page.fill("#ft-batch", "6");
    await page.fill("#ft-lr", "0.002");
    await page.click("#ft-start");
    await page.waitForFunction(doneOrError, null, { timeout: 120_000 });
    assert.equal(await page.isHidden("#error"), true, await page.textContent("#error"));
    assert.match(await page.textContent("#ft-status"), /^done: \d+ steps .*finished/);
    assert.equal(await page.locator("#ft-evals tbody tr").count(), 3, "one evaluation row per epoch");
    // it learned: validation loss fell and accuracy beat always answering the most common class
    // (1/3 of these balanced rows); the table's columns are step, accuracy, macro F1, loss
    const evals = await page.$$eval("#ft-evals tbody tr", (trs) => trs.map((tr) => [...tr.cells].map((c) => Number(c.textContent))));
    const [first, last] = [evals[0], evals.at(-1)];
    assert.ok(last[3] < 0.8 * first[3], `validation loss fell by 20 %: ${JSON.stringify(evals)}`);
    assert.ok(last[1] >= 0.75, `accuracy above the majority rate 0.33: ${JSON.stringify(evals)}`);
    // the misclassified validation examples: as many as the confusion matrix's off-diagonal counts
    const { offDiagonal, listed } = await page.evaluate(() => ({
      offDiagonal: [...document.querySelectorAll("#ft-confusion tbody tr")].reduce((sum, tr, i) =>
        sum + [...tr.querySelectorAll("td")].reduce((s, td, j) => s + (i === j ? 0 : Number(td.textContent)), 0), 0),
      listed: document.querySelectorAll("#ft-mistakes tbody tr").length,
    }));
    assert.equal(listed, offDiagonal, "one row per misclassified example");
    for (const chart of ["#ft-chart", "#ft-metric-chart", "#ft-lr-chart"]) {
      assert.ok(await page.locator(`${chart} .uplot`).count(), `${chart} is drawn`);
    }
    await page.click("#ft-classify");
    await page.waitForFunction(() => /%/.test(document.querySelector("#ft-pred").textContent));
    assert.match(await page.textContent("#ft-pred"), /(negative|neutral|positive) \d+\.\d %/);
    // the attention view: one cell per (token, token) of the sentence, for every layer and head
    await page.waitForFunction(() => document.querySelectorAll("#ft-attention td").length > 0);
    const view = await page.evaluate(() => ({
      tokens: document.querySelectorAll("#ft-attention tbody tr").length,
      cells: document.querySelectorAll("#ft-attention td").length,
      layers: document.querySelectorAll("#ft-layer option").length,
      heads: document.querySelectorAll("#ft-head option").length,
    }));
    assert.ok(view.tokens > 2 && view.cells === view.tokens * view.tokens && view.layers >= 1 && view.heads >= 1, JSON.stringify(view));
    await page.selectOption("#ft-head", String(view.heads - 1));
    assert.equal(await page.locator("#ft-attention td").count(), view.cells, "another head redraws the same grid");
    await screenshots(page, "demo-finetune"); // what a person sees after a run, wide and phone-sized
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#ft-download")]);
    assert.equal(download.suggestedFilename(), "webtune-classifier.zip");
    // the run as a Hugging Face recipe: a zip holding train.py beside the run's settings
    const [recipe] = await Promise.all([page.waitForEvent("download"), page.click("#ft-recipe")]);
    assert.equal(recipe.suggestedFilename(), "webtune-recipe.zip");
    const zip = readFileSync(await recipe.path());
    for (const name of ["train.py", "recipe.json", "train.jsonl", "README.md"]) assert.ok(zip.includes(Buffer.from(name)), `the recipe zip holds ${name}`);
    assert.equal(await page.isHidden("#error"), true, await page.textContent("#error"));
    assert.ok(!demo.logs.some((l) => l.startsWith("[pageerror]")), demo.logs.join("\n"));
  });
});

test("a fine-tuning run cut short is offered for Resume after a reload and ends with every step", async () => {
  await withTinyDemo(async (page) => {
    // 20 epochs × 5 steps: stopped after step 25 (the step-20 checkpoint stored), 75 steps left
    await page.fill("#ft-epochs", "20");
    await page.fill("#ft-batch", "6");
    await page.fill("#ft-ckpt", "20");
    await page.click("#ft-start");
    await page.waitForFunction(() => Number(/step (\d+)\//.exec(document.querySelector("#ft-status").textContent)?.[1] ?? 0) >= 25, null, { timeout: 120_000 });
    await page.click("#ft-stop");
    await page.waitForFunction(() => !document.querySelector("#ft-start").disabled);
    assert.equal(await page.isHidden("#error"), true, await page.textContent("#error"));
    await page.reload();
    await page.waitForSelector("#ft-resume-box:not([hidden])", { timeout: 30_000 });
    assert.match(await page.textContent("#ft-resume-text"), /cut short at step \d+/);
    await page.selectOption("#device-choice", "cpu");
    await page.click("#ft-resume");
    await page.waitForFunction(doneOrError, null, { timeout: 180_000 });
    assert.equal(await page.isHidden("#error"), true, await page.textContent("#error"));
    assert.match(await page.textContent("#ft-status"), /^done: 100 steps/);
    await page.waitForFunction(() => !document.querySelector("#ft-start").disabled); // the resume call returned
    assert.equal(await page.isHidden("#ft-resume-box"), true, "a finished run is not offered again");
    assert.equal(await page.isVisible("#ft-try"), true, "the resumed model is ready to try");
  });
});

test("the demo's search runs a 2-trial grid, lists the trials sortable by macro-F1 and keeps the best one to try", async () => {
  await withTinyDemo(async (page) => {
    await page.fill("#ft-batch", "6");
    await page.click("#ft-search-box summary");
    await page.fill("#ft-search-lr", "0.002, 0.005");
    await page.fill("#ft-search-epochs", "3");
    await page.fill("#ft-search-batch", "6");
    await page.fill("#ft-search-trials", "2");
    await page.click("#ft-search");
    await page.waitForFunction(() => /^search done/.test(document.querySelector("#ft-status").textContent) || !document.querySelector("#error").hidden, null, { timeout: 120_000 });
    assert.equal(await page.isHidden("#error"), true, await page.textContent("#error"));
    await page.waitForFunction(() => !document.querySelector("#ft-start").disabled);
    const rows = () => page.$$eval("#ft-search-table tbody tr", (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
    const trials = await rows();
    assert.equal(trials.length, 2, JSON.stringify(trials));
    assert.deepEqual(trials.map((t) => t[3]), ["6", "6"], "the batch size searched");
    const best = trials.filter((t) => t[5] === "best");
    assert.equal(best.length, 1, "one trial is marked best");
    assert.equal(Number(best[0][4]), Math.max(...trials.map((t) => Number(t[4]))), "the best has the highest macro-F1");
    await page.click("#ft-search-table button[data-key=value]");
    const sorted = (await rows()).map((t) => Number(t[4]));
    assert.deepEqual(sorted, [...sorted].sort((a, b) => b - a), "sorted by macro-F1, best first");
    assert.match(await page.textContent("#ft-status"), new RegExp(`the best \\(trial ${best[0][0]},`));
    assert.equal(await page.isVisible("#ft-try"), true, "the kept model is ready to try");
    assert.equal(await page.isHidden("#ft-recipe-row"), true, "a search's best trial is no single run to write as a recipe");
    await screenshots(page, "demo-search");
  });
});

test("bad input in the demo: an empty file, a one-class file, a .gguf for classification, a folder without tokenizer.json and a run over the memory plan are clear messages next to their controls; the page still trains", async () => {
  await withTinyDemo(async (page, { csv, noTokenizer }) => {
    await page.setInputFiles("#ft-file", { name: "empty.csv", mimeType: "text/csv", buffer: Buffer.from("") });
    await page.waitForSelector("#ft-data-error:not([hidden])");
    assert.match(await page.textContent("#ft-data-error"), /DataError: .*empty\.csv/);
    await page.setInputFiles("#ft-file", { name: "one.csv", mimeType: "text/csv", buffer: Buffer.from("review,stars\ngood,positive\nfine,positive\n") });
    await page.waitForFunction(() => /one class/.test(document.querySelector("#ft-data-warnings").textContent));
    await page.fill("#ft-model", "/assets/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
    await page.click("#ft-start");
    await page.waitForSelector("#error:not([hidden])", { timeout: 60_000 });
    assert.match(await page.textContent("#error"), /^OptionsError: pipeline: a \.gguf file holds a decoder for text generation; text-classification needs an encoder folder/);
    await page.fill("#ft-model", noTokenizer);
    await page.click("#ft-start");
    await page.waitForFunction(() => /has no tokenizer\.json/.test(document.querySelector("#error").textContent), null, { timeout: 60_000 });
    assert.match(await page.textContent("#error"), /^NetworkError: tokenizer\.json: .* the model folder has no tokenizer\.json: save the tokenizer beside the weights/);
    // 200,000 rows in one batch: refused by the memory plan before a step, not a crashed tab
    const big = "review,stars\n" + Array.from({ length: 200_000 }, (_, i) => (i % 2 ? "good film,positive" : "bad film,negative")).join("\n");
    await page.fill("#ft-model", "/tiny");
    await page.setInputFiles("#ft-file", { name: "big.csv", mimeType: "text/csv", buffer: Buffer.from(big) });
    await page.fill("#ft-batch", "200000");
    await page.click("#ft-start");
    await page.waitForFunction(() => /OutOfMemoryError/.test(document.querySelector("#error").textContent), null, { timeout: 120_000 });
    assert.match(await page.textContent("#error"), /^OutOfMemoryError: this run needs about [\d,]+ MB .* lower batchSize or maxLength/);
    // still usable: the tiny model on its file trains
    await page.fill("#ft-model", "/tiny");
    await page.setInputFiles("#ft-file", { name: "reviews.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
    await page.fill("#ft-batch", "6");
    await page.click("#ft-start");
    await page.waitForFunction(doneOrError, null, { timeout: 120_000 });
    assert.equal(await page.isHidden("#error"), true, await page.textContent("#error"));
  });
});

/** A model folder from fixture files: `[name in the folder, path under tests/fixtures]` pairs. */
function fixtureFolder(files) {
  const dir = mkdtempSync(join(tmpdir(), "webtune-task-"));
  for (const [name, from] of files) copyFileSync(join(ROOT, "tests/fixtures", from), join(dir, name));
  return dir;
}

test("the demo's task panel previews, trains, reports and tries NER, question answering and fill-mask (CPU path, tiny models, the shop samples)", async () => {
  const folders = {
    "/ner/": fixtureFolder([["config.json", "token-classification/bert/config.json"], ["model.safetensors", "token-classification/bert/model.safetensors"], ["tokenizer.json", "encoders/bert/tokenizer.json"]]),
    "/qa/": fixtureFolder([["config.json", "question-answering/bert/config.json"], ["model.safetensors", "question-answering/bert/model.safetensors"], ["tokenizer.json", "fill-mask/bert/tokenizer.json"]]),
    "/mlm/": fixtureFolder([["config.json", "fill-mask/bert/config.json"], ["model.safetensors", "fill-mask/bert/model.safetensors"], ["tokenizer.json", "fill-mask/bert/tokenizer.json"]]),
  };
  const demo = await openBrowser({ extraMounts: folders });
  const page = demo.page;
  const doneOrError = () => /^done/.test(document.querySelector("#tk-status").textContent) || !document.querySelector("#tk-error").hidden;
  const run = async (task, model) => {
    await page.selectOption("#tk-task", task);
    await page.fill("#tk-model", model);
    await page.click("#tk-start");
    await page.waitForFunction(doneOrError, null, { timeout: 120_000 });
    assert.equal(await page.isHidden("#tk-error"), true, await page.textContent("#tk-error"));
    assert.equal(await page.isVisible("#tk-results"), true);
  };
  try {
    await openDemoOnCpu(demo);
    await page.fill("#tk-maxlen", "64"); // the tiny models read 64 positions
    await page.fill("#tk-epochs", "2");
    await page.fill("#tk-batch", "16");
    await page.fill("#tk-lr", "0.003");

    // NER: the sample's sentences with their entities coloured, counts per type
    await page.waitForFunction(() => /160 sentences/.test(document.querySelector("#tk-data-summary").textContent));
    assert.ok(await page.locator("#tk-data-preview mark.entity").count() >= 4);
    assert.deepEqual((await page.$$eval("#tk-data-counts .name", (els) => els.map((e) => e.textContent))).sort(), ["LOC", "ORG", "PER", "PRODUCT"]);
    await run("token-classification", "/ner");
    const types = await page.$$eval("#tk-metrics tbody tr", (trs) => trs.map((tr) => tr.cells[0].textContent));
    assert.ok(types.length >= 1 && types.every((t) => ["LOC", "ORG", "PER", "PRODUCT"].includes(t)), JSON.stringify(types));
    const labels = await page.$$eval("#tk-confusion thead th", (ths) => ths.slice(1).map((th) => th.textContent));
    assert.equal(labels.at(-1), "O", "the confusion's last column is no entity");
    await page.click("#tk-ner-go");
    await page.waitForFunction(() => document.querySelector("#tk-play-out").textContent.length > 0);
    assert.match(await page.textContent("#tk-play-out"), /Maria Rossi ordered the Nimbus rain jacket/);
    await screenshots(page, "demo-tasks-ner", { element: "#tasks" });
    // the run as a Hugging Face recipe
    const [recipe] = await Promise.all([page.waitForEvent("download"), page.click("#tk-recipe")]);
    assert.equal(recipe.suggestedFilename(), "webtune-token-classification-recipe.zip");
    const zip = readFileSync(await recipe.path());
    for (const file of ["train.py", "webtune_recipe.py", "recipe.json", "train.jsonl"]) assert.ok(zip.includes(Buffer.from(file)), `the recipe zip holds ${file}`);

    // QA: the answers marked in their texts
    await page.selectOption("#tk-task", "question-answering");
    await page.waitForFunction(() => /48 questions on 16 texts/.test(document.querySelector("#tk-data-summary").textContent));
    assert.equal(await page.locator("#tk-data-preview mark.answer").first().textContent(), "9:00 to 13:00");
    await run("question-answering", "/qa");
    assert.match(await page.textContent("#tk-results-title"), /exact match \d+\.\d, F1 \d+\.\d on \d+ questions/);
    await page.click("#tk-qa-go");
    await page.waitForFunction(() => document.querySelector("#tk-play-out mark.answer") !== null);
    const answer = await page.textContent("#tk-play-out mark.answer");
    assert.ok((await page.inputValue("#tk-qa-context")).includes(answer), `the answer is a span of the text: ${answer}`);
    await screenshots(page, "demo-tasks-qa", { element: "#tasks" });
    const [qaRecipe] = await Promise.all([page.waitForEvent("download"), page.click("#tk-recipe")]);
    assert.ok(readFileSync(await qaRecipe.path()).includes(Buffer.from("\"doc_stride\"")), "the QA recipe holds the run's windowing");

    // fill-mask: perplexity before and after, the mask token of the model
    await page.selectOption("#tk-task", "fill-mask");
    await page.waitForFunction(() => /40 texts/.test(document.querySelector("#tk-data-summary").textContent));
    await run("fill-mask", "/mlm");
    const rows = await page.$$eval("#tk-metrics tbody tr", (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
    assert.equal(rows.length, 3, JSON.stringify(rows));
    assert.ok(Number(rows[1][1]) < Number(rows[0][1]), `masked-LM loss on the file fell: ${JSON.stringify(rows)}`);
    await page.click("#tk-mlm-go");
    await page.waitForFunction(() => document.querySelectorAll("#tk-play-out li").length === 5);
    await screenshots(page, "demo-tasks-mlm", { element: "#tasks" });
    const [mlmRecipe] = await Promise.all([page.waitForEvent("download"), page.click("#tk-recipe")]);
    assert.equal(mlmRecipe.suggestedFilename(), "webtune-fill-mask-recipe.zip");
    assert.ok(readFileSync(await mlmRecipe.path()).includes(Buffer.from("validation_masks.json")), "the fill-mask recipe carries webtune's validation masks");

    // a file the reader refuses: its error, naming the line, next to the data field
    await page.selectOption("#tk-task", "token-classification");
    await page.setInputFiles("#tk-file", { name: "bad.conll", mimeType: "text/plain", buffer: Buffer.from("Bonn X-LOC\n") });
    await page.waitForFunction(() => !document.querySelector("#tk-data-error").hidden);
    assert.match(await page.textContent("#tk-data-error"), /^DataError: .*bad\.conll/);
    assert.ok(!demo.logs.some((l) => l.startsWith("[pageerror]")), demo.logs.join("\n"));
  } finally {
    await demo.close();
    for (const dir of Object.values(folders)) rmSync(dir, { recursive: true, force: true });
  }
});

test("with a few rows per class the panel proposes SetFit and says why; a SetFit run trains, evaluates once and classifies (CPU path)", async () => {
  await withTinyDemo(async (page, { demo }) => {
    await page.selectOption("#ft-method", "setfit"); // the proposal withTinyDemo turned down
    assert.equal(await page.inputValue("#ft-epochs"), "1", "setfit's defaults come with the method");
    assert.equal(await page.inputValue("#ft-lr"), "0.00002");
    assert.match(await page.textContent("#ft-method-why"), /About 12 rows per class: SetFit is proposed/);
    assert.equal(await page.isHidden("#ft-method-why"), true, "once the person chooses, the proposal's note goes");
    await page.fill("#ft-batch", "8");
    await page.fill("#ft-lr", "0.001");
    await page.click("#ft-start");
    await page.waitForFunction(doneOrError, null, { timeout: 120_000 });
    assert.equal(await page.isHidden("#error"), true, await page.textContent("#error"));
    assert.match(await page.textContent("#ft-status"), /^done: \d+ steps .*finished/);
    assert.equal(await page.locator("#ft-evals tbody tr").count(), 1, "one evaluation, once the head is fitted");
    // its recipe, for setfit's own Trainer (pipeline.test.mjs reads its program)
    assert.equal(await page.isHidden("#ft-recipe-row"), false, "a SetFit run downloads as a recipe");
    const [recipe] = await Promise.all([page.waitForEvent("download"), page.click("#ft-recipe")]);
    const zip = readFileSync(await recipe.path());
    for (const name of ["train.py", "webtune_order.json", "requirements.txt"]) assert.ok(zip.includes(Buffer.from(name)), `the recipe zip holds ${name}`);
    await page.click("#ft-classify");
    await page.waitForFunction(() => /%/.test(document.querySelector("#ft-pred").textContent));
    assert.match(await page.textContent("#ft-pred"), /(negative|neutral|positive) \d+\.\d %/);
    await screenshots(page, "demo-setfit");
    assert.ok(!demo.logs.some((l) => l.startsWith("[pageerror]")), demo.logs.join("\n"));
  });
});

test("label these next: the panel ranks pasted texts by the model's uncertainty, a click labels one, the labelled rows download as CSV and join the next run's data", async () => {
  await withTinyDemo(async (page, { demo }) => {
    await page.fill("#ft-epochs", "2");
    await page.fill("#ft-batch", "6");
    await page.fill("#ft-lr", "0.002");
    await page.click("#ft-start");
    await page.waitForFunction(doneOrError, null, { timeout: 120_000 });
    assert.equal(await page.isHidden("#error"), true, await page.textContent("#error"));
    const pool = ["a slow , dull film", "shot in two countries", "a joy to watch", "not bad , not good"];
    await page.fill("#al-pool", pool.join("\n"));
    await page.click("#al-rank");
    await page.waitForFunction(() => document.querySelectorAll("#al-table tbody tr").length === 4);
    const rows = await page.$$eval("#al-table tbody tr", (trs) => trs.map((tr) => ({ text: tr.cells[0].textContent, score: Number(tr.cells[2].textContent), buttons: tr.cells[3].querySelectorAll("button").length })));
    assert.deepEqual(rows.map((r) => r.text).sort(), [...pool].sort());
    assert.ok(rows.every((r, i) => i === 0 || rows[i - 1].score >= r.score), `most uncertain first: ${JSON.stringify(rows)}`);
    assert.ok(rows.every((r) => r.buttons === 3), "a button per class");
    await screenshots(page, "demo-label-next");
    const first = rows[0].text;
    await page.click("#al-table tbody tr:first-child button:has-text('neutral')");
    assert.match(await page.textContent("#al-count"), /^1 row labelled here/);
    assert.equal(await page.locator("#al-table tbody tr").count(), 3);
    const [csv] = await Promise.all([page.waitForEvent("download"), page.click("#al-download")]);
    assert.equal(csv.suggestedFilename(), "labelled-rows.csv");
    assert.equal(readFileSync(await csv.path(), "utf8"), `review,stars\n${first.includes(",") ? `"${first}"` : first},neutral\n`);
    // the next run's data: the file plus the labelled row, in the file's own columns
    const joined = await page.evaluate(async () => {
      const { withLabelled } = await import("/labelling.js");
      return (await withLabelled(new File(['review,stars,id\n"a ""quoted"", text",positive,1\n'], "r.csv"), { text: "review", label: "stars" })).text();
    });
    assert.equal(joined, `review,stars,id\n"a ""quoted"", text",positive,1\n${first.includes(",") ? `"${first}"` : first},neutral,\n`);
    await page.click("#al-retrain");
    await page.waitForFunction(() => document.querySelector("#ft-start").disabled);
    await page.waitForFunction(doneOrError, null, { timeout: 120_000 });
    assert.equal(await page.isHidden("#error"), true, await page.textContent("#error"));
    await page.waitForFunction(() => document.querySelectorAll("#al-table tbody tr").length === 3); // re-ranked without the labelled row
    assert.ok(!(await page.$$eval("#al-table tbody tr", (trs) => trs.map((tr) => tr.cells[0].textContent))).includes(first));
    assert.ok(!demo.logs.some((l) => l.startsWith("[pageerror]")), demo.logs.join("\n"));
  });
});

test("augmentation: the preview shows what swap and delete make of the first rows, and a run trains on the copies (CPU path)", async () => {
  await withTinyDemo(async (page, { demo }) => {
    await page.selectOption("#ft-augment", "swap,delete");
    await page.waitForFunction(() => !document.querySelector("#ft-data-augmented").hidden);
    const pairs = await page.$$eval("#ft-data-augmented li", (lis) => lis.map((li) => [li.querySelector(".original").textContent, li.querySelector(".augmented-text").textContent]));
    assert.equal(pairs.length, 5, "one per previewed row");
    const words = (t) => t.split(" ").sort().join(" ");
    assert.ok(pairs.every(([o, a]) => words(a) === words(o) || a.split(" ").every((w) => o.split(" ").includes(w))), `a swap keeps the words, a deletion keeps some: ${JSON.stringify(pairs)}`);
    assert.ok(pairs.some(([o, a]) => o !== a), "something changed");
    await screenshots(page, "demo-augment");
    await page.fill("#ft-epochs", "1");
    await page.fill("#ft-batch", "6");
    await page.click("#ft-start");
    await page.waitForFunction(doneOrError, null, { timeout: 120_000 });
    assert.equal(await page.isHidden("#error"), true, await page.textContent("#error"));
    // 29 training rows and one copy of each: 58 examples, 10 steps of 6
    assert.match(await page.textContent("#ft-status"), /^done: 10 steps/);
    await page.selectOption("#ft-method", "setfit");
    assert.equal(await page.isDisabled("#ft-augment"), true, "SetFit trains on the rows as they are");
    assert.ok(!demo.logs.some((l) => l.startsWith("[pageerror]")), demo.logs.join("\n"));
  });
});

test("keyboard only: Tab reaches every control of the demo in page order with a visible focus ring, and Enter on Train trains", async () => {
  await withTinyDemo(async (page) => {
    await page.fill("#ft-batch", "6");
    const seen = await tabWalk(page, "#device-choice", "ft-start");
    const ids = seen.map((e) => e.id);
    for (const id of ["device-choice", "init-btn", "selftest-btn", "ft-model", "ft-file", "ft-text", "ft-label", "ft-epochs", "ft-start"]) {
      assert.ok(ids.includes(id), `Tab reaches #${id}: ${ids.join(" → ")}`);
    }
    assert.ok(ids.indexOf("ft-model") < ids.indexOf("ft-label") && ids.indexOf("ft-label") < ids.indexOf("ft-start"), "in page order");
    assert.ok(seen.filter((e) => e.id.startsWith("ft-")).every((e) => e.outline), `a focus ring on every control: ${JSON.stringify(seen)}`);
    await page.keyboard.press("Enter"); // on Train
    await page.waitForFunction(doneOrError, null, { timeout: 120_000 });
    assert.equal(await page.isHidden("#error"), true, await page.textContent("#error"));
  });
});
