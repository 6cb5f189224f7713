// The wasm memory of webtune's Worker, read from the benchmark page's workers (playwright's
// `page.on("worker")`); wasm memory only grows, so this is the high-water mark.

/** Bytes of webtune's Worker's wasm memory, or null when no webtune Worker is running. */
export async function webtuneWorkerMemory(workers) {
  for (const w of workers) {
    const bytes = await w.evaluate(async () => {
      if (!self.name?.startsWith?.("webtune")) return null;
      const { loadCore } = await import("/pkg/core.js");
      return (await loadCore()).memory.buffer.byteLength;
    }).catch(() => null);
    if (bytes != null) return bytes;
  }
  return null;
}
