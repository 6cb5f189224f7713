// Where a model's files come from: a Hugging Face hub id, a folder URL, files the user picked, or
// one source per file — and getting their bytes (downloads go through the cache, with progress).
import { OptionsError } from "./errors.js";
import { byRole, bytesOf, checkRoles } from "./files.js";
import { download } from "./download.js";

/** "org/name" (optionally "org/name@revision"): a hub id. Paths must start with "/", "./", "../" or a scheme. */
const HUB_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+(@[\w./-]+)?$/;

/**
 * The source of each file: `{ id, sources: { role: URL string | File | Blob | bytes } }`.
 * @param {any} model  "org/name", a folder URL or path, a FileList / File[] (e.g. from
 *   `<input webkitdirectory>` or a drop), or `{ role: source }` naming each file.
 * @param {Record<string, string>} names  role -> file name, e.g. `{ config: "config.json" }`
 * @param {{remoteHost: string, revision: string, allowRemoteModels: boolean}} settings  env
 */
export function resolveModel(model, names, settings) {
  const roles = Object.entries(names);
  const urls = (base) => Object.fromEntries(roles.map(([role, name]) => [role, new URL(name, base).href]));
  if (typeof model === "string" && HUB_ID.test(model)) {
    if (!settings.allowRemoteModels) {
      throw new OptionsError(`model "${model}" is a hub id but env.allowRemoteModels is false; give a folder URL ("/models/…", "https://…") or the files`);
    }
    const [repo, revision = settings.revision] = model.split("@");
    const host = new URL(settings.remoteHost.replace(/\/*$/, "/"), globalThis.location?.href);
    return { id: model, sources: urls(new URL(`${repo}/resolve/${encodeURIComponent(revision)}/`, host)) };
  }
  if (typeof model === "string" || model instanceof URL) {
    const s = String(model);
    return { id: s, sources: urls(new URL(s.endsWith("/") ? s : `${s}/`, globalThis.location?.href)) };
  }
  if (isFileList(model)) {
    const files = Array.from(model);
    const byName = new Map(files.map((f) => [f.name, f]));
    const missing = roles.filter(([, name]) => !byName.has(name)).map(([, name]) => name);
    if (missing.length) {
      throw new OptionsError(`the picked files lack ${missing.join(", ")}; pick the model folder with ${roles.map(([, n]) => n).join(", ")}`);
    }
    return { id: "picked files", sources: Object.fromEntries(roles.map(([role, name]) => [role, byName.get(name)])) };
  }
  if (model && typeof model === "object") {
    const sources = byRole(model, names); // { config, … } or { "config.json", … } (what export() gives)
    checkRoles(sources, names);
    return { id: "files", sources };
  }
  throw new OptionsError(`model: expected a hub id ("org/name"), a folder URL, picked files or { ${roles.map(([r]) => r).join(", ")} }, got ${model === null ? "null" : typeof model}`);
}

/** Whether `x` is picked files: a FileList, or a non-empty array of Files. */
export function isFileList(x) {
  if (typeof FileList !== "undefined" && x instanceof FileList) return true;
  return Array.isArray(x) && x.length > 0 && x.every((f) => typeof File !== "undefined" && f instanceof File);
}

/**
 * The bytes of every file of a resolved model, by role. URLs are downloaded through the cache
 * with progress events; files and bytes are read directly (still reported as `done`).
 */
export async function fetchModel({ id, sources }, names, { settings, onProgress, signal }) {
  const fetchOne = async ([role, src]) => {
    const file = names[role];
    if (typeof src === "string" || src instanceof URL) {
      return [role, await download(String(src), { name: id, file, useCache: settings.useCache, cacheName: settings.cacheName, onProgress, signal })];
    }
    const bytes = await bytesOf(src, file, { signal });
    onProgress?.({ status: "done", name: id, file, loaded: bytes.length, total: bytes.length, fromCache: false });
    return [role, bytes];
  };
  // config.json first: a wrong id or URL then fails on it, always the same way and before any big
  // download starts; the other files come in parallel.
  const all = Object.entries(sources);
  const first = all.filter(([role]) => role === "config");
  const entries = [...await Promise.all(first.map(fetchOne)), ...await Promise.all(all.filter(([role]) => role !== "config").map(fetchOne))];
  return Object.fromEntries(entries);
}

/**
 * A file beside config.json at a hub id or folder URL (`configUrl`) that the folder may not have:
 * its bytes through the cache, or null when the server has no such file (that absence is cached
 * too). `ctx`: `{ name, settings, onProgress?, signal? }`.
 */
export function downloadBeside(configUrl, file, { name, settings, onProgress, signal }) {
  return download(new URL(file, configUrl).href, { name, file, useCache: settings.useCache, cacheName: settings.cacheName, optional: true, onProgress, signal });
}
