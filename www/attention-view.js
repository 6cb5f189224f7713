// The playground's attention view: for the sentence just classified, a heatmap of one layer's and
// head's attention weights over its tokens (rows: the token looking, columns: the token looked
// at), layer and head selectable. UI only, on the pipeline's public `attentions(text)`.
import { $, cell } from "./ui.js";

let current = null; // { tokens, layers, heads, weights } of the last sentence

function option(value, text) {
  const o = cell("option", text);
  o.value = String(value);
  return o;
}

function draw() {
  if (!current) return;
  const layer = Number($("ft-layer").value), head = Number($("ft-head").value);
  const rows = current.weights[layer][head];
  const thead = document.createElement("tr");
  thead.append(cell("th", ""), ...current.tokens.map((t) => cell("th", t, "key")));
  const body = rows.map((row, q) => {
    const tr = document.createElement("tr");
    tr.append(cell("th", current.tokens[q]));
    tr.append(...row.map((w, k) => {
      const td = cell("td", "");
      td.style.setProperty("--w", w.toFixed(3)); // CSSOM: allowed under the page's style-src 'self'
      td.title = `${current.tokens[q]} → ${current.tokens[k]}: ${w.toFixed(3)}`;
      return td;
    }));
    return tr;
  });
  $("ft-attention").replaceChildren(document.createElement("thead"), document.createElement("tbody"));
  $("ft-attention").tHead.append(thead);
  $("ft-attention").tBodies[0].append(...body);
}

/** Shows `model`'s attention for `text` (layer and head kept when the shape allows). */
export async function showAttention(model, text) {
  const layer = Number($("ft-layer").value || 0), head = Number($("ft-head").value || 0);
  current = await model.attentions(text);
  $("ft-layer").replaceChildren(...Array.from({ length: current.layers }, (_, i) => option(i, `layer ${i + 1}`)));
  $("ft-head").replaceChildren(...Array.from({ length: current.heads }, (_, i) => option(i, `head ${i + 1}`)));
  $("ft-layer").value = String(Math.min(layer, current.layers - 1));
  $("ft-head").value = String(Math.min(head, current.heads - 1));
  $("ft-attention-box").hidden = false;
  draw();
}

$("ft-layer").addEventListener("change", draw);
$("ft-head").addEventListener("change", draw);
