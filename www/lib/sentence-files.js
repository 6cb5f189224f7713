// The sentence-transformers files of a model folder besides config.json, model.safetensors and
// tokenizer.json: modules.json and the module configs it names (how the folder pools and
// normalises its embeddings), which SetFit trains with and saves back. Each is optional: a plain
// Hugging Face folder has none (sentence-transformers then pools by mean).
import { downloadBeside, isFileList } from "./hub.js";

/** Top-level files a saved SetFit model carries over from its body's folder. */
const CARRIED = ["config_sentence_transformers.json", "sentence_bert_config.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"];

/** The module configs a `modules.json` names (`1_Pooling/config.json`, …), plus the carried files. */
function namedBy(modulesJson) {
  let list;
  try {
    list = JSON.parse(new TextDecoder().decode(modulesJson));
  } catch {
    return CARRIED; // the core reports the broken modules.json by name
  }
  const paths = (Array.isArray(list) ? list : []).map((m) => m?.path).filter((p) => typeof p === "string" && p && !p.includes(".."));
  return [...paths.map((p) => `${p}/config.json`), ...CARRIED];
}

/**
 * From a hub id or folder URL (`configUrl`: its config.json's): each file through the cache, those
 * the server does not have (404) left out. Any other failure is an error: pooling as a plain
 * folder would silently give other embeddings.
 */
async function atUrl(configUrl, ctx) {
  const get = (name) => downloadBeside(configUrl, name, ctx);
  const modules = await get("modules.json");
  if (!modules) return {};
  const found = await Promise.all(namedBy(modules).map(async (name) => [name, await get(name)]));
  return Object.fromEntries([["modules.json", modules], ...found.filter(([, bytes]) => bytes)]);
}

/** Picked files by their path inside the picked folder (`webkitRelativePath`), else their name. */
export function byPathInFolder(files) {
  return new Map(Array.from(files, (f) => [(f.webkitRelativePath || f.name).split("/").slice(f.webkitRelativePath ? 1 : 0).join("/"), f]));
}

/** From picked files: named by their path inside the picked folder. */
async function picked(files) {
  const byPath = byPathInFolder(files);
  const modules = byPath.get("modules.json");
  if (!modules) return {};
  const bytes = new Uint8Array(await modules.arrayBuffer());
  const found = await Promise.all(namedBy(bytes).filter((n) => byPath.has(n)).map(async (n) => [n, new Uint8Array(await byPath.get(n).arrayBuffer())]));
  return Object.fromEntries([["modules.json", bytes], ...found]);
}

/**
 * The sentence-transformers files of a pipeline's `model` argument (`sources`: its files by role,
 * as `resolveModel` resolved them): `{ name: Uint8Array }`, empty when it has none. A hub id or a
 * folder URL is asked for them (`ctx`: `{ name, settings, onProgress?, signal? }`, as
 * `downloadBeside` takes it); files given one by one name no folder, so only those given count.
 */
export async function sentenceFiles(model, sources, ctx) {
  if (isFileList(model)) return picked(model);
  if (isFolderSource(model)) return atUrl(sources.config, ctx);
  return filesNamedIn(model);
}

/** Whether a pipeline's `model` argument names a folder on a server: a hub id or a folder URL. */
export function isFolderSource(model) {
  return typeof model === "string" || model instanceof URL;
}

/** The sentence-transformers files in an object of files by name (what `export()` gives). */
export function filesNamedIn(files) {
  if (!files || typeof files !== "object" || !(files["modules.json"] instanceof Uint8Array)) return {};
  const names = ["modules.json", ...namedBy(files["modules.json"])];
  return Object.fromEntries(names.filter((n) => files[n] instanceof Uint8Array).map((n) => [n, files[n]]));
}

/** A saved SetFit folder's head and its labels: not part of the body a training run starts from. */
const SETFIT_HEAD = ["model_head.pkl", "config_setfit.json"];

/**
 * `files` less its sentence-transformers files (and a saved SetFit folder's head): the folder as
 * a plain Hugging Face model.
 */
export function withoutSentenceFiles(files) {
  const named = filesNamedIn(files);
  const head = files && typeof files === "object" ? SETFIT_HEAD.filter((n) => Object.hasOwn(files, n)) : [];
  if (!Object.keys(named).length && !head.length) return files;
  return Object.fromEntries(Object.entries(files).filter(([name]) => !Object.hasOwn(named, name) && !head.includes(name)));
}
