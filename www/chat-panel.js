// The demo's chat panel: UI only, on the public JS API. One text-generation pipeline (in webtune's
// Worker) serves the <webtune-chat> widget and LoRA fine-tuning; before and after training it
// answers the held-out rows (evaluate with generate: true) for a side-by-side comparison.
import * as webtune from "/pkg/index.js";
import "/pkg/chat.js";
import { $, cell, downloadZip, size } from "./ui.js";
import { lossChart } from "./loss-chart.js";
import { refreshMyModels } from "./my-models.js";

const HELD_OUT_EVERY = 6; // every sixth row is held out for the comparison
const COMPARED = 5; // held-out questions answered before and after (SmolLM2 on the CPU: ~6 s each)
let generator = null;
let controller = null;

/** Shows an API error next to the chat panel's controls. */
function fail(err) {
  $("chat-error").hidden = false;
  $("chat-error").textContent = `${err.name}: ${err.message}`;
}

/** The picked chat file or the sample, as rows: [training rows, held-out rows]. */
async function chatRows() {
  const picked = $("chat-file").files[0];
  const text = picked ? await picked.text() : await (await fetch("samples/shop-faq.jsonl")).text();
  const name = picked?.name ?? "shop-faq.jsonl";
  let rows;
  try {
    rows = /\.json$/i.test(name) ? JSON.parse(text) : text.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
  } catch (err) {
    throw new webtune.DataError(`${name} is not valid JSON Lines / JSON (${err.message}); chat data is one JSON object per line`);
  }
  if (!Array.isArray(rows) || rows.length < HELD_OUT_EVERY) {
    throw new webtune.DataError(`${name} has ${Array.isArray(rows) ? rows.length : 0} rows; the panel needs at least ${HELD_OUT_EVERY} (one is held out for the comparison)`);
  }
  const held = rows.filter((_, i) => i % HELD_OUT_EVERY === HELD_OUT_EVERY - 1);
  return [rows.filter((_, i) => i % HELD_OUT_EVERY !== HELD_OUT_EVERY - 1), held];
}

/** A held-out row's question and expected answer, for the comparison table. */
function questionOf(row) {
  if (row.messages) {
    const last = row.messages.findLastIndex((m) => m.role === "assistant");
    return [row.messages.slice(0, last).filter((m) => m.role === "user").at(-1)?.content ?? "", row.messages[last]?.content ?? ""];
  }
  if (row.instruction !== undefined) return [[row.instruction, row.input].filter(Boolean).join("\n\n"), row.output];
  return [row.prompt, row.completion];
}

async function load() {
  $("chat-error").hidden = true;
  $("chat-load").disabled = true;
  $("chat-train").disabled = true;
  try {
    const spec = $("chat-model").value.trim();
    const model = spec.startsWith("saved:") ? await webtune.models.files(spec.slice(6)) : spec;
    generator?.dispose();
    generator = null;
    generator = await webtune.pipeline("text-generation", {
      model, device: $("device-choice").value,
      onProgress: (e) => {
        if (e.status === "progress" && !e.fromCache) $("chat-load-status").textContent = `downloading ${e.file}: ${(e.loaded / 1e6).toFixed(1)} of ${(e.total / 1e6).toFixed(1)} MB`;
      },
    });
    const widget = $("chat-widget");
    widget.systemPrompt = $("chat-system").value;
    widget.greeting = "Ask me something.";
    widget.clear();
    widget.pipeline = generator;
    const d = generator.info.device;
    const info = generator.info;
    const weights = info.weightBytes ? `, weights ${info.weightFormat} (${size(info.weightBytes)})` : "";
    $("chat-load-status").textContent = `loaded on ${d.kind}${d.fallback ? ` (${d.fallback})` : ""}: ${info.numLayers} layers, context ${info.maxLength} tokens${weights}`;
    $("chat-train").disabled = false;
  } catch (err) {
    $("chat-load-status").textContent = "";
    fail(err);
  } finally {
    $("chat-load").disabled = false;
  }
}

/** Perplexity on every held-out row, answers (and their BLEU / ROUGE-L) to the first few. */
async function scoreHeldOut(held, signal) {
  const { perplexity } = await generator.evaluate(held, { signal });
  const answered = await generator.evaluate(held.slice(0, COMPARED), { generate: true, maxNewTokens: Number($("chat-answer-tokens").value), signal });
  return { perplexity, answers: answered.answers, bleu: answered.bleu, rouge_l: answered.rouge_l };
}

