// "My models": models kept in this browser with `save({ name })` (OPFS, or IndexedDB), listed
// after a reload, reopened (a classifier into the playground, a decoder into the chat panel,
// through a "webtune-open-decoder" event on the document), or deleted.
import * as webtune from "/pkg/index.js";
import { $, cell, showError } from "./ui.js";

let open = () => {};

function button(text, onClick) {
  const b = cell("button", text);
  b.type = "button";
  b.addEventListener("click", onClick);
  return b;
}

/** Lists the saved models. */
export async function refreshMyModels() {
  try {
    const saved = await webtune.models.list();
    $("my-models-empty").hidden = saved.length > 0;
    $("my-models-list").replaceChildren(...saved.map(({ name, bytes }) => {
      const li = document.createElement("li");
      li.append(
        cell("span", `${name} (${(bytes / 1e6).toFixed(1)} MB)`),
        button("Open", async () => {
          try {
            const files = await webtune.models.files(name);
            const config = JSON.parse(await files.find((f) => f.name === "config.json").text());
            if (/CausalLM|LMHeadModel/.test(config.architectures?.[0] ?? "")) {
              document.dispatchEvent(new CustomEvent("webtune-open-decoder", { detail: { name } }));
              return;
            }
            const model = await webtune.pipeline("text-classification", { model: files, device: $("device-choice").value });
            open(model, name);
          } catch (err) {
            showError(err, "my-models-error");
          }
        }),
        button("Delete", async () => {
          await webtune.models.delete(name).catch((err) => showError(err, "my-models-error"));
          refreshMyModels();
        }),
      );
      return li;
    }));
  } catch (err) {
    showError(err, "my-models-error");
  }
}

/** `onOpen(pipeline, name)` receives a reopened model. */
export function initMyModels(onOpen) {
  open = onOpen;
  refreshMyModels();
}
