// The static server used by the demo and the browser tests (pkg-config/serve.mjs): no browser.
import test from "node:test";
import assert from "node:assert/strict";
import { relative } from "node:path";
import { startServer } from "../../pkg-config/serve.mjs";
import { ROOT } from "./harness.mjs";

test("mounts given as unnormalized or relative paths serve their files; escapes are refused", async () => {
  const mounts = {
    "/a/": `${ROOT}/tests/../tests/fixtures/bert`, // what "$PWD/../shared/assets" looks like
    "/b/": relative(process.cwd(), `${ROOT}/tests/fixtures/bert`),
    "/": `${ROOT}/www`,
  };
  const server = await startServer({ mounts });
  try {
    for (const p of ["a", "b"]) {
      const res = await fetch(`${server.url}${p}/tiny-base/config.json`);
      assert.equal(res.status, 200, `/${p}/ mount`);
      assert.ok((await res.json()).hidden_size > 0);
    }
    // Node's fetch normalizes "..", so send the raw path over HTTP.
    const { request } = await import("node:http");
    const status = await new Promise((ok, fail) => {
      request({ host: "127.0.0.1", port: server.port, path: "/a/..%2f..%2f..%2fCargo.toml" }, (r) => {
        r.resume();
        ok(r.statusCode);
      }).on("error", fail).end();
    });
    assert.equal(status, 403);
    assert.equal((await fetch(`${server.url}a/nope.json`)).status, 404);
  } finally {
    await server.close();
  }
});
