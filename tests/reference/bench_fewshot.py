"""The few-shot benchmark (BENCHMARKS.md "fewshot"): SetFit in webtune and in the `setfit`
library, and webtune's plain fine-tuning, on k labelled SST-2 rows per class, side by side.

    python tests/reference/bench_fewshot.py --webtune PATH/TO/webtune [--seeds 0,1,2] [--sizes 8,16,32]
        [--head differentiable]   # both SetFit sides with setfit's differentiable head (no fine-tuning side)
        [--head end-to-end]       # the same head trained with the body (setfit's end_to_end=True)

Rows: for each seed, k rows of each class drawn from SST-2 train.tsv with random.Random(seed);
scored on all of dev.tsv (872 rows), accuracy. Base: all-MiniLM-L6-v2 (WEBTUNE_ASSETS), a
sentence-transformer. Sides, each with its defaults:
  setfit             the library (setfit 1.2.0): SetFitModel.from_pretrained, TrainingArguments
                     with seed=seed and otherwise setfit's defaults (oversampled pairs, 1 epoch,
                     batch 16, body lr 2e-5, 10 % warmup, LogisticRegression head)
  webtune setfit     `webtune train --method setfit --seed seed` (the same defaults)
  webtune finetune   `webtune train` (a new classification head, 3 epochs, batch 16, lr 5e-5;
                     --no-keep-best: dev is the test set here, not a validation set to pick from)
Both engines run on the CPU with 2 threads. Prints one JSON line per run, then a markdown table.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_recipe import MODEL, SST2, read_tsv  # noqa: E402  (all-MiniLM-L6-v2 and SST-2 from the assets)


def sample(train, k, seed):
    rng = random.Random(seed)
    rows = []
    for label in (0, 1):
        rows += rng.sample([r for r in train if r[1] == label], k)
    rng.shuffle(rows)
    return rows


def setfit_run(rows, dev, seed, differentiable=False, end_to_end=False):
    import torch
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    torch.set_num_threads(2)
    start = time.perf_counter()
    # the differentiable head with setfit's defaults for it: 16 epochs, batch 2, lr 1e-2, body frozen
    # (or, end to end, learning at setfit's default 1e-5)
    model = SetFitModel.from_pretrained(str(MODEL), use_differentiable_head=differentiable, head_params={"out_features": 2} if differentiable else {})
    args = TrainingArguments(seed=seed, end_to_end=end_to_end, show_progress_bar=False, report_to=[], save_strategy="no")
    trainer = Trainer(model=model, args=args, train_dataset=Dataset.from_dict({"text": [s for s, _ in rows], "label": [l for _, l in rows]}))
    trainer.train()
    predicted = model.predict([s for s, _ in dev], batch_size=64)
    accuracy = sum(int(p) == l for p, (_, l) in zip(predicted.tolist(), dev)) / len(dev)
    return {"dev_accuracy": accuracy, "wall_s": time.perf_counter() - start}


def webtune_run(binary, train_file, seed, work, extra):
    env = {**os.environ, "RAYON_NUM_THREADS": "2"}
    start = time.perf_counter()
    cmd = [binary, "train", "--model", str(MODEL), "--data", str(train_file), "--validation", str(SST2 / "dev.tsv"), "--text-column", "sentence",
           "--label-column", "label", "--seed", str(seed), "--device", "cpu", "--json", "--out", str(work / "out"), "--overwrite", *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"webtune train failed:\n{proc.stderr[-3000:]}")
    events = [json.loads(l) for l in proc.stdout.splitlines() if l.strip()]
    metrics = [e for e in events if e["type"] == "eval"][-1]["metrics"]
    return {"dev_accuracy": metrics["accuracy"], "wall_s": time.perf_counter() - start}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--webtune", required=True, help="path to the webtune binary")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--sizes", default="8,16,32")
    p.add_argument("--head", choices=["logistic", "differentiable", "end-to-end"], default="logistic", help="the SetFit sides' head")
    a = p.parse_args()
    train, dev = read_tsv(SST2 / "train.tsv"), read_tsv(SST2 / "dev.tsv")
    differentiable, end_to_end = a.head != "logistic", a.head == "end-to-end"
    head_flags = ["--head", "differentiable"] if differentiable else []
    head_flags += ["--end-to-end"] if end_to_end else []
    sides = {
        "setfit": lambda rows, f, seed, work: setfit_run(rows, dev, seed, differentiable, end_to_end),
        "webtune setfit": lambda rows, f, seed, work: webtune_run(a.webtune, f, seed, work, ["--method", "setfit", *head_flags]),
    }
    if not differentiable:
        sides["webtune finetune"] = lambda rows, f, seed, work: webtune_run(a.webtune, f, seed, work, ["--no-keep-best"])
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for k in map(int, a.sizes.split(",")):
            for seed in map(int, a.seeds.split(",")):
                rows = sample(train, k, seed)
                train_file = work / "train.tsv"
                train_file.write_text("sentence\tlabel\n" + "".join(f"{s}\t{l}\n" for s, l in rows))
                for side, run in sides.items():
                    r = {"side": side, "per_class": k, "seed": seed, **run(rows, train_file, seed, work)}
                    print(json.dumps(r), flush=True)
                    results.append(r)
    print("\n| rows per class | side | dev accuracy % (seeds) | mean | wall s (mean) |")
    print("|---|---|---|---|---|")
    for k in map(int, a.sizes.split(",")):
        for side in sides:
            rs = [r for r in results if r["side"] == side and r["per_class"] == k]
            accs = ", ".join(f"{r['dev_accuracy'] * 100:.2f}" for r in rs)
            print(f"| {k} | {side} | {accs} | {statistics.mean(r['dev_accuracy'] for r in rs) * 100:.2f} | {statistics.mean(r['wall_s'] for r in rs):.0f} |")


if __name__ == "__main__":
    main()
