// The demo's panel for the other encoder tasks — named entities, question answering, domain
// adaptation (fill-mask): UI only, on the public JS API (a pipeline per task in webtune's Worker:
// inspectData → finetune → the pipeline call / save).
import * as webtune from "/pkg/index.js";
import { $, downloadZip, showError } from "./ui.js";
import { lossChart } from "./loss-chart.js";
import { showAnswer, showEntities, showFills, showPreview, showResults } from "./task-views.js";

/** Per task: its sample (www/samples/, written for webtune, CC0), the files it reads, a note. */
const TASKS = {
  "token-classification": {
    sample: "shop-entities.conll", accept: ".conll,.txt,.jsonl,.json", label: "Data file (CoNLL: a word and its tag per line; {tokens, tags} or {text, entities} rows)",
    about: "Each word's first token learns its tag (B-/I- tags: IOB2, IOB1 or BIOES); validation reports seqeval's entity precision, recall and F1.",
  },
  "question-answering": {
    sample: "shop-questions.json", accept: ".json,.jsonl", label: "Data file (SQuAD JSON, or {question, context, answers} rows)",
    about: "Long texts are read in overlapping windows; answers come back as spans of the text. Validation reports SQuAD's exact match and F1.",
  },
  "fill-mask": {
    sample: "shop-help.txt", accept: ".txt,.csv,.tsv,.jsonl,.json", label: "Data file (.txt: one text per line; or a text column)",
    about: "Continues the model's masked-LM pretraining on your texts (15 % of tokens masked), so it knows your domain before you fine-tune it for a task. " +
      "all-MiniLM-L6-v2 has no masked-LM head: webtune adds a fresh one, so its first guesses are noise.",
  },
};

let controller = null;
let model = null; // the pipeline of the last run
let modelTask = null;

const task = () => $("tk-task").value;

/** The user's file, or the task's sample. */
async function dataFile() {
  const picked = $("tk-file").files[0];
  if (picked) return picked;
  const { sample } = TASKS[task()];
  const res = await fetch(`samples/${sample}`);
  if (!res.ok) throw new webtune.NetworkError(`sample data: samples/${sample} answered HTTP ${res.status}; pick a data file instead`);
  return new File([await res.blob()], sample);
}

/** What the task's reader makes of the chosen file (or the sample). */
async function preview() {
  $("tk-data-error").hidden = true;
  try {
    const file = await dataFile();
    showPreview(await webtune.inspectData(file, { task: task(), previewRows: 4 }), file.name);
  } catch (err) {
    $("tk-data").hidden = true;
    showError(err, "tk-data-error");
  }
}

/** The panel for the chosen task: its file field, note and playground. */
function chooseTask() {
  const t = TASKS[task()];
  $("tk-file").value = "";
  $("tk-file").accept = t.accept;
  $("tk-file-label").textContent = t.label;
  $("tk-about").textContent = t.about;
  for (const [id, name] of [["tk-play-ner", "token-classification"], ["tk-play-qa", "question-answering"], ["tk-play-mlm", "fill-mask"]]) {
    $(id).hidden = modelTask !== name;
  }
  $("tk-try").hidden = !model || modelTask !== task();
  $("tk-results").hidden = true;
  preview();
}

function setRunning(running) {
  $("tk-start").disabled = running;
  $("tk-stop").disabled = !running;
  $("tk-task").disabled = running;
}

