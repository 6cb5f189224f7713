// The package in a bundler: a tiny Vite 7 app that imports "webtune" is built for production with
// Vite's defaults, served, and run in Chromium. The wasm and the Worker must load from the URLs
// Vite rewrote (nothing from pkg/), and a pipeline must classify. Needs pkg/ (pkg-config/build.sh).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { ROOT, openBrowser } from "./harness.mjs";

const { build } = await import(pathToFileURL(join(ROOT, "pkg-config/node_modules/vite/dist/node/index.js")).href);
const PKG = process.env.WEBTUNE_PKG || join(ROOT, "pkg");
const FIX = join(ROOT, "tests/fixtures/bert");

const tmp = mkdtempSync(join(tmpdir(), "webtune-vite-"));
const app = join(tmp, "app");
const dist = join(tmp, "dist");
const repo = join(tmp, "hub/webtune/tiny-cls3/resolve/main");

let b;
before(async () => {
  mkdirSync(app, { recursive: true });
  mkdirSync(repo, { recursive: true });
  copyFileSync(join(FIX, "tiny-cls3/config.json"), join(repo, "config.json"));
  copyFileSync(join(FIX, "tiny-cls3/model.safetensors"), join(repo, "model.safetensors"));
  copyFileSync(join(FIX, "tokenizer.json"), join(repo, "tokenizer.json"));
  writeFileSync(join(app, "index.html"), '<!doctype html><html><body><script type="module" src="./main.js"></script></body></html>\n');
  writeFileSync(join(app, "main.js"), `
import { env, pipeline } from "webtune";
env.remoteHost = location.origin + "/hub";
try {
  const clf = await pipeline("text-classification", { model: "webtune/tiny-cls3", device: "cpu" });
  window.result = { scores: await clf("a gripping, funny film"), device: clf.info.device.kind };
} catch (e) {
  window.result = { error: e.name + ": " + e.message };
}
`);
  // Vite's defaults, except: "webtune" is the built package here (an app would npm-install it),
  // and the app lives under /app/ on the test server.
  await build({
    root: app, base: "/app/", configFile: false, logLevel: "warn",
    resolve: { alias: [{ find: /^webtune$/, replacement: join(PKG, "index.js") }] },
    build: { outDir: dist, emptyOutDir: true },
  });
  b = await openBrowser({ extraMounts: { "/app/": dist, "/hub/": join(tmp, "hub") } });
});
after(async () => {
  await b?.close();
  rmSync(tmp, { recursive: true, force: true });
});

test("a Vite production build of an app using webtune loads the wasm and the Worker from its own assets and classifies", async () => {
  const emitted = readdirSync(join(dist, "assets"));
  assert.ok(emitted.some((f) => f.endsWith(".wasm")), `Vite emitted the wasm: ${emitted}`);
  assert.ok(emitted.some((f) => /worker/.test(f)), `Vite emitted the worker: ${emitted}`);
  await b.page.goto(b.server.url + "app/");
  await b.page.waitForFunction(() => window.result, null, { timeout: 60_000 });
  const r = await b.page.evaluate(() => window.result);
  assert.equal(r.error, undefined, r.error + "\n" + b.logs.join("\n"));
  assert.equal(r.device, "cpu");
  assert.deepEqual(r.scores.map((s) => s.label).sort(), ["negative", "neutral", "positive"]);
  const requests = b.server.requests;
  assert.ok(requests.some((p) => p.startsWith("/app/assets/") && p.endsWith(".wasm")), requests.join("\n"));
  assert.ok(requests.some((p) => /^\/app\/assets\/worker.*\.js$/.test(p)), `the page started Vite's worker bundle: ${requests.join(", ")}`);
  assert.ok(!requests.some((p) => p.startsWith("/pkg/")), "nothing comes from pkg/ directly");
});
