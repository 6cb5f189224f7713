// The sentence-transformers files of a model folder besides config.json, model.safetensors and
// tokenizer.json: modules.json and the module configs it names (how the folder pools and
// normalises its embeddings), which SetFit trains with and saves back. Each is optional: a plain
// Hugging Face folder has none (sentence-transformers then pools by mean).
import { isFileList } from "./hub.js";

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

/** From a folder URL: each file fetched, the missing ones left out. */
async function atUrl(base, signal) {
  const get = async (name) => {
    try {
      const res = await fetch(new URL(name, base), { signal });
      return res.ok ? new Uint8Array(await res.arrayBuffer()) : null;
    } catch (err) {
      if (err?.name === "AbortError") throw err;
      return null;
    }
  };
  const modules = await get("modules.json");
  if (!modules) return {};
  const found = await Promise.all(namedBy(modules).map(async (name) => [name, await get(name)]));
  return Object.fromEntries([["modules.json", modules], ...found.filter(([, bytes]) => bytes)]);
}

/** From picked files: named by their path inside the picked folder (`webkitRelativePath`). */
async function picked(files) {
  const byPath = new Map(Array.from(files, (f) => [(f.webkitRelativePath || f.name).split("/").slice(f.webkitRelativePath ? 1 : 0).join("/"), f]));
  const modules = byPath.get("modules.json");
  if (!modules) return {};
  const bytes = new Uint8Array(await modules.arrayBuffer());
  const found = await Promise.all(namedBy(bytes).filter((n) => byPath.has(n)).map(async (n) => [n, new Uint8Array(await byPath.get(n).arrayBuffer())]));
  return Object.fromEntries([["modules.json", bytes], ...found]);
}

/**
 * The sentence-transformers files of `model` (a resolved pipeline source: `{ id, sources }`, the
 * sources by role) or of the original `model` argument: `{ name: Uint8Array }`, empty when it has none.
 */
export async function sentenceFiles(model, sources, signal) {
  if (isFileList(model)) return picked(model);
  const config = sources?.config;
  if (typeof config === "string" || config instanceof URL) return atUrl(new URL(".", config), signal);
  return filesNamedIn(model);
}

/** The sentence-transformers files in an object of files by name (what `export()` gives). */
export function filesNamedIn(files) {
  if (!files || typeof files !== "object" || !(files["modules.json"] instanceof Uint8Array)) return {};
  const names = ["modules.json", ...namedBy(files["modules.json"])];
  return Object.fromEntries(names.filter((n) => files[n] instanceof Uint8Array).map((n) => [n, files[n]]));
}

/** `files` less its sentence-transformers files: the folder as a plain Hugging Face model. */
export function withoutSentenceFiles(files) {
  const named = filesNamedIn(files);
  if (!Object.keys(named).length) return files;
  return Object.fromEntries(Object.entries(files).filter(([name]) => !Object.hasOwn(named, name)));
}
