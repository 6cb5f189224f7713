// Shared setup for the JS/E2E tests: Debian's Chromium through playwright-core (no browser
// download) with the flags from pkg-config/webdriver.json, and the package served on localhost.
import { createRequire } from "node:module";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { defaultMounts, startServer } from "../../pkg-config/serve.mjs";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const require = createRequire(join(ROOT, "pkg-config/package.json"));
const { chromium } = require("playwright-core");

/** `$WEBTUNE_ASSETS`, default ../shared/assets (served at /assets/). */
export function assetsRoot() {
  return resolve(process.env.WEBTUNE_ASSETS || join(ROOT, "../shared/assets"));
}

/**
 * Whether an asset (path under the assets folder) is there. When it is not, the test is skipped
 * with a message naming it — or fails when WEBTUNE_REQUIRE_ASSETS=1 (CI).
 */
export function requireAsset(t, rel, howToGet) {
  if (existsSync(join(assetsRoot(), rel))) return true;
  const msg = `asset ${rel} not found under ${assetsRoot()} (set WEBTUNE_ASSETS); ${howToGet}`;
  if (["1", "true"].includes(process.env.WEBTUNE_REQUIRE_ASSETS)) throw new Error(msg);
  t.skip(msg);
  return false;
}

/**
 * Screenshots of `page` (or only its `element`, a selector) at each width (default 1280 and 360 px), as `<name>-<width>.png` in
 * $WEBTUNE_SCREENSHOTS (default ~/.cache/webtune/screenshots), for a person to look at.
 */
export async function screenshots(page, name, { fullPage = true, widths = [1280, 360], element } = {}) {
  const dir = process.env.WEBTUNE_SCREENSHOTS || join(homedir(), ".cache/webtune/screenshots");
  mkdirSync(dir, { recursive: true });
  for (const width of widths) {
    await page.setViewportSize({ width, height: 900 });
    const path = join(dir, `${name}-${width}.png`);
    await (element ? page.locator(element).screenshot({ path }) : page.screenshot({ path, fullPage }));
  }
}

/** Opens the demo page of `b` (from openBrowser) and selects the CPU path in its device card. */
export async function openDemoOnCpu(b) {
  await b.page.goto(b.server.url);
  await b.page.selectOption("#device-choice", "cpu");
  await b.page.click("#init-btn");
  await b.page.waitForFunction(() => /cpu/.test(document.querySelector("#device-info")?.textContent), null, { timeout: 60_000 });
}

/**
 * Focuses `start` and presses Tab until the element with id `stop` has focus (at most `max`
 * presses): every element focused on the way as `{ id, outline }` (`outline`: a visible focus ring).
 */
export async function tabWalk(page, start, stop, max = 60) {
  await page.focus(start);
  const seen = [];
  for (let i = 0; i < max; i++) {
    const el = await page.evaluate(() => {
      const a = document.activeElement;
      const style = getComputedStyle(a);
      return { id: a.id || a.tagName.toLowerCase(), outline: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0 };
    });
    seen.push(el);
    if (el.id === stop) break;
    await page.keyboard.press("Tab");
  }
  return seen;
}

/** Chromium flags shared with the wasm-bindgen tests (one place: pkg-config/webdriver.json). */
export function chromiumArgs({ webgpu = true } = {}) {
  const cfg = JSON.parse(readFileSync(join(ROOT, "pkg-config/webdriver.json"), "utf8"));
  return cfg["goog:chromeOptions"].args
    .filter((a) => !a.startsWith("--headless"))
    .filter((a) => webgpu || a !== "--enable-unsafe-webgpu");
}

/**
 * Starts Chromium + a localhost server over www/ (at /) and the built package (at /pkg/);
 * `isolated`: pages are cross-origin isolated (see serve.mjs).
 */
export async function openBrowser({ webgpu = true, extraMounts = {}, isolated = false } = {}) {
  const mounts = {
    ...defaultMounts(),
    ...extraMounts,
    "/test/": join(ROOT, "tests/js/pages"),
    "/fixtures/": join(ROOT, "tests/fixtures"),
    "/assets/": assetsRoot(),
  };
  if (process.env.WEBTUNE_PKG) mounts["/pkg/"] = process.env.WEBTUNE_PKG;
  const server = await startServer({ mounts, isolated });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: chromiumArgs({ webgpu }),
  });
  const page = await browser.newPage();
  const logs = [];
  page.on("console", (m) => logs.push(`[${m.type()}] ${m.text()}`));
  page.on("pageerror", (e) => logs.push(`[pageerror] ${e.message}`));
  return {
    server, browser, page, logs,
    async close() { await browser.close(); await server.close(); },
  };
}
