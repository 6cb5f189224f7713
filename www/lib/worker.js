// webtune's Worker: runs every pipeline operation (worker-ops.js) off the page's thread. Messages in:
// `{ id, op, args, settings }` or `{ id, abort: true }`; out: `{ id, event }`, `{ id, checkpoint }`,
// then `{ id, result }` or `{ id, error: { name, message, info? } }`.
import { env } from "./env.js";
import { internalMessage } from "./errors.js";
import { ops } from "./worker-ops.js";

const controllers = new Map();

self.onmessage = async ({ data }) => {
  const { id } = data;
  if (data.abort) {
    controllers.get(id)?.abort();
    return;
  }
  const controller = new AbortController();
  controllers.set(id, controller);
  try {
    Object.assign(env, data.settings);
    const op = ops[data.op];
    if (!op) throw new Error(`unknown operation ${data.op}`);
    const result = await op(data.args, {
      settings: data.settings,
      signal: controller.signal,
      emit: (event) => self.postMessage({ id, event }),
      checkpoint: (files) => self.postMessage({ id, checkpoint: files }),
    });
    self.postMessage({ id, result });
  } catch (err) {
    // A trap (a Rust panic) leaves the wasm instance unusable: the client replaces this Worker.
    const trapped = err instanceof WebAssembly.RuntimeError || err?.cause instanceof WebAssembly.RuntimeError;
    const error = trapped
      ? { name: "InternalError", message: internalMessage(`running ${data.op}`, err.cause ?? err) }
      : { name: err?.name ?? "BackendError", message: err?.message ?? String(err) };
    if (err?.info) error.info = err.info;
    self.postMessage({ id, error });
  } finally {
    controllers.delete(id);
  }
};
