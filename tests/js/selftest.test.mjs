// The built package in a real page: init() + selfTest() through the public JS API, on WebGPU and
// on the CPU path, plus the demo page's button. Needs pkg/ (pkg-config/build.sh).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { openBrowser } from "./harness.mjs";

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

test("selfTest() trains one step on WebGPU and the loss falls", async () => {
  const { ok: r, error } = await api("selfTest");
  assert.equal(error, undefined, JSON.stringify(error) + "\n" + b.logs.join("\n"));
  assert.equal(r.device.kind, "webgpu");
  assert.ok(r.lossAfter < r.lossBefore, JSON.stringify(r));
});

test("selfTest({device: 'cpu'}) runs on the wasm CPU path", async () => {
  const { ok: r, error } = await api("selfTest", { device: "cpu" });
  assert.equal(error, undefined, JSON.stringify(error));
  assert.equal(r.device.kind, "cpu");
  assert.ok(r.lossAfter < r.lossBefore, JSON.stringify(r));
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

test("the demo page selects WebGPU and its self-test button passes", async () => {
  const page = await b.browser.newPage();
  await page.goto(b.server.url);
  await page.waitForFunction(() => document.querySelector("#device-info td"), null, { timeout: 60_000 });
  assert.match(await page.textContent("#device-info"), /webgpu/);
  await page.click("#selftest-btn");
  await page.waitForFunction(() => /passed|FAILED/.test(document.querySelector("#selftest-result").textContent), null, { timeout: 120_000 });
  assert.match(await page.textContent("#selftest-result"), /^passed on webgpu/);
  await page.close();
});
