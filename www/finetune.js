// The demo's fine-tuning panel: UI only, on the public JS API (a text-classification pipeline, run
// in webtune's Worker so this page stays responsive: finetune → classify / save).
import * as webtune from "/pkg/index.js";
import { $, cell, downloadZip, showError, size } from "./ui.js";
import { augmentOptions, preview, setMethod } from "./data-preview.js";
import { showResults } from "./results.js";
import { showAttention } from "./attention-view.js";
import { initMyModels, refreshMyModels } from "./my-models.js";
import { lineChart, lossChart } from "./loss-chart.js";
import { rerank, setupLabelling, withLabelled } from "./labelling.js";

let controller = null;
let model = null; // the pipeline
let fromRun = false; // whether `model` came from a fine-tuning run (its recipe can be downloaded)

/** The user's file, or the sample shipped with the demo (www/samples/, written for webtune, CC0). */
async function dataFile() {
  const picked = $("ft-file").files[0];
  if (picked) return picked;
  const res = await fetch("samples/support-tickets.csv");
  if (!res.ok) throw new webtune.NetworkError(`sample data: samples/support-tickets.csv answered HTTP ${res.status}; pick a data file instead`);
  return new File([await res.blob()], "support-tickets.csv", { type: "text/csv" });
}

function addEval(e) {
  const tr = document.createElement("tr");
  const m = e.metrics;
  tr.append(...[e.step, m.accuracy.toFixed(4), m.macro_f1.toFixed(4), (m.loss ?? NaN).toFixed(4)].map((v) => cell("td", String(v))));
  if (e.isBest) tr.className = "ok";
  $("ft-evals").tBodies[0].append(tr);
}

/** The panel's stored run: checkpoints go to the browser's storage, so a run cut short (Stop, a reload, a crash) can be resumed. */
const RUN = "studio-classifier";

/** Clears the panel for a run and returns the handler that shows its events. */
function startRun() {
  $("error").hidden = true;
  $("ft-resume-box").hidden = true;
  $("ft-start").disabled = true;
  $("ft-stop").disabled = false;
  $("ft-try").hidden = true;
  $("ft-evals").tBodies[0].replaceChildren();
  $("ft-results").hidden = true;
  $("ft-memory").textContent = "";
  $("ft-live").hidden = false;
  model?.dispose();
  model = null;
  controller = new AbortController();
  const { plot } = lossChart($("ft-chart"));
  const metrics = lineChart($("ft-metric-chart"), "validation", [
    { label: "accuracy", stroke: "#2f855a", points: { size: 7 } },
    { label: "macro F1", stroke: "#6b46c1", points: { size: 7 } },
  ], { height: 180 });
  const rate = lineChart($("ft-lr-chart"), "learning rate", [{ label: "learning rate", stroke: "#718096" }], { height: 160 });
  const onEvent = (e) => {
    if (e.type === "start") {
      $("ft-progress").max = e.totalSteps;
      $("ft-status").textContent = `training on ${e.device.kind}: ${e.trainExamples} examples, ${e.validationExamples} for validation, labels ${e.labels.join(", ")}`;
      const m = e.memory;
      $("ft-memory").textContent = `This run holds about ${size(m.totalBytes)} on the device: weights ${size(m.weightBytes)}, gradients ${size(m.gradientBytes)}, ` +
        `optimizer state ${size(m.optimizerBytes)}, activations ${size(m.activationBytes)} (largest single tensor: ${m.largestTensor}, ${size(m.largestTensorBytes)}).`;
    } else if (e.type === "step") {
      plot(e.step, 0, e.loss);
      rate.plot(e.step, 0, e.learningRate);
      $("ft-progress").value = e.step;
      const left = Math.round(((e.totalSteps - e.step) * e.stepMs) / 1000);
      $("ft-status").textContent = `step ${e.step}/${e.totalSteps} · loss ${e.loss.toFixed(4)} · ${e.tokensPerSecond.toFixed(0)} tokens/s · about ${left} s left`;
    } else if (e.type === "eval") {
      addEval(e);
      if (e.metrics.loss != null) plot(e.step, 1, e.metrics.loss);
      metrics.plot(e.step, 0, e.metrics.accuracy);
      metrics.plot(e.step, 1, e.metrics.macro_f1);
      if (e.metrics.per_class) showResults(e.metrics, e.step);
    } else if (e.type === "skipped_step") {
      $("ft-status").textContent = `warning: ${e.message}`;
    } else if (e.type === "done") {
      $("ft-status").textContent = `done: ${e.steps} steps in ${e.seconds.toFixed(0)} s (${e.stopReason})` +
        (e.best ? `, best ${e.best.metric} ${e.best.value.toFixed(4)} at step ${e.best.step}` : "");
    }
  };
  return onEvent;
}

