"""The active-learning benchmark (BENCHMARKS.md "fewshot", part c): "label these next"
(`webtune rank`, entropy) against random choice, 5 rounds of 32 labels from a 2,000-row SST-2
pool, dev accuracy after each round.

    python tests/reference/bench_active.py --webtune PATH/TO/webtune [--seeds 0,1,2] [--rounds 5] [--batch 32]

For each seed: the pool is 2,000 rows of SST-2 train.tsv (random.Random(seed)); the first round's
32 labels are drawn at random (both strategies start from the same rows); each round fine-tunes
all-MiniLM-L6-v2 from its base on every row labelled so far (`webtune train`, a new head, 10
epochs, batch 8, lr 1e-4 — a few-row recipe: the defaults' 3 epochs of batch 16 leave 32 rows at
chance — no validation), scores it on dev.tsv (`webtune eval`), then picks the next 32:
`webtune rank --strategy entropy --top 32` over the unlabelled rest, or 32 at random. The pool's
gold labels play the person who labels. Prints one JSON line per round, then a markdown table.
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_recipe import MODEL, SST2, read_tsv  # noqa: E402  (all-MiniLM-L6-v2 and SST-2 from the assets)
ENV = {**os.environ, "RAYON_NUM_THREADS": "2"}


def webtune(binary, *args):
    proc = subprocess.run([binary, *args], capture_output=True, text=True, env=ENV)
    if proc.returncode != 0:
        raise SystemExit(f"webtune {args[0]} failed:\n{proc.stderr[-3000:]}")
    return [json.loads(l) for l in proc.stdout.splitlines() if l.strip().startswith("{")]


def train_and_score(binary, rows, seed, work):
    data = work / "labelled.tsv"
    data.write_text("sentence\tlabel\n" + "".join(f"{s}\t{l}\n" for s, l in rows))
    out = work / "model"
    webtune(binary, "train", "--model", str(MODEL), "--data", str(data), "--validation-split", "0", "--text-column", "sentence",
            "--label-column", "label", "--seed", str(seed), "--epochs", "10", "--batch-size", "8", "--learning-rate", "1e-4",
            "--device", "cpu", "--json", "--out", str(out), "--overwrite")
    metrics = webtune(binary, "eval", "--model", str(out), "--data", str(SST2 / "dev.tsv"), "--text-column", "sentence", "--label-column", "label",
                      "--device", "cpu")[-1]
    return out, metrics["accuracy"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--webtune", required=True, help="path to the webtune binary")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--batch", type=int, default=32)
    a = p.parse_args()
    train = read_tsv(SST2 / "train.tsv")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for seed in map(int, a.seeds.split(",")):
            rng = random.Random(seed)
            pool = rng.sample(train, 2000)
            first = rng.sample(range(len(pool)), a.batch)
            for strategy in ("entropy", "random"):
                labelled, choice = list(first), random.Random(seed + 1000)
                for round_ in range(1, a.rounds + 1):
                    model, accuracy = train_and_score(a.webtune, [pool[i] for i in labelled], seed, work)
                    r = {"strategy": strategy, "seed": seed, "round": round_, "labelled": len(labelled), "dev_accuracy": accuracy}
                    print(json.dumps(r), flush=True)
                    results.append(r)
                    if round_ == a.rounds:
                        break
                    rest = [i for i in range(len(pool)) if i not in set(labelled)]
                    if strategy == "random":
                        labelled += choice.sample(rest, a.batch)
                    else:
                        texts = work / "unlabelled.txt"
                        texts.write_text("".join(pool[i][0].replace("\n", " ") + "\n" for i in rest))
                        ranked = webtune(a.webtune, "rank", "--model", str(model), "--input", str(texts), "--strategy", "entropy",
                                         "--top", str(a.batch), "--device", "cpu")
                        labelled += [rest[r["index"]] for r in ranked]
    print("\n| round | labelled rows | entropy: dev accuracy % (seeds) | mean | random: dev accuracy % (seeds) | mean |")
    print("|---|---|---|---|---|---|")
    for round_ in range(1, a.rounds + 1):
        cells = []
        for strategy in ("entropy", "random"):
            rs = [r for r in results if r["strategy"] == strategy and r["round"] == round_]
            cells += [", ".join(f"{r['dev_accuracy'] * 100:.2f}" for r in rs), f"{statistics.mean(r['dev_accuracy'] for r in rs) * 100:.2f}"]
        print(f"| {round_} | {round_ * a.batch} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
