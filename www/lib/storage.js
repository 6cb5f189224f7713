// The two places webtune can keep files in the browser, behind one path-based interface (a path
// is an array of names under `webtune/`): the origin private file system (OPFS) where the browser
// has it, else IndexedDB (one object store, keys "runs/name/file"). `env.storage` picks one:
// "auto" (OPFS, else IndexedDB), "opfs" or "indexeddb". Both are private to the origin and never
// leave the device.
//
//   write(path, bytes)   read(path) → Uint8Array (throws NotFound)   size(path) → bytes
//   list(path) → [{ name, kind: "file" | "directory" }] ([] when missing)
//   remove(path) → whether it existed (recursive)
import { env } from "./env.js";
import { OptionsError } from "./errors.js";

const notFound = (path) => Object.assign(new Error(`${path.join("/")} not found`), { name: "NotFoundError" });

const opfs = {
  available: () => typeof globalThis.navigator?.storage?.getDirectory === "function",
  async dir(path, create = false) {
    let dir = await (await navigator.storage.getDirectory()).getDirectoryHandle("webtune", { create: true });
    for (const name of path) {
      try {
        dir = await dir.getDirectoryHandle(name, { create });
      } catch (err) {
        if (err.name === "NotFoundError" || err.name === "TypeMismatchError") return null;
        throw err;
      }
    }
    return dir;
  },
  async file(path) {
    const dir = await this.dir(path.slice(0, -1));
    const handle = await dir?.getFileHandle(path.at(-1)).catch(() => null);
    if (!handle) throw notFound(path);
    return handle.getFile();
  },
  async write(path, bytes) {
    const dir = await this.dir(path.slice(0, -1), true);
    if (!dir) throw notFound(path);
    const w = await (await dir.getFileHandle(path.at(-1), { create: true })).createWritable();
    await w.write(bytes);
    await w.close();
  },
  async read(path) {
    return new Uint8Array(await (await this.file(path)).arrayBuffer());
  },
  async size(path) {
    return (await this.file(path)).size;
  },
  async list(path) {
    const dir = await this.dir(path);
    const out = [];
    for await (const [name, handle] of dir?.entries() ?? []) out.push({ name, kind: handle.kind });
    return out;
  },
  async remove(path) {
    const dir = await this.dir(path.slice(0, -1));
    return dir ? dir.removeEntry(path.at(-1), { recursive: true }).then(() => true, () => false) : false;
  },
};

// IndexedDB: database "webtune", store "files", key = the path joined by "/", value = a Blob (so
// that a size needs no read of the contents). Folders are implied by their files' keys.
function openStore(version) {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open("webtune", version);
    open.onupgradeneeded = () => open.result.createObjectStore("files");
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const db = open.result;
      if (db.objectStoreNames.contains("files")) return resolve(db);
      // a database of that name without our store (made by other code): add the store
      db.close();
      openStore(db.version + 1).then(resolve, reject);
    };
  });
}

const indexeddb = {
  available: () => typeof globalThis.indexedDB?.open === "function",
  db: null,
  async tx(mode, work) {
    this.db ??= await openStore();
    return new Promise((resolve, reject) => {
      const t = this.db.transaction("files", mode);
      const request = work(t.objectStore("files"));
      t.oncomplete = () => resolve(request?.result);
      t.onerror = t.onabort = () => reject(t.error);
    });
  },
  // all keys under `path/` (a key range over the prefix)
  keys(store, path) {
    const prefix = path.length ? path.join("/") + "/" : "";
    return store.getAllKeys(IDBKeyRange.bound(prefix, prefix + "\uffff"));
  },
  async write(path, bytes) {
    await this.tx("readwrite", (s) => s.put(new Blob([bytes]), path.join("/")));
  },
  async blob(path) {
    const value = await this.tx("readonly", (s) => s.get(path.join("/")));
    if (value === undefined) throw notFound(path);
    return value;
  },
  async read(path) {
    return new Uint8Array(await (await this.blob(path)).arrayBuffer());
  },
  async size(path) {
    return (await this.blob(path)).size;
  },
  async list(path) {
    const depth = path.length;
    const seen = new Map();
    for (const key of await this.tx("readonly", (s) => this.keys(s, path))) {
      const parts = key.split("/");
      seen.set(parts[depth], parts.length === depth + 1 ? "file" : "directory");
    }
    return [...seen].map(([name, kind]) => ({ name, kind }));
  },
  async remove(path) {
    let existed = false;
    const key = path.join("/");
    await this.tx("readwrite", (s) => {
      for (const query of [key, IDBKeyRange.bound(key + "/", key + "/\uffff")]) {
        s.count(query).onsuccess = (e) => { existed ||= e.target.result > 0; };
        s.delete(query);
      }
    });
    return existed;
  },
};

/** The storage `env.storage` selects; an OptionsError when the browser has none of it. */
export function storage() {
  const want = env.storage; // one of these three: env refuses any other value
  const choices = { auto: [opfs, indexeddb], opfs: [opfs], indexeddb: [indexeddb] }[want];
  const found = choices.find((s) => s.available());
  if (!found) {
    const what = want === "auto" ? "neither the origin private file system (OPFS) nor IndexedDB" : want === "opfs" ? "no origin private file system (OPFS)" : "no IndexedDB";
    throw new OptionsError(`this browser has ${what}, so runs and models cannot be stored; use onCheckpoint / save() to keep the files yourself${want === "auto" ? "" : ', or set env.storage = "auto"'}`);
  }
  return found;
}
