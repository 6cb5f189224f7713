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
