// The fine-tune panel's data preview: what webtune.inspectData() says of the chosen file (or the
// sample) — rows, the first few of them, the guessed text and label columns (filled into the
// column fields, which stay editable), label counts and warnings. Cells are shown as text.
import * as webtune from "/pkg/index.js";
import { $, cell, countBars } from "./ui.js";

const PREVIEW_ROWS = 5;

/** Below this many rows per class on average, the panel proposes SetFit (BENCHMARKS.md "fewshot"). */
export const FEW_ROWS_PER_CLASS = 50;

/** The data file the method was last proposed for: a person's own choice then stays until the data changes. */
let proposedFor = null;

/** Shows `summary` (a DataSummary) for a file called `name` (`key`: which file it is). */
function show(summary, name, key) {
  $("ft-data-summary").textContent = `${name}: ${summary.rows} rows, columns ${summary.columns.join(", ")}` +
    (summary.label ? ` · label column "${summary.label}", ${summary.labelCounts.length} classes` : "");
  const head = document.createElement("tr");
  head.append(...summary.columns.map((c) => {
    const role = c === summary.text ? "text" : c === summary.label ? "label" : null;
    const th = cell("th", c, role ? "role" : "");
    if (role && role !== c) th.append(cell("span", ` (${role})`, "role-name")); // say it when the name does not
    return th;
  }));
  const rows = summary.preview.map((r) => {
    const tr = document.createElement("tr");
    tr.append(...r.map((v) => cell("td", v ?? "")));
    return tr;
  });
  $("ft-data-table").tHead.replaceChildren(head);
  $("ft-data-table").tBodies[0].replaceChildren(...rows);
  countBars($("ft-data-counts"), summary.labelCounts.slice(0, 20));
  $("ft-data-warnings").replaceChildren(...summary.warnings.map((w) => cell("li", w)));
  $("ft-data-augmented").hidden = !summary.augmented.length;
  $("ft-data-augmented").querySelector("ul").replaceChildren(...summary.augmented.map((a) => {
    const li = document.createElement("li");
    li.append(cell("span", a.original, "original"), cell("span", " → ", "arrow"), cell("span", a.augmented, "augmented-text"));
    return li;
  }));
  if (summary.text) $("ft-text").value = summary.text;
  if (summary.label) $("ft-label").value = summary.label;
  if (key !== proposedFor) {
    proposedFor = key;
    proposeMethod(summary.labelCounts);
  }
  $("ft-data").hidden = false;
}

/** With few rows per class, switches the method to SetFit and says why; with many, to fine-tuning. */
function proposeMethod(counts) {
  const why = $("ft-method-why");
  if (counts.length < 2) {
    why.hidden = true;
    return;
  }
  const perClass = counts.reduce((n, c) => n + c.count, 0) / counts.length;
  const few = perClass < FEW_ROWS_PER_CLASS;
  setMethod(few ? "setfit" : "finetune");
  why.hidden = !few;
  why.textContent = few
    ? `About ${Math.round(perClass)} rows per class: SetFit is proposed. It trains the model on pairs of your rows (same class or not), which teaches more from a few rows than fine-tuning a new head does: with 8 to 32 rows per class of a sentiment set it scored 5 to 15 points higher. With more than ${FEW_ROWS_PER_CLASS} per class, fine-tuning is proposed.`
    : "";
}

/** The augmentation the panel asks for (`finetune`'s `augment`), or undefined. */
export function augmentOptions() {
  const ops = $("ft-augment").value;
  return ops && $("ft-method").value !== "setfit" ? { ops: ops.split(","), rate: 0.1, copies: 1 } : undefined;
}

/** Sets the method field and the settings that go with it (setfit's defaults: 1 epoch, learning rate 2e-5). */
export function setMethod(method) {
  if ($("ft-method").value === method && $("ft-method").dataset.applied === method) return;
  $("ft-method").value = method;
  $("ft-method").dataset.applied = method;
  $("ft-epochs").value = method === "setfit" ? "1" : "3";
  $("ft-lr").value = method === "setfit" ? "0.00002" : "0.0001";
  $("ft-ckpt").disabled = method === "setfit"; // a SetFit run is short and not resumed
  $("ft-augment").disabled = method === "setfit"; // SetFit learns from pairs of the rows as they are
}

/** Inspects `file` and shows the result; errors go next to the data field. */
export async function preview(file) {
  $("ft-data-error").hidden = true;
  try {
    const augment = augmentOptions();
    const summary = await webtune.inspectData(file, { maxLength: Number($("ft-maxlen").value), previewRows: PREVIEW_ROWS, ...(augment && { augment }) });
    show(summary, file.name, `${file.name}:${file.size}:${file.lastModified}`);
  } catch (err) {
    $("ft-data").hidden = true;
    $("ft-data-error").hidden = false;
    $("ft-data-error").textContent = `${err.name}: ${err.message}`;
  }
}