/** The model in the field, loaded into webtune's Worker. */
function loadClassifier() {
  return webtune.pipeline("text-classification", {
    model: $("ft-model").value,
    device: $("device-choice").value,
    onProgress: (e) => {
      if (e.status === "progress" && !e.fromCache) $("ft-status").textContent = `downloading ${e.file}: ${(e.loaded / 1e6).toFixed(1)} MB`;
    },
  });
}

/** The options every run of the panel shares: the data, its columns and the fields' settings. */
async function runOptions() {
  return {
    data: await withLabelled(await dataFile(), columns()),
    columns: columns(),
    validationSplit: Number($("ft-split").value),
    epochs: Number($("ft-epochs").value), batchSize: Number($("ft-batch").value),
    learningRate: Number($("ft-lr").value), maxLength: Number($("ft-maxlen").value),
    warmupRatio: 0.1, logEvery: 5, signal: controller.signal,
    ...(augmentOptions() && { augment: augmentOptions() }),
  };
}

/** The text and label columns the panel names. */
const columns = () => ({ text: $("ft-text").value, label: $("ft-label").value });

/** Whether the run trains with SetFit (not stored: a SetFit run is short and not resumed). */
const setfit = () => $("ft-method").value === "setfit";

async function train() {
  const onEvent = startRun();
  try {
    model = await loadClassifier();
    fromRun = true;
    const options = { ...(await runOptions()), onEvent };
    await model.finetune(setfit() ? { ...options, method: "setfit", logEvery: 1 } : { ...options, run: RUN, checkpointEvery: Number($("ft-ckpt").value) });
  } catch (err) {
    // aborted or diverged: the pipeline keeps what was trained so far
    if (err.name !== "AbortError") showError(err);
  } finally {
    endRun();
  }
}

function endRun() {
  $("ft-start").disabled = false;
  $("ft-stop").disabled = true;
  $("ft-try").hidden = !model;
  $("ft-recipe-row").hidden = !fromRun; // a search's or a reopened model has no single run to write
  offerResume();
  if (model) rerank(model, showError); // the pool, by the new model's doubts
}

/** The comma-separated numbers of field `id`. */
const numbers = (id) => $(id).value.split(",").map((x) => Number(x.trim())).filter((x) => Number.isFinite(x) && x > 0);

/** The trials so far as table rows, sorted by `sortBy` ("index" or "value"), the best marked. */
let trialRows = { trials: [], best: null, sortBy: "index" };
function showTrials() {
  const { trials, best, sortBy } = trialRows;
  const sorted = [...trials].sort((a, b) => (sortBy === "value" ? b.value - a.value : a.index - b.index));
  $("ft-search-table").tBodies[0].replaceChildren(...sorted.map((t) => {
    const tr = document.createElement("tr");
    tr.append(cell("td", String(t.index + 1)), cell("td", String(t.settings.learningRate ?? $("ft-lr").value)),
      cell("td", String(t.settings.epochs ?? $("ft-epochs").value)), cell("td", String(t.settings.batchSize ?? $("ft-batch").value)),
      cell("td", t.value.toFixed(4)),
      cell("td", t.index === best ? "best" : ""));
    if (t.index === best) tr.className = "ok";
    return tr;
  }));
  $("ft-search-table").hidden = trials.length === 0;
}

/** Trains once per combination of the search fields and keeps the best by validation macro-F1. */
async function search() {
  startRun();
  $("ft-live").hidden = true; // trials restart their steps: the trials table is the search's chart
  trialRows = { trials: [], best: null, sortBy: trialRows.sortBy };
  showTrials();
  const bestEvals = new Map(); // trial → its best evaluation, to show the kept model's results
  try {
    model = await loadClassifier();
    fromRun = false;
    const batches = numbers("ft-search-batch");
    const space = { learningRate: numbers("ft-search-lr"), epochs: numbers("ft-search-epochs"), ...(batches.length ? { batchSize: batches } : {}) };
    const budget = Number($("ft-search-trials").value);
    // an empty list keeps the run's value: it multiplies the grid by one
    const n = Math.min(budget, Object.values(space).reduce((product, values) => product * Math.max(values.length, 1), 1));
    const result = await model.search({
      ...(await runOptions()), metric: "macro_f1", space, trials: budget,
      onEvent: (e) => {
        if (e.type === "trial") {
          trialRows.trials.push(e);
          showTrials();
        } else if (e.type === "step") {
          $("ft-progress").max = e.totalSteps;
          $("ft-progress").value = e.step;
          $("ft-status").textContent = `trial ${e.trial + 1} of ${n}: step ${e.step}/${e.totalSteps} · loss ${e.loss.toFixed(4)}`;
        } else if (e.type === "eval" && e.isBest) {
          bestEvals.set(e.trial, e);
        }
      },
    });
    trialRows.best = result.best.index;
    showTrials();
    const kept = bestEvals.get(result.best.index);
    if (kept) showResults(kept.metrics, kept.step);
    $("ft-status").textContent = `search done: ${result.trials.length} trials; the best (trial ${result.best.index + 1}, macro-F1 ${result.best.value.toFixed(4)}) is the model to try and save`;
  } catch (err) {
    if (err.name !== "AbortError") showError(err);
  } finally {
    endRun();
  }
}

