"""The recipe benchmark (BENCHMARKS.md "recipe"): a webtune run and its Hugging Face recipe
(`webtune recipe`) run by transformers' Trainer, on a small real set, side by side.

    python tests/reference/bench_recipe.py --webtune PATH/TO/webtune [--seeds 0,1] [--rows 2000]

Run (every side): all-MiniLM-L6-v2 (WEBTUNE_ASSETS) + a new 2-class head; SST-2 train.tsv
shuffled with Python's random.Random(0), first --rows rows; dev.tsv as the validation data;
1 epoch, batch 16, lr 5e-5, 10 % warmup, max length 64 (webtune's other defaults: AdamW, weight
decay 0.01 except biases and LayerNorm weights, linear schedule, clipping at 1.0). Sides:
  webtune            `webtune train --device cpu`
  recipe             the recipe's `train.py` as a person runs it: the Trainer's own shuffling
  recipe, webtune's order   `train.py --webtune-order`: webtune's batches
Each reports the dev loss and accuracy of its final evaluation. The head is drawn by each
framework (a new head is not in the recipe), so even with webtune's order the runs differ from
the first step; the question is whether the recipe reaches what webtune reaches.

Prints one JSON line per run, then a markdown table.
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ASSETS = Path(os.environ.get("WEBTUNE_ASSETS", ROOT.parent / "shared" / "assets"))
MODEL = ASSETS / "models" / "all-MiniLM-L6-v2"
SST2 = ASSETS / "data" / "sst2"


def read_tsv(path):
    lines = path.read_text().splitlines()
    assert lines[0].split("\t") == ["sentence", "label"], lines[0]
    return [(s, int(l)) for s, l in (line.rsplit("\t", 1) for line in lines[1:] if line.strip())]


def run_args(train_file, seed):
    return ["--model", str(MODEL), "--data", str(train_file), "--validation", str(SST2 / "dev.tsv"), "--text-column", "sentence",
            "--label-column", "label", "--epochs", "1", "--batch-size", "16", "--learning-rate", "5e-5", "--warmup-ratio", "0.1",
            "--max-length", "64", "--seed", str(seed), "--device", "cpu", "--log-every", "10"]


def webtune_run(binary, train_file, seed, work):
    env = {**os.environ, "RAYON_NUM_THREADS": "2"}
    start = time.perf_counter()
    proc = subprocess.run([binary, "train", *run_args(train_file, seed), "--json", "--out", str(work / f"webtune-{seed}"), "--overwrite"],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"webtune train failed:\n{proc.stderr}")
    events = [json.loads(l) for l in proc.stdout.splitlines() if l.strip()]
    metrics = [e for e in events if e["type"] == "eval"][-1]["metrics"]
    return {"side": "webtune", "seed": seed, "dev_loss": metrics["loss"], "dev_accuracy": metrics["accuracy"], "wall_s": time.perf_counter() - start}


def recipe_run(binary, train_file, seed, work, webtune_order):
    folder = work / f"recipe-{seed}"
    if not folder.exists():
        subprocess.run([binary, "recipe", *run_args(train_file, seed), "--out", str(folder)], check=True, capture_output=True)
    start = time.perf_counter()
    cmd = [sys.executable, str(folder / "train.py"), "--output-dir", str(work / f"out-{seed}-{webtune_order}")]
    proc = subprocess.run(cmd + (["--webtune-order"] if webtune_order else []), capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "2"})
    if proc.returncode != 0:
        raise SystemExit(f"train.py failed:\n{proc.stderr[-3000:]}")
    metrics = json.loads([l for l in proc.stdout.splitlines() if l.startswith("{")][-1])
    side = "recipe, webtune's order" if webtune_order else "recipe"
    return {"side": side, "seed": seed, "dev_loss": metrics["eval_loss"], "dev_accuracy": metrics["eval_accuracy"], "wall_s": time.perf_counter() - start}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--webtune", required=True, help="path to the webtune binary")
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--rows", type=int, default=2000)
    a = p.parse_args()
    train = read_tsv(SST2 / "train.tsv")
    random.Random(0).shuffle(train)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        train_file = work / "train.tsv"
        train_file.write_text("sentence\tlabel\n" + "".join(f"{s}\t{l}\n" for s, l in train[:a.rows]))
        for seed in map(int, a.seeds.split(",")):
            for run in (lambda: webtune_run(a.webtune, train_file, seed, work), lambda: recipe_run(a.webtune, train_file, seed, work, False),
                        lambda: recipe_run(a.webtune, train_file, seed, work, True)):
                r = run()
                print(json.dumps(r), flush=True)
                results.append(r)
    print("\n| side | seed | dev loss | dev accuracy % | wall s |")
    print("|---|---|---|---|---|")
    for r in results:
        print(f"| {r['side']} | {r['seed']} | {r['dev_loss']:.4f} | {r['dev_accuracy'] * 100:.2f} | {r['wall_s']:.0f} |")
    for side in ("webtune", "recipe", "recipe, webtune's order"):
        rows = [r for r in results if r["side"] == side]
        print(f"mean {side}: dev loss {statistics.mean(r['dev_loss'] for r in rows):.4f}, "
              f"accuracy {statistics.mean(r['dev_accuracy'] for r in rows) * 100:.2f} %")


if __name__ == "__main__":
    main()
