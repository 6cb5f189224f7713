// What webtune keeps in the origin private file system (OPFS), under `webtune/`:
//   runs/{name}/setup.json            the task, load and training options of a named fine-tuning run
//   runs/{name}/base/{file}           the model files the run started from
//   runs/{name}/data/{file}           its training (and validation) data, as bytes
//   runs/{name}/checkpoint-{step}/    its latest checkpoint (HF Trainer layout)
//   runs/{name}/latest.json           which checkpoint is complete: { step, dir, updated }
//   models/{name}/{file}              models saved with `save({ name })`
// A checkpoint is written to a new folder and only then named in latest.json (replaced in one
// step when its writer closes), so a reload mid-write still finds the previous one intact.
// Works in pages and workers alike (OPFS is shared by the whole origin).
import { OptionsError } from "./errors.js";

const NAME = /^[\w.-]{1,100}$/;

async function root() {
  if (!globalThis.navigator?.storage?.getDirectory) {
    throw new OptionsError("this browser has no origin private file system (OPFS), so runs and models cannot be stored; use onCheckpoint / save() to keep the files yourself");
  }
  return (await navigator.storage.getDirectory()).getDirectoryHandle("webtune", { create: true });
}

/** The folder `path` (an array of names) under webtune/, created on demand, or null when missing. */
async function folder(path, create = false) {
  let dir = await root();
  for (const name of path) {
    try {
      dir = await dir.getDirectoryHandle(name, { create });
    } catch (err) {
      if (err.name === "NotFoundError" || err.name === "TypeMismatchError") return null;
      throw err;
    }
  }
  return dir;
}

export function checkName(what, name) {
  if (typeof name !== "string" || !NAME.test(name)) {
    throw new OptionsError(`${what} name must be 1-100 letters, digits, "_", "-" or "." (got ${JSON.stringify(name)})`);
  }
  return name;
}

async function writeFile(dir, name, data) {
  const w = await (await dir.getFileHandle(name, { create: true })).createWritable();
  await w.write(data);
  await w.close();
}

async function readFile(dir, name) {
  return new Uint8Array(await (await (await dir.getFileHandle(name)).getFile()).arrayBuffer());
}

async function readAll(dir) {
  const out = {};
  for await (const [name, handle] of dir.entries()) {
    if (handle.kind === "file") out[name] = new Uint8Array(await (await handle.getFile()).arrayBuffer());
  }
  return out;
}

const json = (x) => new TextEncoder().encode(JSON.stringify(x, null, 1));
const parse = (bytes) => JSON.parse(new TextDecoder().decode(bytes));

/** Starts (or restarts) run `name`: its setup, base model files and data files. */
export async function createRun(name, { setup, base, data }) {
  const runs = await folder(["runs"], true);
  await runs.removeEntry(name, { recursive: true }).catch(() => {});
  const run = await runs.getDirectoryHandle(name, { create: true });
  const baseDir = await run.getDirectoryHandle("base", { create: true });
  for (const [file, bytes] of Object.entries(base)) await writeFile(baseDir, file, bytes);
  const dataDir = await run.getDirectoryHandle("data", { create: true });
  for (const [file, bytes] of Object.entries(data)) await writeFile(dataDir, file, bytes);
  await writeFile(run, "setup.json", json(setup));
}

/** Stores a checkpoint of run `name` (files by name), then drops the one it replaces. */
export async function writeCheckpoint(name, files) {
  const run = await folder(["runs", name]);
  if (!run) throw new OptionsError(`run ${name} is not in storage (deleted while training?)`);
  const step = parse(files["trainer_state.json"]).step;
  const dir = `checkpoint-${step}`;
  const target = await run.getDirectoryHandle(dir, { create: true });
  for (const [file, bytes] of Object.entries(files)) await writeFile(target, file, bytes);
  const previous = await latest(run);
  await writeFile(run, "latest.json", json({ step, dir, updated: new Date().toISOString() }));
  if (previous && previous.dir !== dir) await run.removeEntry(previous.dir, { recursive: true }).catch(() => {});
}

/** Marks run `name` finished (resume() then has nothing to do). */
export async function finishRun(name, done) {
  const run = await folder(["runs", name]);
  if (run) await writeFile(run, "done.json", json(done));
}

async function latest(run) {
  try {
    return parse(await readFile(run, "latest.json"));
  } catch {
    return null;
  }
}

/** Everything needed to resume run `name`: setup, base files, data files, checkpoint files. */
export async function readRun(name) {
  const run = await folder(["runs", checkName("run", name)]);
  if (!run) throw new OptionsError(`there is no stored run named ${JSON.stringify(name)}; runs.list() shows the stored ones`);
  const last = await latest(run);
  if (!last) throw new OptionsError(`run ${JSON.stringify(name)} has no complete checkpoint yet; start it again with finetune({ run, checkpointEvery })`);
  return {
    setup: parse(await readFile(run, "setup.json")),
    base: await readAll(await run.getDirectoryHandle("base")),
    data: await readAll(await run.getDirectoryHandle("data")),
    checkpoint: await readAll(await run.getDirectoryHandle(last.dir)),
  };
}

/** `describe(name, handle)` of each folder under webtune/{kind}, sorted by name. */
async function listFolders(kind, describe) {
  const dir = await folder([kind]);
  const out = [];
  for await (const [name, handle] of dir?.entries() ?? []) {
    if (handle.kind === "directory") out.push(await describe(name, handle));
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** `[{ name, step, updated, finished }]` of the stored runs. */
export function listRuns() {
  return listFolders("runs", async (name, run) => {
    const last = await latest(run);
    const finished = await run.getFileHandle("done.json").then(() => true, () => false);
    return { name, step: last?.step ?? 0, updated: last?.updated ?? null, finished };
  });
}

/** Stores model files under models/{name}. */
export async function saveModel(name, files) {
  const models = await folder(["models"], true);
  await models.removeEntry(name, { recursive: true }).catch(() => {});
  const dir = await models.getDirectoryHandle(name, { create: true });
  for (const [file, bytes] of Object.entries(files)) await writeFile(dir, file, bytes);
}

/** `[{ name, bytes }]` of the saved models. */
export function listModels() {
  return listFolders("models", async (name, dir) => {
    let bytes = 0;
    for await (const [, f] of dir.entries()) if (f.kind === "file") bytes += (await f.getFile()).size;
    return { name, bytes };
  });
}

/** The files of saved model `name`, as `File`s (pass them to pipeline({ model }) or offer them for download). */
export async function modelFiles(name) {
  const dir = await folder(["models", checkName("model", name)]);
  if (!dir) throw new OptionsError(`there is no saved model named ${JSON.stringify(name)}; models.list() shows the saved ones`);
  const out = [];
  for await (const [file, handle] of dir.entries()) if (handle.kind === "file") out.push(await handle.getFile());
  return out;
}

/** Deletes run or model `name` (kind "runs" | "models"); resolves to whether it existed. */
export async function remove(kind, name) {
  const dir = await folder([kind]);
  if (!dir) return false;
  return dir.removeEntry(checkName(kind === "runs" ? "run" : "model", name), { recursive: true }).then(() => true, () => false);
}
