// README's screenshots, from the demo's real default models at work: all-MiniLM-L6-v2 fine-tuned
// on the sample support tickets (the classifier's results), and SmolLM2-135M-Instruct answering in
// the chat panel. Writes www/screenshots/studio-classifier-results.png and studio-chat.png (1280 px).
// Needs pkg/ (pkg-config/build.sh) and the default models (pkg-config/models.mjs, or the assets).
//   node pkg-config/screenshots.mjs
import { join } from "node:path";
import { ROOT, openBrowser, openDemoOnCpu } from "../tests/js/harness.mjs";

const OUT = join(ROOT, "www/screenshots");

const demo = await openBrowser();
try {
  const page = demo.page;
  await page.setViewportSize({ width: 1280, height: 900 });
  await openDemoOnCpu(demo);
  // the classifier: the page's defaults (MiniLM, the sample's 360 tickets, 3 epochs)
  await page.waitForFunction(() => /rows/.test(document.querySelector("#ft-data-summary").textContent));
  await page.click("#ft-start");
  await page.waitForFunction(() => /^done/.test(document.querySelector("#ft-status").textContent) || !document.querySelector("#error").hidden, null, { timeout: 1_800_000 });
  if (!(await page.isHidden("#error"))) throw new Error(await page.textContent("#error"));
  await page.fill("#ft-text-in", "I was charged twice for my order");
  await page.click("#ft-classify");
  await page.waitForFunction(() => /%/.test(document.querySelector("#ft-pred").textContent));
  await page.locator("#finetune").screenshot({ path: join(OUT, "studio-classifier-results.png") });
  // the chat panel: SmolLM2 loaded into <webtune-chat>, one question answered
  await page.click("#chat-load");
  await page.waitForFunction(() => /^loaded on/.test(document.querySelector("#chat-load-status").textContent) || !document.querySelector("#chat-error").hidden, null, { timeout: 300_000 });
  if (!(await page.isHidden("#chat-error"))) throw new Error(await page.textContent("#chat-error"));
  await page.evaluate(() => document.querySelector("#chat-widget").send("What is the capital of France?"));
  await page.locator("#chat").screenshot({ path: join(OUT, "studio-chat.png") });
  console.log(`wrote ${OUT}/studio-classifier-results.png and studio-chat.png`);
} finally {
  await demo.close();
}
