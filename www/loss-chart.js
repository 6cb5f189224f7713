// The demo's live loss chart (uPlot): training loss per step and validation loss where measured,
// redrawn at its card's width whenever that changes (phone rotation, resizing).
import uPlot from "/vendor/uplot/uPlot.esm.js";

const observers = new WeakMap(); // element → the ResizeObserver of the chart drawn in it

/** A fresh chart in `el`; `plot(step, 0 | 1, value)` adds a training (0) or validation (1) loss. */
export function lossChart(el) {
  el.replaceChildren();
  const width = () => Math.min(el.clientWidth || 640, 800);
  const chart = new uPlot({
    width: width(), height: 220, title: "loss",
    scales: { x: { time: false } },
    legend: { live: false }, // the series' names only: an idle live legend just says "--"
    axes: [{ label: "step" }, { label: "loss" }],
    series: [
      { label: "step" },
      { label: "training loss", stroke: "#2b6cb0", width: 2, spanGaps: true },
      { label: "validation loss", stroke: "#c05621", width: 2, spanGaps: true, points: { size: 7 } },
    ],
  }, [[], [], []], el);
  observers.get(el)?.disconnect(); // the previous run's chart is gone
  const resizing = new ResizeObserver(() => chart.setSize({ width: width(), height: 220 }));
  resizing.observe(el);
  observers.set(el, resizing);
  const losses = new Map(); // step → [training loss, validation loss] (null where not measured)
  return {
    plot(step, i, value) {
      const pair = losses.get(step) ?? [null, null];
      pair[i] = value;
      losses.set(step, pair);
      const steps = [...losses.keys()].sort((a, b) => a - b);
      chart.setData([steps, steps.map((x) => losses.get(x)[0]), steps.map((x) => losses.get(x)[1])]);
    },
  };
}
