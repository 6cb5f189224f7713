// A small static file server for the demo and the browser tests (no dependencies).
//
//   node pkg-config/serve.mjs [--port 8080]    serves www/ at /, pkg/ at /pkg/, the assets at /assets/
//
// Tests import { startServer } to serve on a random localhost port and to see every request.
import { createServer } from "node:http";
import { createReadStream, statSync } from "node:fs";
import { extname, join, normalize, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { modelMounts } from "./models.mjs";

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));

const TYPES = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
  ".json": "application/json", ".wasm": "application/wasm", ".txt": "text/plain; charset=utf-8",
  ".tsv": "text/tab-separated-values", ".csv": "text/csv", ".svg": "image/svg+xml",
  ".ts": "text/plain; charset=utf-8",
};

/**
 * Default mounts: URL prefix -> folder. Longest prefix wins. The demo's default models at
 * /models/<name>/ (pkg-config/models.mjs: the assets' copy, else the verified download cache);
 * $WEBTUNE_ASSETS (default ../shared/assets) at /assets/ for tests; uPlot (charts) and fflate
 * (zips) from the dev tools' node_modules.
 */
export function defaultMounts() {
  return {
    "/pkg/": join(ROOT, "pkg"),
    "/assets/": resolve(process.env.WEBTUNE_ASSETS || join(ROOT, "../shared/assets")),
    ...modelMounts(),
    "/vendor/uplot/": join(ROOT, "pkg-config/node_modules/uplot/dist"),
    "/vendor/fflate/": join(ROOT, "pkg-config/node_modules/fflate/esm"),
    "/": join(ROOT, "www"),
  };
}

/**
 * The demo's Content-Security-Policy: scripts only from this origin, plus compiling webtune's
 * wasm; no inline script or style attributes; models from this origin or any https host (the
 * Hugging Face hub); downloads as blob: URLs.
 */
export const DEMO_CSP = [
  "default-src 'self'", "script-src 'self' 'wasm-unsafe-eval'", "style-src 'self'", "img-src 'self' data: blob:",
  "connect-src 'self' https:", "worker-src 'self'", "object-src 'none'", "base-uri 'none'",
].join("; ");

/**
 * Starts the server on 127.0.0.1. Resolves to { url, port, requests, close() }; `requests` lists
 * every request path, so tests can assert what was (not) fetched. `isolated`: every response
 * says COOP same-origin and COEP require-corp, so pages are cross-origin isolated (what
 * SharedArrayBuffer, and so wasm threads such as wllama's, need).
 */
export function startServer({ port = 0, mounts = defaultMounts(), quiet = true, isolated = false } = {}) {
  const prefixes = Object.keys(mounts).sort((a, b) => b.length - a.length);
  const requests = [];
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    requests.push(path);
    if (!quiet) console.log(req.method, path);
    const prefix = prefixes.find((p) => path.startsWith(p));
    // Resolved, so that a mount given as "/a/main/../shared" or a relative path still matches.
    const base = resolve(mounts[prefix]);
    let file = normalize(join(base, path.slice(prefix.length)));
    if (file !== base && !file.startsWith(base + sep)) return send(res, 403, "forbidden");
    try {
      if (statSync(file).isDirectory()) file = join(file, "index.html");
      const size = statSync(file).size;
      res.writeHead(200, {
        "Content-Type": TYPES[extname(file)] ?? "application/octet-stream",
        "Content-Length": size,
        "Cache-Control": "no-cache",
        "Access-Control-Allow-Origin": "*",
        ...(isolated ? { "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp" } : {}),
        // the demo's own pages run under a strict policy, as a careful site would serve them
        ...(prefix === "/" && extname(file) === ".html" ? { "Content-Security-Policy": DEMO_CSP } : {}),
      });
      if (req.method === "HEAD") return res.end();
      createReadStream(file).pipe(res);
    } catch {
      send(res, 404, `not found: ${path}`);
    }
  });
  return new Promise((ok, fail) => {
    server.once("error", fail);
    server.listen(port, "127.0.0.1", () => {
      const { port } = server.address();
      ok({ url: `http://127.0.0.1:${port}/`, port, requests, close: () => new Promise((r) => server.close(r)) });
    });
  });
}

function send(res, status, text) {
  res.writeHead(status, { "Content-Type": "text/plain" });
  res.end(text);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf("--port");
  const port = i > 0 ? Number(process.argv[i + 1]) : Number(process.env.PORT ?? 8080);
  const { url } = await startServer({ port, quiet: false });
  console.log(`webtune demo: ${url}  (Ctrl-C to stop; open it in Chrome/Edge 113+ for WebGPU)`);
}
