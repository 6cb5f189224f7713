// `wasm-pack build --target web` (how a Rust user packages webtune) gives a package that loads in
// Chromium: its wasm-bindgen glue initialises the module, and the exports answer (the version, a
// device on the CPU path). wasm-pack comes from crates.io (pkg-config/setup.sh installs it).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { ROOT, openBrowser } from "./harness.mjs";

test("wasm-pack build --target web gives a package that loads and answers in Chromium", async () => {
  const out = join(ROOT, "target/wasm-pack-pkg");
  // The build cache, rustflags and features of the package build test.sh made just before
  // (pkg-config/env.sh, wasm.toml, the test-only `test-hooks` export), so that this reuses its
  // compiled crate instead of building webtune again (~80 s); the packaging is what a user runs.
  const env = { ...process.env, CARGO_TARGET_DIR: process.env.CARGO_TARGET_DIR || join(homedir(), ".cache/webtune/target") };
  const features = process.env.WEBTUNE_FEATURES ? ["--features", process.env.WEBTUNE_FEATURES] : [];
  execFileSync("wasm-pack", ["build", "--target", "web", "--out-dir", out, "--", "--config", "pkg-config/wasm.toml", ...features], {
    cwd: ROOT, env, stdio: ["ignore", "ignore", "inherit"],
  });
  const pkg = JSON.parse(readFileSync(join(out, "package.json"), "utf8"));
  assert.equal(pkg.name, "webtune");
  const b = await openBrowser({ webgpu: false, extraMounts: { "/wasm-pack/": out } });
  try {
    await b.page.goto(`${b.server.url}test/blank.html`);
    const r = await b.page.evaluate(async () => {
      const m = await import("/wasm-pack/webtune.js");
      await m.default();
      const device = await m.init({ device: "cpu" });
      return { version: m.version(), kind: device.kind };
    });
    const cargo = readFileSync(join(ROOT, "Cargo.toml"), "utf8").match(/^version = "(.*)"/m)[1];
    assert.deepEqual(r, { version: cargo, kind: "cpu" });
  } finally {
    await b.close();
  }
});
