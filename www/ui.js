// Helpers every panel of the demo uses.

/** The element with this id. */
export const $ = (id) => document.getElementById(id);

/** A byte count as people read it: "97 MB", or "45 kB" below a megabyte. */
export const size = (bytes) => (bytes >= 1e6 ? `${Math.round(bytes / 1e6)} MB` : `${Math.max(1, Math.round(bytes / 1e3))} kB`);

/** Shows an API error (its stable `name` and message) in the error box next to the controls that caused it (`box`: its id; default the fine-tune panel's). */
export function showError(err, box = "error") {
  $(box).hidden = false;
  $(box).textContent = `${err.name}: ${err.message}`;
}

/** A new `tag` element showing `text` as text (never markup), with an optional class. */
export function cell(tag, text, className) {
  const el = document.createElement(tag);
  el.textContent = text;
  if (className) el.className = className;
  return el;
}

/** Offers `files` (name → Blob, as a pipeline's `save()` gives them) as one zip download called `name` (browsers allow one download per click). */
export async function downloadZip(files, name) {
  const { zipSync } = await import("/vendor/fflate/browser.js");
  const entries = {};
  for (const [file, blob] of Object.entries(files)) entries[file] = new Uint8Array(await blob.arrayBuffer());
  // safetensors are incompressible f32: stored, not deflated (instant, same size)
  const zip = zipSync(entries, { level: 0 });
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([zip], { type: "application/zip" }));
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}
