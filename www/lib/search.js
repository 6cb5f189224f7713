// Hyperparameter search: the trials of a search space (grid or seeded random, within a budget),
// and which trial's metric is best. The trials themselves run in worker-ops.js, one after another.
import { OptionsError } from "./errors.js";

/** The settings a search may vary, and the training option each sets. */
export const SEARCHABLE = ["learningRate", "epochs", "batchSize", "loraRank"];
const LOWER_IS_BETTER = ["loss", "perplexity"];

/** Every combination of `space`'s values, in key order (the last key varies fastest). */
function grid(space) {
  return Object.entries(space).reduce(
    (combos, [key, values]) => combos.flatMap((c) => values.map((v) => ({ ...c, [key]: v }))),
    [{}],
  );
}

/** A small seeded generator (mulberry32), so a random search picks the same trials for a seed. */
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The trials to run: the grid's combinations (the first `trials` of them with a budget), or
 * `trials` different combinations drawn at random (seeded) with `strategy: "random"`.
 */
export function searchTrials(space, { strategy = "grid", trials, seed = 0 } = {}) {
  if (space == null || typeof space !== "object" || Array.isArray(space) || !Object.keys(space).length) {
    throw new OptionsError(`search: space must map settings to lists of values, e.g. { learningRate: [1e-4, 5e-5], epochs: [2, 3] }; searchable settings are ${SEARCHABLE.join(", ")}`);
  }
  for (const [key, values] of Object.entries(space)) {
    if (!SEARCHABLE.includes(key)) throw new OptionsError(`search: ${JSON.stringify(key)} cannot be searched; searchable settings are ${SEARCHABLE.join(", ")}`);
    if (!Array.isArray(values) || !values.length || !values.every((v) => typeof v === "number" && Number.isFinite(v) && v > 0)) {
      throw new OptionsError(`search: space.${key} must be a non-empty list of positive numbers`);
    }
  }
  if (!["grid", "random"].includes(strategy)) throw new OptionsError(`search: strategy must be "grid" or "random", got ${JSON.stringify(strategy)}`);
  if (trials !== undefined && !(Number.isInteger(trials) && trials > 0)) throw new OptionsError("search: trials must be a whole number above 0 (the budget)");
  const all = grid(space);
  if (strategy === "grid") return all.slice(0, trials ?? all.length);
  const draw = random(seed);
  const pool = [...all];
  const picked = [];
  while (picked.length < Math.min(trials ?? pool.length, all.length)) picked.push(pool.splice(Math.floor(draw() * pool.length), 1)[0]);
  return picked;
}

/** Whether `value` beats `best` for `metric` (`mode` "min" / "max" overrides the metric's own direction). */
export function better(value, best, metric, mode) {
  if (best == null) return true;
  const lower = mode ? mode === "min" : LOWER_IS_BETTER.includes(metric);
  return lower ? value < best : value > best;
}
