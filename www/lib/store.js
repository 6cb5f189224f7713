// What webtune keeps in the browser's private storage (OPFS, or IndexedDB where the browser has
// no OPFS; see storage.js and env.storage), under `webtune/`:
//   runs/{name}/setup.json            the task, load and training options of a named fine-tuning run
//   runs/{name}/base/{file}           the model files the run started from
//   runs/{name}/data/{file}           its training (and validation) data, as bytes
//   runs/{name}/checkpoint-{step}/    its latest checkpoint (HF Trainer layout)
//   runs/{name}/latest.json           which checkpoint is complete: { step, dir, updated }
//   models/{name}/{file}              models saved with `save({ name })`
// A checkpoint is written to a new folder and only then named in latest.json (one write), so a
// reload mid-write still finds the previous one intact: the core's protocol (src/session/runs.rs),
// run in webtune's Worker. Saved models are kept here, in pages and workers alike (both stores are
// shared by the whole origin).
import { call, core } from "./core.js";
import { OptionsError } from "./errors.js";
import { storage } from "./storage.js";

const NAME = /^[\w.-]{1,100}$/;

/** Refuses a run or model name that cannot be a folder name (as the core's `check_name`). */
export function checkName(what, name) {
  if (typeof name !== "string" || !NAME.test(name) || name === "." || name === "..") {
    throw new OptionsError(`${what} name must be 1-100 letters, digits, "_", "-" or "." (got ${JSON.stringify(name)})`);
  }
  return name;
}

/** Every file directly in folder `path`, as { name: bytes }. */
async function readAll(store, path, prefix = "") {
  const out = {};
  for (const { name, kind } of await store.list(path)) {
    if (kind === "file") out[prefix + name] = await store.read([...path, name]);
    else Object.assign(out, await readAll(store, [...path, name], `${prefix}${name}/`)); // a SetFit folder's 1_Pooling/config.json
  }
  return out;
}

// Stored runs: the protocol is the core's (src/session/runs.rs, the same the CLI's checkpoints
// follow), over this module's storage; these run in webtune's Worker, where the core is loaded.

/** Starts (or restarts) run `name`: its setup, base model files and data files. */
export async function createRun(name, { setup, base, data }) {
  const store = storage();
  return call(() => core.runCreate(store, name, setup, base, data));
}

/** Stores a checkpoint of run `name` (files by name), then drops the one it replaces. */
export async function writeCheckpoint(name, files) {
  const store = storage();
  return call(() => core.runWriteCheckpoint(store, name, files));
}

/** Marks run `name` finished (resume() then has nothing to do). */
export async function finishRun(name, done) {
  const store = storage();
  return call(() => core.runFinish(store, name, done ?? null));
}

/** Everything needed to resume run `name`: setup, base files, data files, checkpoint files. */
export async function readRun(name) {
  const store = storage();
  return call(() => core.runRead(store, checkName("run", name)));
}

/** `[{ name, step, updated, finished }]` of the stored runs. */
export async function listRuns() {
  const store = storage();
  return call(() => core.runList(store));
}

/** Deletes run `name`; resolves to whether it existed. */
export async function removeRun(name) {
  const store = storage();
  return call(() => core.runRemove(store, checkName("run", name)));
}

/** `describe(store, name)` of each folder under webtune/{kind}, sorted by name. */
async function listFolders(kind, describe) {
  const store = storage();
  const out = [];
  for (const { name, kind: k } of await store.list([kind])) if (k === "directory") out.push(await describe(store, name));
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** Stores model files under models/{name}. */
export async function saveModel(name, files) {
  const store = storage();
  await store.remove(["models", name]);
  for (const [file, bytes] of Object.entries(files)) await store.write(["models", name, ...file.split("/")], bytes);
}

/** `[{ name, bytes }]` of the saved models. */
export function listModels() {
  return listFolders("models", async (store, name) => {
    let bytes = 0;
    for (const f of await store.list(["models", name])) if (f.kind === "file") bytes += await store.size(["models", name, f.name]);
    return { name, bytes };
  });
}

/** The files of saved model `name`, as `File`s (pass them to pipeline({ model }) or offer them for download). */
export async function modelFiles(name) {
  const store = storage();
  const dir = ["models", checkName("model", name)];
  const files = await readAll(store, dir);
  if (!Object.keys(files).length) throw new OptionsError(`there is no saved model named ${JSON.stringify(name)}; models.list() shows the saved ones`);
  return Object.entries(files).map(([file, bytes]) => new File([bytes], file));
}

/** Deletes saved model `name`; resolves to whether it existed. */
export async function removeModel(name) {
  return storage().remove(["models", checkName("model", name)]);
}
