// The demo's live line charts (uPlot): one x (the step) and a few series, points added as they
// come, redrawn at the card's width whenever that changes (phone rotation, resizing).
import uPlot from "/vendor/uplot/uPlot.esm.js";

const observers = new WeakMap(); // element → the ResizeObserver of the chart drawn in it

/** Y-axis tick labels that stay readable for small values (a learning rate of 5e-5 is not "0"). */
const ticks = (u, splits) => splits.map((v) => (v === 0 ? "0" : Math.abs(v) < 0.01 ? v.toExponential(0) : String(+v.toPrecision(3))));

/** Steps are whole numbers: the x axis ticks at 1, 2, 5, 10, … steps apart, never at 2.2. */
const STEP_INCREMENTS = [1, 2, 5].flatMap((m) => [1, 10, 100, 1000, 10000, 100000].map((p) => m * p)).sort((a, b) => a - b);

/**
 * A fresh chart in `el` titled `title` with `series` ([{ label, stroke, points? }]);
 * `plot(step, i, value)` sets series `i`'s value at `step`.
 */
export function lineChart(el, title, series, { height = 220 } = {}) {
  el.replaceChildren();
  const width = () => Math.min(el.clientWidth || 640, 800);
  const chart = new uPlot({
    width: width(), height, title,
    scales: { x: { time: false } },
    legend: { live: false }, // the series' names only: an idle live legend just says "--"
    axes: [{ label: "step", incrs: STEP_INCREMENTS }, { label: title, values: ticks }],
    series: [{ label: "step" }, ...series.map((s) => ({ width: 2, spanGaps: true, ...s }))],
  }, [[], ...series.map(() => [])], el);
  observers.get(el)?.disconnect(); // the previous run's chart is gone
  const resizing = new ResizeObserver(() => chart.setSize({ width: width(), height }));
  resizing.observe(el);
  observers.set(el, resizing);
  const values = new Map(); // step → one value per series (null where not measured)
  return {
    plot(step, i, value) {
      const row = values.get(step) ?? series.map(() => null);
      row[i] = value;
      values.set(step, row);
      const steps = [...values.keys()].sort((a, b) => a - b);
      chart.setData([steps, ...series.map((_, k) => steps.map((x) => values.get(x)[k]))]);
    },
  };
}

/** Training loss per step (0) and validation loss where measured (1). */
export const lossChart = (el) => lineChart(el, "loss", [
  { label: "training loss", stroke: "#2b6cb0" },
  { label: "validation loss", stroke: "#c05621", points: { size: 7 } },
]);
