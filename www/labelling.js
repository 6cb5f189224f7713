// "Label these next" in the fine-tune panel: texts nobody has labelled yet, ranked by how unsure
// the trained model is of them (pipeline.rank); a click labels one, the next run trains on the
// data file plus every row labelled here, and the labelled rows download as CSV.
import { $, cell } from "./ui.js";

/** Rows labelled here, `{ text, label }`, in the order they were labelled. */
const labelled = [];
const SHOWN = 10;

/** A CSV field, quoted when it must be (RFC 4180). */
const csvField = (v) => (/[",\r\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v);

/** The header cells of a CSV/TSV file's first line (quotes honoured). */
function headerCells(line, sep) {
  const cells = [];
  let cur = "", quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') { cur += '"'; i++; } else if (ch === '"') quoted = false; else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === sep) { cells.push(cur); cur = ""; } else cur += ch;
  }
  return [...cells, cur.replace(/\r$/, "")];
}

/**
 * `file` with the rows labelled here appended, in its own format, their text and label in the
 * `columns` the panel names (other columns left empty); `file` itself when there are none.
 */
export async function withLabelled(file, columns) {
  if (!labelled.length) return file;
  const text = await file.text();
  const ext = file.name.split(".").pop().toLowerCase();
  const row = (r) => ({ [columns.text]: r.text, [columns.label]: r.label });
  let out;
  if (ext === "jsonl" || ext === "ndjson") {
    out = `${text.replace(/\s*$/, "\n")}${labelled.map((r) => JSON.stringify(row(r))).join("\n")}\n`;
  } else if (ext === "json") {
    out = JSON.stringify([...JSON.parse(text), ...labelled.map(row)]);
  } else {
    const sep = ext === "tsv" ? "\t" : ",";
    const header = headerCells(text.split("\n", 1)[0], sep);
    const field = sep === "\t" ? (v) => v.replace(/[\t\r\n]+/g, " ") : csvField;
    const lines = labelled.map((r) => header.map((h) => field(h === columns.text ? r.text : h === columns.label ? r.label : "")).join(sep));
    out = `${text.replace(/\s*$/, "\n")}${lines.join("\n")}\n`;
  }
  return new File([out], file.name, { type: file.type });
}

/** The pool's lines not yet labelled. */
function unlabelled() {
  const done = new Set(labelled.map((r) => r.text));
  return [...new Set($("al-pool").value.split("\n").map((l) => l.trim()).filter((l) => l && !done.has(l)))];
}

function showCount() {
  const n = labelled.length;
  $("al-count").textContent = n ? `${n} row${n === 1 ? "" : "s"} labelled here: the next run trains on them too.` : "";
  $("al-retrain").disabled = $("al-download").disabled = !n;
}

/** Ranks the pool with `model` and lists the first rows, each with a button per class. */
async function rank(model, onError) {
  const texts = unlabelled();
  if (!texts.length) {
    $("al-table").tBodies[0].replaceChildren();
    $("al-table").hidden = true;
    $("al-count").textContent = "Paste unlabelled texts above, one per line.";
    return;
  }
  try {
    const ranked = await model.rank(texts, { strategy: $("al-strategy").value });
    $("al-table").tBodies[0].replaceChildren(...ranked.slice(0, SHOWN).map((r) => {
      const tr = document.createElement("tr");
      const buttons = cell("td", "");
      for (const label of model.info.labels) {
        const b = cell("button", label, "label-choice");
        b.type = "button";
        b.addEventListener("click", () => {
          labelled.push({ text: r.text, label });
          tr.remove();
          showCount();
        });
        buttons.append(b);
      }
      tr.append(cell("td", r.text), cell("td", `${r.label} ${(r.probability * 100).toFixed(1)} %`), cell("td", r.score.toFixed(3)), buttons);
      return tr;
    }));
    $("al-table").hidden = false;
    showCount();
  } catch (err) {
    onError(err);
  }
}

/** The labelled rows as a CSV download (text, label). */
function download(columns) {
  const csv = [[columns.text, columns.label], ...labelled.map((r) => [r.text, r.label])].map((cells) => cells.map(csvField).join(",")).join("\n") + "\n";
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([csv], { type: "text/csv" }));
  a.download = "labelled-rows.csv";
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

/** Wires the labelling view: `model()` is the panel's trained pipeline, `columns()` its column names. */
export function setupLabelling({ model, columns, retrain, onError }) {
  $("al-rank").addEventListener("click", () => rank(model(), onError));
  $("al-retrain").addEventListener("click", retrain);
  $("al-download").addEventListener("click", () => download(columns()));
}

/** After a run: rank the pool again (when there is one) with the new model. */
export function rerank(model, onError) {
  if ($("al-pool").value.trim()) return rank(model, onError);
}
