// What webtune keeps in the browser's private storage (OPFS, or IndexedDB where the browser has
// no OPFS; see storage.js and env.storage), under `webtune/`:
//   runs/{name}/setup.json            the task, load and training options of a named fine-tuning run
//   runs/{name}/base/{file}           the model files the run started from
//   runs/{name}/data/{file}           its training (and validation) data, as bytes
//   runs/{name}/checkpoint-{step}/    its latest checkpoint (HF Trainer layout)
//   runs/{name}/latest.json           which checkpoint is complete: { step, dir, updated }
//   models/{name}/{file}              models saved with `save({ name })`
// A checkpoint is written to a new folder and only then named in latest.json (one write), so a
// reload mid-write still finds the previous one intact. Works in pages and workers alike (both
// stores are shared by the whole origin).
import { OptionsError } from "./errors.js";
import { storage } from "./storage.js";

const NAME = /^[\w.-]{1,100}$/;

export function checkName(what, name) {
  if (typeof name !== "string" || !NAME.test(name)) {
    throw new OptionsError(`${what} name must be 1-100 letters, digits, "_", "-" or "." (got ${JSON.stringify(name)})`);
  }
  return name;
}

/** Every file directly in folder `path`, as { name: bytes }. */
async function readAll(store, path) {
  const out = {};
  for (const { name, kind } of await store.list(path)) if (kind === "file") out[name] = await store.read([...path, name]);
  return out;
}

/** Whether folder `path` holds anything (a folder exists in IndexedDB only through its files). */
const exists = async (store, path) => (await store.list(path)).length > 0;

const json = (x) => new TextEncoder().encode(JSON.stringify(x, null, 1));
const parse = (bytes) => JSON.parse(new TextDecoder().decode(bytes));

/** Starts (or restarts) run `name`: its setup, base model files and data files. */
export async function createRun(name, { setup, base, data }) {
  const store = storage();
  await store.remove(["runs", name]);
  for (const [file, bytes] of Object.entries(base)) await store.write(["runs", name, "base", file], bytes);
  for (const [file, bytes] of Object.entries(data)) await store.write(["runs", name, "data", file], bytes);
  await store.write(["runs", name, "setup.json"], json(setup));
}

/** Stores a checkpoint of run `name` (files by name), then drops the one it replaces. */
export async function writeCheckpoint(name, files) {
  const store = storage();
  if (!(await exists(store, ["runs", name]))) throw new OptionsError(`run ${name} is not in storage (deleted while training?)`);
  const step = parse(files["trainer_state.json"]).step;
  const dir = `checkpoint-${step}`;
  for (const [file, bytes] of Object.entries(files)) await store.write(["runs", name, dir, file], bytes);
  const previous = await latest(store, name);
  await store.write(["runs", name, "latest.json"], json({ step, dir, updated: new Date().toISOString() }));
  if (previous && previous.dir !== dir) await store.remove(["runs", name, previous.dir]);
}

/** Marks run `name` finished (resume() then has nothing to do). */
export async function finishRun(name, done) {
  const store = storage();
  if (await exists(store, ["runs", name])) await store.write(["runs", name, "done.json"], json(done));
}

async function latest(store, run) {
  try {
    return parse(await store.read(["runs", run, "latest.json"]));
  } catch {
    return null;
  }
}

/** Everything needed to resume run `name`: setup, base files, data files, checkpoint files. */
export async function readRun(name) {
  const store = storage();
  const run = ["runs", checkName("run", name)];
  if (!(await exists(store, run))) throw new OptionsError(`there is no stored run named ${JSON.stringify(name)}; runs.list() shows the stored ones`);
  const last = await latest(store, name);
  if (!last) throw new OptionsError(`run ${JSON.stringify(name)} has no complete checkpoint yet; start it again with finetune({ run, checkpointEvery })`);
  return {
    setup: parse(await store.read([...run, "setup.json"])),
    base: await readAll(store, [...run, "base"]),
    data: await readAll(store, [...run, "data"]),
    checkpoint: await readAll(store, [...run, last.dir]),
  };
}

/** `describe(store, name)` of each folder under webtune/{kind}, sorted by name. */
async function listFolders(kind, describe) {
  const store = storage();
  const out = [];
  for (const { name, kind: k } of await store.list([kind])) if (k === "directory") out.push(await describe(store, name));
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** `[{ name, step, updated, finished }]` of the stored runs. */
export function listRuns() {
  return listFolders("runs", async (store, name) => {
    const last = await latest(store, name);
    const finished = (await store.list(["runs", name])).some((f) => f.name === "done.json");
    return { name, step: last?.step ?? 0, updated: last?.updated ?? null, finished };
  });
}

/** Stores model files under models/{name}. */
export async function saveModel(name, files) {
  const store = storage();
  await store.remove(["models", name]);
  for (const [file, bytes] of Object.entries(files)) await store.write(["models", name, file], bytes);
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

/** Deletes run or model `name` (kind "runs" | "models"); resolves to whether it existed. */
export async function remove(kind, name) {
  return storage().remove([kind, checkName(kind === "runs" ? "run" : "model", name)]);
}