/** Continues the stored run from its last checkpoint, with the same data and settings. */
async function resume() {
  const onEvent = startRun();
  try {
    const { pipeline, done } = await webtune.runs.resume(RUN, { device: $("device-choice").value, onEvent, signal: controller.signal });
    model = pipeline;
    fromRun = true;
    if (done) onEvent(done);
  } catch (err) {
    if (err.name !== "AbortError") showError(err);
  } finally {
    endRun();
  }
}

/** Offers to resume the panel's stored run when it was cut short after a checkpoint. */
async function offerResume() {
  try {
    const run = (await webtune.runs.list()).find((r) => r.name === RUN);
    const open = run && !run.finished && run.step > 0;
    $("ft-resume-box").hidden = !open;
    if (open) {
      $("ft-resume-text").textContent = `A fine-tuning run was cut short at step ${run.step}` +
        (run.updated ? ` (${new Date(run.updated).toLocaleString()})` : "") + ". Continue it from there:";
    }
  } catch (err) {
    showError(err);
  }
}

async function discard() {
  await webtune.runs.delete(RUN).catch(showError);
  offerResume();
}

async function classify() {
  try {
    const text = $("ft-text-in").value;
    const scores = await model(text);
    $("ft-pred").textContent = scores.map((s) => `${s.label} ${(s.score * 100).toFixed(1)} %`).join(" · ");
    await showAttention(model, text);
  } catch (err) {
    showError(err);
  }
}

/** One zip of the model's files. */
async function download() {
  try {
    await downloadZip(await model.save(), "webtune-classifier.zip");
  } catch (err) {
    showError(err);
  }
}

/** The last run as a transformers Trainer + PEFT folder, to run on GPUs (its README says how). */
async function downloadRecipe() {
  try {
    await downloadZip(await model.save({ format: "recipe" }), "webtune-recipe.zip");
  } catch (err) {
    showError(err);
  }
}

/** Keeps the model in this browser under the name in the field; it then shows in My models. */
async function keep() {
  try {
    const name = $("ft-save-name").value.trim();
    await model.save({ name });
    $("ft-saved").textContent = `saved as "${name}": it stays in this browser after a reload (My models)`;
    refreshMyModels();
  } catch (err) {
    showError(err);
  }
}

$("ft-start").addEventListener("click", train);
$("ft-resume").addEventListener("click", resume);
$("ft-search").addEventListener("click", search);
for (const b of document.querySelectorAll("#ft-search-table button.sort")) {
  b.addEventListener("click", () => {
    trialRows.sortBy = b.dataset.key;
    showTrials();
  });
}
$("ft-discard").addEventListener("click", discard);
offerResume();
$("ft-save").addEventListener("click", keep);
initMyModels((reopened, name) => {
  model?.dispose();
  model = reopened;
  fromRun = false;
  $("ft-recipe-row").hidden = true;
  $("ft-try").hidden = false;
  $("ft-saved").textContent = `opened "${name}"`;
});
$("ft-file").addEventListener("change", async () => preview(await dataFile()));
$("ft-method").addEventListener("change", () => {
  setMethod($("ft-method").value);
  $("ft-method-why").hidden = true; // the person chose: the proposal's reasons are done
});
$("ft-augment").addEventListener("change", async () => preview(await dataFile()));
setupLabelling({ model: () => model, columns, retrain: () => $("ft-start").click(), onError: showError });
dataFile().then(preview, showError); // the sample, until a file is picked
$("ft-stop").addEventListener("click", () => controller?.abort());
$("ft-classify").addEventListener("click", classify);
$("ft-download").addEventListener("click", download);
$("ft-recipe").addEventListener("click", downloadRecipe);
