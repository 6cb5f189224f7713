// The encoder-task panel's views: a file's preview (entities coloured in their sentence, the answer
// marked in its context, texts), a run's results (entity precision/recall/F1 per type and the
// entity confusion; SQuAD exact match and F1; masked-LM perplexity before and after), and the
// playground's outputs. Everything a file or a model says is shown as text, never markup.
import { $, cell, confusionTable, countBars } from "./ui.js";

const pct = (x) => `${(100 * x).toFixed(1)} %`;
/** A stable colour class per entity type: the first types get distinct hues. */
const kinds = new Map();
const kindClass = (kind) => {
  if (!kinds.has(kind)) kinds.set(kind, `kind-${kinds.size % 6}`);
  return kinds.get(kind);
};

/** A word run marked as an entity of `kind`, its type written after it. */
function entity(text, kind, score) {
  const mark = cell("mark", text, `entity ${kindClass(kind)}`);
  mark.append(cell("span", score == null ? kind : `${kind} ${pct(score)}`, "kind"));
  return mark;
}

/** One sentence of words with its entities (word ranges, end exclusive) marked. */
function sentence(words, entities) {
  const p = cell("p", "", "sentence");
  let at = 0;
  for (const e of entities) {
    if (e.start > at) p.append(words.slice(at, e.start).join(" ") + " ");
    p.append(entity(words.slice(e.start, e.end).join(" "), e.label), " ");
    at = e.end;
  }
  p.append(words.slice(at).join(" "));
  return p;
}

/** A context with its answer part marked, and the question above it. */
function question(q) {
  const box = cell("div", "", "qa");
  box.append(cell("p", `Q: ${q.question}`, "question"));
  const p = cell("p", "", "context");
  for (const part of q.context) p.append(part.answer ? cell("mark", part.text, "answer") : part.text);
  if (q.answers.length === 0) p.append(cell("span", " (no answer: unanswerable)", "note"));
  box.append(p);
  return box;
}

/** Shows what `inspectData(file, { task })` said of the file `name`. */
export function showPreview(summary, name) {
  const view = $("tk-data-preview");
  const n = (x, one, many) => `${x} ${x === 1 ? one : many}`;
  if (summary.kind === "entities") {
    $("tk-data-summary").textContent = `${name}: ${n(summary.sentences, "sentence", "sentences")}, ${summary.words} words, ` +
      `${n(summary.tags.length, "tag", "tags")} · entities per type:`;
    view.replaceChildren(...summary.preview.map((s) => sentence(s.words, s.entities)));
    countBars($("tk-data-counts"), summary.entityCounts, kindClass);
  } else if (summary.kind === "questions") {
    $("tk-data-summary").textContent = `${name}: ${n(summary.questions, "question", "questions")} on ${n(summary.contexts, "text", "texts")}` +
      (summary.unanswerable ? `, ${summary.unanswerable} unanswerable` : "") + " · the answers, marked in their text:";
    view.replaceChildren(...summary.preview.map(question));
    $("tk-data-counts").replaceChildren();
  } else {
    $("tk-data-summary").textContent = `${name}: ${n(summary.texts, "text", "texts")}, the longest ${summary.longest} characters · the first:`;
    view.replaceChildren(...summary.preview.map((t) => cell("p", t, "sentence")));
    $("tk-data-counts").replaceChildren();
  }
  $("tk-data-warnings").replaceChildren(...summary.warnings.map((w) => cell("li", w)));
  $("tk-data").hidden = false;
}

/** A table of `rows` (arrays of cell texts) under `head`. */
function table(el, head, rows) {
  const tr = document.createElement("tr");
  tr.append(...head.map((h) => cell("th", h)));
  el.tHead.replaceChildren(tr);
  el.tBodies[0].replaceChildren(...rows.map((r) => {
    const row = document.createElement("tr");
    row.append(...r.map((v) => cell("td", v)));
    return row;
  }));
}