async function train() {
  $("chat-error").hidden = true;
  $("chat-train").disabled = true;
  $("chat-load").disabled = true;
  $("chat-stop").disabled = false;
  $("chat-compare").hidden = true;
  controller = new AbortController();
  const { plot } = lossChart($("chat-chart"));
  try {
    const [rows, held] = await chatRows();
    $("chat-status").textContent = `answering ${Math.min(COMPARED, held.length)} held-out questions before training…`;
    const before = await scoreHeldOut(held, controller.signal);
    await generator.finetune({
      data: rows, validation: held, epochs: Number($("chat-epochs").value), batchSize: 8,
      learningRate: Number($("chat-lr").value), warmupRatio: 0.1, maxLength: 256, logEvery: 1,
      lora: { rank: Number($("chat-rank").value) }, signal: controller.signal,
      onEvent: (e) => {
        if (e.type === "start") $("chat-progress").max = e.totalSteps;
        if (e.type === "step") {
          plot(e.step, 0, e.loss);
          $("chat-progress").value = e.step;
          const left = Math.round(((e.totalSteps - e.step) * e.stepMs) / 1000);
          $("chat-status").textContent = `step ${e.step}/${e.totalSteps} · loss ${e.loss.toFixed(3)} · about ${left} s left`;
        }
        if (e.type === "eval") plot(e.step, 1, e.metrics.loss);
      },
    });
    $("chat-status").textContent = "answering the held-out questions again…";
    const after = await scoreHeldOut(held, controller.signal);
    showComparison(held, before, after);
    $("chat-status").textContent = "done: the chat above now answers with the fine-tuned model";
  } catch (err) {
    if (err.name !== "AbortError") fail(err);
    else $("chat-status").textContent = "stopped (the model keeps what it learned so far)";
  } finally {
    $("chat-train").disabled = false;
    $("chat-load").disabled = false;
    $("chat-stop").disabled = true;
  }
}

function showComparison(held, before, after) {
  $("chat-perplexity").textContent =
    `Perplexity on the held-out answers: ${before.perplexity.toFixed(2)} before, ${after.perplexity.toFixed(2)} after ` +
    `(lower is better). On the ${before.answers.length} questions below: ROUGE-L ${before.rouge_l.toFixed(3)} → ${after.rouge_l.toFixed(3)}, ` +
    `BLEU ${before.bleu.toFixed(1)} → ${after.bleu.toFixed(1)} (higher is better).`;
  const rows = held.slice(0, before.answers.length).map((row, i) => {
    const tr = document.createElement("tr");
    const [question, expected] = questionOf(row);
    const cells = [["question", question], ["expected", expected], ["before", before.answers[i]], ["after", after.answers[i]]];
    tr.append(...cells.map(([label, text]) => Object.assign(cell("td", text), { title: label }))); // title: the label narrow screens show
    return tr;
  });
  $("chat-compare-table").tBodies[0].replaceChildren(...rows);
  $("chat-compare").hidden = false;
}

async function keep() {
  try {
    const name = $("chat-save-name").value.trim();
    await generator.save({ name });
    $("chat-saved").textContent = `saved as "${name}": load it later as saved:${name}, or in <webtune-chat model="saved:${name}">`;
    refreshMyModels();
  } catch (err) {
    fail(err);
  }
}

$("chat-load").addEventListener("click", load);
// "Open" on a saved decoder in My models
document.addEventListener("webtune-open-decoder", (e) => {
  $("chat-model").value = `saved:${e.detail.name}`;
  $("chat").scrollIntoView();
  load();
});
$("chat-train").addEventListener("click", train);
$("chat-stop").addEventListener("click", () => controller?.abort());
$("chat-save").addEventListener("click", keep);
// the last run as a transformers Trainer + PEFT folder, to run on GPUs (its README says how)
$("chat-recipe").addEventListener("click", async () => {
  try {
    await downloadZip(await generator.save({ format: "recipe" }), "webtune-chat-recipe.zip");
  } catch (err) {
    fail(err);
  }
});
