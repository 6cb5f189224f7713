// Getting model files as bytes: from URLs (fetch), `File`/`Blob`s, or bytes already in memory.
import { NetworkError, OptionsError } from "./errors.js";

/** The files of a Hugging Face model folder, by role (encoders and decoders alike; a decoder's
 * `tokenizer_config.json`, for its chat template, is optional and fetched apart). */
export const MODEL_FILES = { config: "config.json", weights: "model.safetensors", tokenizer: "tokenizer.json" };

/**
 * Whether `source` is meant as a GGUF file: its first bytes are "GGUF" (a File/Blob or bytes,
 * whatever its name), or it is named `.gguf` (a URL, whose bytes are not here yet, or a File that
 * the core then checks and, when its bytes say otherwise, refuses as "not a GGUF file").
 */
export async function isGguf(source) {
  if (typeof source === "string" || source instanceof URL) return /\.gguf(\?.*)?$/i.test(String(source));
  if (typeof File !== "undefined" && source instanceof File && /\.gguf$/i.test(source.name)) return true;
  let head;
  if (typeof Blob !== "undefined" && source instanceof Blob) head = new Uint8Array(await source.slice(0, 4).arrayBuffer());
  else if (source instanceof ArrayBuffer) head = new Uint8Array(source, 0, Math.min(4, source.byteLength));
  else if (ArrayBuffer.isView(source)) head = new Uint8Array(source.buffer, source.byteOffset, Math.min(4, source.byteLength));
  else return false;
  return head.length === 4 && String.fromCharCode(...head) === "GGUF";
}

/**
 * Resolves one file source to a Uint8Array.
 * @param {string|URL|Blob|ArrayBuffer|ArrayBufferView} src
 * @param {string} what  the file's role, for error messages ("model.safetensors", …)
 * @param {{signal?: AbortSignal}} [opts]
 */
export async function bytesOf(src, what, { signal } = {}) {
  if (src instanceof Uint8Array) return src;
  if (ArrayBuffer.isView(src)) return new Uint8Array(src.buffer, src.byteOffset, src.byteLength);
  if (src instanceof ArrayBuffer) return new Uint8Array(src);
  if (typeof Blob !== "undefined" && src instanceof Blob) return new Uint8Array(await src.arrayBuffer());
  if (typeof src === "string" || src instanceof URL) {
    const url = new URL(src, globalThis.location?.href);
    let res;
    try {
      res = await fetch(url, { signal });
    } catch (err) {
      if (err?.name === "AbortError") throw err;
      throw new NetworkError(`${what}: could not fetch ${url} (${err.message}); check the URL and that the server allows CORS`, { cause: err });
    }
    if (!res.ok) throw new NetworkError(`${what}: ${url} answered HTTP ${res.status} ${res.statusText}; check the URL`);
    return new Uint8Array(await res.arrayBuffer());
  }
  throw new OptionsError(`${what}: expected a URL, a File/Blob, an ArrayBuffer or a Uint8Array, got ${src === null ? "null" : typeof src}`);
}

/**
 * `source` with file-name keys (`{ "config.json": … }`, what `export()` returns) renamed to the
 * roles of `names` (`{ config: … }`); other keys are left as they are.
 */
export function byRole(source, names) {
  const roleOf = Object.fromEntries(Object.entries(names).map(([role, name]) => [name, role]));
  return Object.fromEntries(Object.entries(source).map(([k, v]) => [Object.hasOwn(roleOf, k) ? roleOf[k] : k, v]));
}

/** Throws an OptionsError unless `source` names exactly the roles of `names` (`{ config, weights, tokenizer }`). */
export function checkRoles(source, names) {
  const entries = Object.entries(names);
  const missing = entries.filter(([key]) => source[key] == null).map(([key, name]) => `${key} (${name})`);
  const unknown = Object.keys(source).filter((k) => !Object.hasOwn(names, k));
  if (missing.length || unknown.length) {
    throw new OptionsError(
      `model files: ${[missing.length && `missing ${missing.join(", ")}`, unknown.length && `unknown ${unknown.join(", ")}`].filter(Boolean).join("; ")}` +
      `; give ${entries.map(([k]) => k).join(", ")}`);
  }
}

/**
 * A model folder: a base URL (files fetched from `{base}/{name}`), or an object giving each file by
 * role (`{ config, weights, tokenizer }`) or by name (`{ "config.json", … }`, as `export()` returns).
 * Returns the bytes of each requested name, keyed by the object key.
 * @param {string|URL|Record<string, any>} source
 * @param {Record<string, string>} names  key -> file name, e.g. { config: "config.json" }
 */
export async function modelFiles(source, names, opts) {
  const entries = Object.entries(names);
  if (typeof source === "string" || source instanceof URL) {
    const base = new URL(String(source).endsWith("/") ? String(source) : `${source}/`, globalThis.location?.href);
    source = Object.fromEntries(entries.map(([key, name]) => [key, new URL(name, base)]));
  }
  if (!source || typeof source !== "object") {
    throw new OptionsError(`model: expected a folder URL or { ${entries.map(([k]) => k).join(", ")} }`);
  }
  source = byRole(source, names);
  checkRoles(source, names);
  const bytes = await Promise.all(entries.map(([key, name]) => bytesOf(source[key], name, opts)));
  return Object.fromEntries(entries.map(([key], i) => [key, bytes[i]]));
}

const FORMATS = ["csv", "tsv", "jsonl", "json", "txt", "conll"];

/** A data source → [bytes, file name]; the name's extension tells the core the format. */
export async function dataFile(src, what, format, signal, where = "finetune") {
  if (format !== undefined && !FORMATS.includes(format)) {
    throw new OptionsError(`${where}: unknown format ${JSON.stringify(format)}; valid formats are ${FORMATS.join(", ")}`);
  }
  if (Array.isArray(src)) {
    return [new TextEncoder().encode(JSON.stringify(src)), `${what}.json`]; // rows as objects
  }
  let name = typeof File !== "undefined" && src instanceof File ? src.name : undefined;
  if (typeof src === "string" || src instanceof URL) {
    name = new URL(src, globalThis.location?.href).pathname.split("/").pop();
  }
  if (format) name = `${what}.${format}`;
  if (!name || !/\.(csv|tsv|jsonl|ndjson|json|txt|conll)$/i.test(name)) {
    throw new OptionsError(`${where}: cannot tell the format of ${what} (${name ?? "bytes without a name"}); pass format: "csv" | "tsv" | "jsonl" | "json" | "txt" | "conll"`);
  }
  return [await bytesOf(src, what, { signal }), name];
}