/** The entity confusion: true type per row, predicted per column ("O": no entity on those words). */
function confusion(labels, matrix) {
  confusionTable($("tk-confusion"), labels, matrix, (i, j, n) => {
    if (labels[i] === "O" && labels[j] === "O") return { text: "–", title: null }; // no entity on either side: not counted
    const who = labels[i] === "O" ? "predicted entities with no true entity on their words" : `true ${labels[i]} entities`;
    return { text: String(n), title: `${n} ${who}, predicted ${labels[j] === "O" ? "as no entity (or with other bounds)" : labels[j]}` };
  });
  $("tk-confusion").hidden = false;
}

/** Shows a run's last validation `metrics` of `task` at `step`; fill-mask adds the whole file's `before` and `after` training. */
export function showResults(task, metrics, { step, before, after } = {}) {
  $("tk-confusion").hidden = true;
  if (task === "token-classification") {
    $("tk-results-title").textContent = `Validation at step ${step}: entity F1 ${pct(metrics.f1)} (precision ${pct(metrics.precision)}, recall ${pct(metrics.recall)}) on ${metrics.examples} sentences`;
    table($("tk-metrics"), ["type", "precision", "recall", "F1", "entities"],
      metrics.per_type.map((t) => [t.kind, pct(t.precision), pct(t.recall), pct(t.f1), String(t.support)]));
    confusion(metrics.confusion_labels, metrics.confusion);
  } else if (task === "question-answering") {
    $("tk-results-title").textContent = `Validation at step ${step}: exact match ${metrics.exact_match.toFixed(1)}, F1 ${metrics.f1.toFixed(1)} on ${metrics.examples} questions`;
    const rows = [["all questions", metrics.exact_match.toFixed(1), metrics.f1.toFixed(1), String(metrics.examples)]];
    if (metrics.has_answer) rows.push(["answerable", metrics.has_answer.exact_match.toFixed(1), metrics.has_answer.f1.toFixed(1), String(metrics.has_answer.total)]);
    if (metrics.no_answer) rows.push(["unanswerable", metrics.no_answer.exact_match.toFixed(1), metrics.no_answer.f1.toFixed(1), String(metrics.no_answer.total)]);
    table($("tk-metrics"), ["questions", "exact match", "F1", "count"], rows);
  } else {
    // `before`/`after`: the whole file (its training texts too); `metrics`: the held-out share
    const whole = before && after ? `on your file ${before.perplexity.toFixed(1)} before training → ${after.perplexity.toFixed(1)} after; ` : "";
    $("tk-results-title").textContent = `Masked-LM perplexity ${whole}on the held-out texts ${metrics.perplexity.toFixed(1)} at step ${step}`;
    const rows = [];
    if (before) rows.push(["whole file, before", before.loss.toFixed(4), before.perplexity.toFixed(1)]);
    if (after) rows.push(["whole file, after", after.loss.toFixed(4), after.perplexity.toFixed(1)]);
    rows.push([`held-out, step ${step}`, metrics.loss.toFixed(4), metrics.perplexity.toFixed(1)]);
    table($("tk-metrics"), ["texts", "MLM loss", "perplexity"], rows);
  }
  $("tk-results").hidden = false;
}

/** The playground's entities in `text` (offsets into the JS string). */
export function showEntities(text, entities) {
  const p = cell("p", "", "sentence");
  let at = 0;
  for (const e of entities) {
    p.append(text.slice(at, e.start), entity(text.slice(e.start, e.end), e.entity_group ?? e.entity, e.score));
    at = e.end;
  }
  p.append(text.slice(at));
  $("tk-play-out").replaceChildren(p, cell("p", entities.length ? "" : "No entities found.", "note"));
}

/** The playground's answer, marked in its context. */
export function showAnswer(context, a) {
  const p = cell("p", "", "context");
  p.append(context.slice(0, a.start), cell("mark", context.slice(a.start, a.end), "answer"), context.slice(a.end));
  $("tk-play-out").replaceChildren(cell("p", `Answer: "${a.answer}" (score ${pct(a.score)})`), p);
}

/** The playground's candidates for a mask. */
export function showFills(fills) {
  const list = cell("ol", "", "fills");
  list.append(...fills.map((f) => cell("li", `${f.token_str} — ${pct(f.score)}: ${f.sequence}`)));
  $("tk-play-out").replaceChildren(list);
}
