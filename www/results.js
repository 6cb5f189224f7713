// The fine-tune panel's results: per-class precision/recall/F1 and the confusion matrix (rows =
// true class, columns = predicted) of an evaluation, drawn as tables; counts shaded by share; and
// the validation examples the model gets wrong (texts shown as text, never markup).
import { $, cell, confusionTable } from "./ui.js";

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
  confusionTable($("ft-confusion"), labels, metrics.confusion_matrix, (i, j, n) => ({
    text: String(n),
    title: `${n} of ${metrics.confusion_matrix[i].reduce((x, y) => x + y, 0)} "${labels[i]}" examples predicted "${labels[j]}"`,
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
