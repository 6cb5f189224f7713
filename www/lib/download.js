// Downloading model files with progress events, kept in the browser's Cache Storage so that a
// reload needs no network. Only complete downloads are cached, and a cached file is used only if
// its size is the one recorded when it was stored.
import { AbortError, NetworkError } from "./errors.js";

const SIZE_HEADER = "x-webtune-size";
/** Marks a cached answer "the server has no such file" (an optional file, `download`'s `optional`). */
const ABSENT_HEADER = "x-webtune-absent";
const ABSENT = Symbol("absent");
const PROGRESS_EVERY_MS = 100;

/**
 * Fetches `url` (or takes it from the cache) and resolves to its bytes. Events to `onProgress`
 * (transformers.js's shapes): `{status: "initiate" | "download" | "progress" | "done", name, file,
 * loaded?, total?, progress?, fromCache?}`. An `optional` file the server does not have (404, 410)
 * resolves to null without events, and that absence is cached like a file, so that a reload asks
 * the network for nothing.
 * @param {string} url
 * @param {{name: string, file: string, useCache: boolean, cacheName: string, optional?: boolean,
 *          onProgress?: (e: object) => void, signal?: AbortSignal}} o
 */
export async function download(url, { name, file, useCache, cacheName, optional = false, onProgress, signal }) {
  const emit = (e) => onProgress?.({ name, file, ...e });
  const cache = useCache ? await openCache(cacheName) : null;
  let cached = await readCache(cache, url);
  if (cached === ABSENT) {
    if (optional) return null;
    cached = null; // a file asked for as required is fetched, whatever an optional probe found
  }
  if (!optional || cached) emit({ status: "initiate" });
  if (cached) {
    emit({ status: "progress", loaded: cached.length, total: cached.length, progress: 100, fromCache: true });
    emit({ status: "done", loaded: cached.length, total: cached.length, fromCache: true });
    return cached;
  }
  if (!optional) emit({ status: "download" });
  let res;
  try {
    res = await fetch(url, { signal });
  } catch (err) {
    if (signal?.aborted) throw new AbortError(`the download of ${file} was aborted`);
    throw new NetworkError(`${file}: could not fetch ${url} (${err.message}); check the URL, the network and that the server allows CORS`, { cause: err });
  }
  if (optional && (res.status === 404 || res.status === 410)) {
    await res.body?.cancel();
    await writeAbsent(cache, url);
    return null;
  }
  if (optional) {
    emit({ status: "initiate" });
    emit({ status: "download" });
  }
  if (!res.ok) {
    const hint = res.status === 401 || res.status === 403 ? "; the model may be private or gated"
      : res.status === 404 && file === "tokenizer.json" ? "; the model folder has no tokenizer.json: save the tokenizer beside the weights (tokenizer.save_pretrained(folder) writes it; webtune reads the fast tokenizer's file)"
      : "; check the model id or URL";
    throw Object.assign(new NetworkError(`${file}: ${url} answered HTTP ${res.status} ${res.statusText}${hint}`), { status: res.status });
  }
  const encoded = (res.headers.get("content-encoding") ?? "identity") !== "identity";
  const total = encoded ? null : Number(res.headers.get("content-length")) || null;
  const bytes = await readBody(res, total, signal, file, (loaded) =>
    emit({ status: "progress", loaded, total, progress: total ? (100 * loaded) / total : null, fromCache: false }));
  if (total !== null && bytes.length !== total) {
    throw new NetworkError(`${file}: the download stopped at ${bytes.length} of ${total} bytes; try again`);
  }
  await writeCache(cache, url, bytes, res.headers.get("content-type"));
  emit({ status: "done", loaded: bytes.length, total: bytes.length, fromCache: false });
  return bytes;
}

/** The body as one Uint8Array, reporting progress at most every PROGRESS_EVERY_MS (and at the end). */
async function readBody(res, total, signal, file, progress) {
  const reader = res.body.getReader();
  const chunks = [];
  let loaded = 0;
  let last = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      loaded += value.length;
      if (performance.now() - last >= PROGRESS_EVERY_MS || loaded === total) {
        last = performance.now();
        progress(loaded);
      }
    }
  } catch (err) {
    if (signal?.aborted) throw new AbortError(`the download of ${file} was aborted`);
    throw new NetworkError(`${file}: the download failed after ${loaded} bytes (${err.message}); try again`, { cause: err });
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(loaded);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

async function openCache(cacheName) {
  if (typeof caches === "undefined") return null; // not a secure context, or no Cache Storage
  try {
    return await caches.open(cacheName);
  } catch {
    return null; // storage blocked (private mode, policy): download every time
  }
}

/** The cached bytes of `url`, ABSENT when the server was known not to have it, else null. */
async function readCache(cache, url) {
  const hit = await cache?.match(url);
  if (!hit) return null;
  if (hit.headers.get(ABSENT_HEADER) === "1") return ABSENT;
  const bytes = new Uint8Array(await hit.arrayBuffer());
  if (String(bytes.length) === hit.headers.get(SIZE_HEADER)) return bytes;
  await cache.delete(url); // damaged or from another writer: fetch it again
  return null;
}

/**
 * Records that the server has no file at `url`. The entry has no size header, so a webtune that
 * does not know the marker discards it as damaged rather than reading an empty file.
 */
async function writeAbsent(cache, url) {
  if (!cache) return;
  try {
    await cache.put(url, new Response(new Uint8Array(0), { headers: { [ABSENT_HEADER]: "1" } }));
  } catch {
    // not kept: the next load asks again
  }
}

async function writeCache(cache, url, bytes, type) {
  if (!cache) return;
  const headers = { [SIZE_HEADER]: String(bytes.length), "content-type": type ?? "application/octet-stream" };
  try {
    await cache.put(url, new Response(bytes, { headers }));
  } catch {
    // quota exceeded or storage blocked: the model still loads, it is just not kept
  }
}

/** Removes webtune's cached model files (all of them, or those whose URL contains `match`). */
export async function clearCache(cacheName, match) {
  if (typeof caches === "undefined") return 0;
  if (match === undefined) return (await caches.delete(cacheName)) ? 1 : 0;
  const cache = await caches.open(cacheName);
  let n = 0;
  for (const req of await cache.keys()) {
    if (req.url.includes(match) && (await cache.delete(req))) n++;
  }
  return n;
}
