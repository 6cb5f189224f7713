// Shared setup for the JS/E2E tests: Debian's Chromium through playwright-core (no browser
// download) with the flags from pkg-config/webdriver.json, and the package served on localhost.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { defaultMounts, startServer } from "../../pkg-config/serve.mjs";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const require = createRequire(join(ROOT, "pkg-config/package.json"));
const { chromium } = require("playwright-core");

/** Chromium flags shared with the wasm-bindgen tests (one place: pkg-config/webdriver.json). */
export function chromiumArgs({ webgpu = true } = {}) {
  const cfg = JSON.parse(readFileSync(join(ROOT, "pkg-config/webdriver.json"), "utf8"));
  return cfg["goog:chromeOptions"].args
    .filter((a) => !a.startsWith("--headless"))
    .filter((a) => webgpu || a !== "--enable-unsafe-webgpu");
}

/** Starts Chromium + a localhost server over www/ (at /) and the built package (at /pkg/). */
export async function openBrowser({ webgpu = true } = {}) {
  const mounts = { ...defaultMounts(), "/test/": join(ROOT, "tests/js/pages") };
  if (process.env.WEBTUNE_PKG) mounts["/pkg/"] = process.env.WEBTUNE_PKG;
  const server = await startServer({ mounts });
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
