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

/** Fills `list` (a <ul>) with a bar per `{ label, count }`, scaled to the largest; `nameClass(label)` styles the name. */
export function countBars(list, items, nameClass = () => "") {
  const largest = Math.max(1, ...items.map((c) => c.count));
  list.replaceChildren(...items.map(({ label, count }) => {
    const li = document.createElement("li");
    const bar = cell("span", "", "bar");
    bar.style.setProperty("--share", `${(100 * count) / largest}%`);
    li.append(cell("span", label, `name ${nameClass(label)}`.trim()), bar, cell("span", String(count), "count"));
    return li;
  }));
}

/**
 * Draws a confusion matrix in table `el` (rows: true, columns: predicted), each cell shaded by
 * its share of the row; `cellInfo(i, j, n)` gives a cell's `{ text, title }` (`null` title: a
 * cell that counts nothing, left unshaded).
 */
export function confusionTable(el, labels, matrix, cellInfo) {
  const head = document.createElement("tr");
  head.append(cell("th", "true \\ predicted"), ...labels.map((l) => cell("th", l)));
  el.tHead.replaceChildren(head);
  el.tBodies[0].replaceChildren(...matrix.map((row, i) => {
    const total = row.reduce((a, b) => a + b, 0) || 1;
    const tr = document.createElement("tr");
    tr.append(cell("th", labels[i]));
    for (const [j, n] of row.entries()) {
      const { text, title } = cellInfo(i, j, n);
      const td = cell("td", text, title == null ? "" : `${i === j ? "hit" : n ? "miss" : ""}${n / total > 0.5 ? " strong" : ""}`);
      td.style.setProperty("--share", String(n / total));
      if (title != null) td.title = title;
      tr.append(td);
    }
    return tr;
  }));
}
