// Helpers every panel of the demo uses.

/** The element with this id. */
export const $ = (id) => document.getElementById(id);

/** Shows an API error (its stable `name` and message) in the page's error box. */
export function showError(err) {
  $("error").hidden = false;
  $("error").textContent = `${err.name}: ${err.message}`;
}

/** A new `tag` element showing `text` as text (never markup), with an optional class. */
export function cell(tag, text, className) {
  const el = document.createElement(tag);
  el.textContent = text;
  if (className) el.className = className;
  return el;
}
