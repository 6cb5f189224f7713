// The fine-tune panel's results: per-class precision/recall/F1 and the confusion matrix (rows =
// true class, columns = predicted) of an evaluation, drawn as tables; counts shaded by share; and
// the validation examples the model gets wrong (texts shown as text, never markup).
import { $, cell } from "./ui.js";

const pct = (x) => `${(100 * x).toFixed(1)} %`;

/** Shows `metrics` (an `eval` event's classification metrics). */
export function showResults(metrics, step) {
  const labels = metrics.per_class.map((c) => c.label);
  $("ft-results-title").textContent = `Validation at step ${step}: accuracy ${pct(metrics.accuracy)}, macro-F1 ${pct(metrics.macro_f1)} on ${metrics.examples} examples`;
  const perClass = $("ft-per-class");
  perClass.tBodies[0].replaceChildren(...metrics.per_class.map((c) => {
    const tr = document.createElement("tr");
    tr.append(cell("td", c.label), cell("td", pct(c.precision)), cell("td", pct(c.recall)), cell("td", pct(c.f1)), cell("td", String(c.support)));
    return tr;
  }));
  const confusion = $("ft-confusion");
  const head = document.createElement("tr");
  head.append(cell("th", "true \\ predicted"), ...labels.map((l) => cell("th", l)));
  confusion.tHead.replaceChildren(head);
  confusion.tBodies[0].replaceChildren(...metrics.confusion_matrix.map((row, i) => {
    const total = row.reduce((a, b) => a + b, 0) || 1;
    const tr = document.createElement("tr");
    tr.append(cell("th", labels[i]));
    for (const [j, n] of row.entries()) {
      const td = cell("td", String(n), `${i === j ? "hit" : n ? "miss" : ""}${n / total > 0.5 ? " strong" : ""}`);
      td.style.setProperty("--share", String(n / total));
      td.title = `${n} of ${total} "${labels[i]}" examples predicted "${labels[j]}"`;
      tr.append(td);
    }
    return tr;
  }));
  const wrong = metrics.mistakes ?? [];
  $("ft-mistakes-title").textContent = wrong.length
    ? `Validation examples it gets wrong (${wrong.length}${wrong.length === 50 ? ", the first 50" : ""})`
    : "It gets every validation example right.";
  $("ft-mistakes").tBodies[0].replaceChildren(...wrong.map((m) => {
    const tr = document.createElement("tr");
    tr.append(cell("td", m.pair ? `${m.text} / ${m.pair}` : m.text), cell("td", m.label), cell("td", `${m.predicted} (${pct(m.score)})`), cell("td", m.origin));
    return tr;
  }));
  $("ft-mistakes").hidden = wrong.length === 0;
  $("ft-results").hidden = false;
}