async function train() {
  const name = task();
  $("tk-error").hidden = true;
  $("tk-results").hidden = true;
  $("tk-try").hidden = true;
  $("tk-play-out").replaceChildren();
  setRunning(true);
  model?.dispose();
  model = null;
  controller = new AbortController();
  const { plot } = lossChart($("tk-chart"));
  let last = null; // the last evaluation
  let done = ""; // the done event, said when the results are complete
  try {
    $("tk-status").textContent = "loading the model…";
    model = await webtune.pipeline(name, {
      model: $("tk-model").value,
      device: $("device-choice").value,
      maxLength: Number($("tk-maxlen").value),
      onProgress: (e) => {
        if (e.status === "progress" && !e.fromCache) $("tk-status").textContent = `downloading ${e.file}: ${(e.loaded / 1e6).toFixed(1)} MB`;
      },
    });
    modelTask = name;
    const data = await dataFile();
    const before = name === "fill-mask" ? await model.evaluate(data, { signal: controller.signal }) : null;
    await model.finetune({
      data, validationSplit: Number($("tk-split").value), epochs: Number($("tk-epochs").value), batchSize: Number($("tk-batch").value),
      learningRate: Number($("tk-lr").value), maxLength: Number($("tk-maxlen").value), warmupRatio: 0.1, logEvery: 2, signal: controller.signal,
      onEvent: (e) => {
        if (e.type === "start") {
          $("tk-progress").max = e.totalSteps;
          $("tk-status").textContent = `training on ${e.device.kind}: ${e.trainExamples} examples, ${e.validationExamples} for validation`;
        } else if (e.type === "step") {
          plot(e.step, 0, e.loss);
          $("tk-progress").value = e.step;
          $("tk-status").textContent = `step ${e.step}/${e.totalSteps} · loss ${e.loss.toFixed(4)}`;
        } else if (e.type === "eval") {
          last = e;
          if (e.metrics.loss != null) plot(e.step, 1, e.metrics.loss);
          showResults(name, e.metrics, { step: e.step, before });
        } else if (e.type === "done") {
          done = `done: ${e.steps} steps in ${e.seconds.toFixed(0)} s (${e.stopReason})`;
          $("tk-status").textContent = name === "fill-mask" ? "measuring the perplexity after training…" : done;
        }
      },
    });
    if (last && before) showResults(name, last.metrics, { step: last.step, before, after: await model.evaluate(data) });
    $("tk-status").textContent = done;
  } catch (err) {
    // aborted or diverged: the pipeline keeps what was trained so far
    if (err.name !== "AbortError") showError(err, "tk-error");
  } finally {
    setRunning(false);
    chooseTryIt();
  }
}

/** Shows the playground of the trained model's task. */
function chooseTryIt() {
  for (const [id, name] of [["tk-play-ner", "token-classification"], ["tk-play-qa", "question-answering"], ["tk-play-mlm", "fill-mask"]]) {
    $(id).hidden = modelTask !== name;
  }
  $("tk-recipe").hidden = !model;
  if (modelTask === "fill-mask" && model) {
    const mask = model.info.maskToken;
    $("tk-mask-token").textContent = mask;
    $("tk-mlm-text").value = $("tk-mlm-text").value.replace(/\[MASK\]|<mask>/, mask);
  }
  $("tk-try").hidden = !model;
}

/** Runs the playground's call; its errors go to the panel's error box. */
const tryIt = (run) => async () => {
  $("tk-error").hidden = true;
  try {
    await run();
  } catch (err) {
    showError(err, "tk-error");
  }
};

$("tk-task").addEventListener("change", chooseTask);
$("tk-file").addEventListener("change", preview);
$("tk-start").addEventListener("click", train);
$("tk-stop").addEventListener("click", () => controller?.abort());
$("tk-ner-go").addEventListener("click", tryIt(async () => {
  const text = $("tk-ner-text").value;
  showEntities(text, await model(text, { aggregation: "simple" }));
}));
$("tk-qa-go").addEventListener("click", tryIt(async () => {
  const context = $("tk-qa-context").value;
  showAnswer(context, await model($("tk-qa-question").value, context));
}));
$("tk-mlm-go").addEventListener("click", tryIt(async () => showFills(await model($("tk-mlm-text").value, { topK: 5 }))));
$("tk-download").addEventListener("click", tryIt(async () => downloadZip(await model.save(), `webtune-${modelTask}.zip`)));
$("tk-recipe").addEventListener("click", tryIt(async () => downloadZip(await model.save({ format: "recipe" }), `webtune-${modelTask}-recipe.zip`)));
chooseTask();
