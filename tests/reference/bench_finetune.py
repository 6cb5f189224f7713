"""Fine-tuning quality benchmark (issue 4): webtune vs transformers + PyTorch, same recipe, one run.

    python tests/reference/bench_finetune.py --webtune PATH/TO/webtune [--seeds 0,1] [--rows 4000]

Recipe (both sides): all-MiniLM-L6-v2 (WEBTUNE_ASSETS) + a new 2-class head, SST-2 train.tsv
shuffled with Python's random.Random(0), first --rows rows; 1 epoch, batch 16, AdamW lr 5e-5
(betas 0.9/0.999, eps 1e-8), weight decay 0.01 except biases and LayerNorm weights, linear schedule
with 10 % warmup, gradient clipping at global norm 1.0, max length 64, dynamic padding; evaluate
accuracy on dev.tsv. This is what transformers' Trainer does by default; the loop is written out
here so that it needs no `accelerate`. Both sides run on the CPU with 2 threads.

The model webtune writes is also loaded with AutoModelForSequenceClassification and evaluated on
dev.tsv by PyTorch: that checks the export, and should agree with webtune's own accuracy.

Prints one JSON line per run, then a markdown table.
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup

ROOT = Path(__file__).resolve().parents[2]
ASSETS = Path(os.environ.get("WEBTUNE_ASSETS", ROOT.parent / "shared" / "assets"))
MODEL = ASSETS / "models" / "all-MiniLM-L6-v2"
SST2 = ASSETS / "data" / "sst2"
RECIPE = dict(epochs=1, batch_size=16, lr=5e-5, weight_decay=0.01, warmup_ratio=0.1, max_length=64, max_grad_norm=1.0)


def read_tsv(path):
    lines = path.read_text().splitlines()
    assert lines[0].split("\t") == ["sentence", "label"], lines[0]
    return [(s, int(l)) for s, l in (line.rsplit("\t", 1) for line in lines[1:] if line.strip())]


def dev_accuracy(model, tok, rows, batch=64):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(rows), batch):
            chunk = rows[i:i + batch]
            enc = tok([s for s, _ in chunk], padding="longest", truncation=True, max_length=RECIPE["max_length"], return_tensors="pt")
            pred = model(**enc).logits.argmax(-1)
            correct += sum(int(p) == l for p, l in zip(pred, (l for _, l in chunk)))
    return correct / len(rows)


def pytorch_run(train, dev, seed):
    torch.manual_seed(seed)
    tok = AutoTokenizer.from_pretrained(MODEL)
    model = AutoModelForSequenceClassification.from_pretrained(MODEL, num_labels=2)
    model.train()
    no_decay = lambda n: n.endswith(".bias") or "LayerNorm.weight" in n
    groups = [{"params": [p for n, p in model.named_parameters() if not no_decay(n)], "weight_decay": RECIPE["weight_decay"]},
              {"params": [p for n, p in model.named_parameters() if no_decay(n)], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=RECIPE["lr"], betas=(0.9, 0.999), eps=1e-8)
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed)).tolist()
    batches = [order[i:i + RECIPE["batch_size"]] for i in range(0, len(order), RECIPE["batch_size"])]
    total = len(batches) * RECIPE["epochs"]
    sched = get_linear_schedule_with_warmup(opt, int(-(-RECIPE["warmup_ratio"] * total // 1)), total)
    step_times = []
    start = time.perf_counter()
    for b in batches:
        t0 = time.perf_counter()
        enc = tok([train[i][0] for i in b], padding="longest", truncation=True, max_length=RECIPE["max_length"], return_tensors="pt")
        loss = model(**enc, labels=torch.tensor([train[i][1] for i in b])).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), RECIPE["max_grad_norm"])
        opt.step()
        sched.step()
        opt.zero_grad()
        step_times.append((time.perf_counter() - t0) * 1e3)
    train_s = time.perf_counter() - start
    return {"engine": "pytorch", "seed": seed, "accuracy": dev_accuracy(model, tok, dev), "train_s": train_s,
            "median_step_ms": statistics.median(step_times), "steps": total}


def webtune_run(binary, train_file, dev, seed, work):
    out = Path(work) / f"webtune-seed{seed}"
    cmd = [binary, "train", "--model", str(MODEL), "--data", str(train_file), "--validation", str(SST2 / "dev.tsv"),
           "--text-column", "sentence", "--label-column", "label", "--epochs", str(RECIPE["epochs"]),
           "--batch-size", str(RECIPE["batch_size"]), "--learning-rate", str(RECIPE["lr"]),
           "--weight-decay", str(RECIPE["weight_decay"]), "--warmup-ratio", str(RECIPE["warmup_ratio"]),
           "--max-length", str(RECIPE["max_length"]), "--max-grad-norm", str(RECIPE["max_grad_norm"]),
           "--seed", str(seed), "--device", "cpu", "--json", "--log-every", "10", "--out", str(out), "--overwrite"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "RAYON_NUM_THREADS": "2"})
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"webtune train failed:\n{proc.stderr}")
    events = [json.loads(l) for l in proc.stdout.splitlines() if l.strip()]
    steps = [e for e in events if e["type"] == "step"]
    evals = [e for e in events if e["type"] == "eval"]
    done = events[-1]
    # training time without the final evaluation: each step event covers the steps since the last
    train_s, last = 0.0, 0
    for e in steps:
        train_s += e["stepMs"] * (e["step"] - last) / 1e3
        last = e["step"]
    tok = AutoTokenizer.from_pretrained(out)
    exported = AutoModelForSequenceClassification.from_pretrained(out)
    return {"engine": "webtune", "seed": seed, "accuracy": evals[-1]["metrics"]["accuracy"], "train_s": train_s,
            "wall_s": wall, "median_step_ms": statistics.median(e["stepMs"] for e in steps), "steps": done["steps"],
            "exported_accuracy_in_transformers": dev_accuracy(exported, tok, dev)}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--webtune", required=True, help="path to the webtune binary")
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--rows", type=int, default=4000)
    a = p.parse_args()
    torch.set_num_threads(2)
    train = read_tsv(SST2 / "train.tsv")
    random.Random(0).shuffle(train)
    train = train[:a.rows]
    dev = read_tsv(SST2 / "dev.tsv")
    results = []
    with tempfile.TemporaryDirectory() as work:
        train_file = Path(work) / "train.tsv"
        train_file.write_text("sentence\tlabel\n" + "".join(f"{s}\t{l}\n" for s, l in train))
        for seed in map(int, a.seeds.split(",")):
            for run in (lambda: pytorch_run(train, dev, seed), lambda: webtune_run(a.webtune, train_file, dev, seed, work)):
                r = run()
                print(json.dumps(r), flush=True)
                results.append(r)
    print("\n| engine | seed | dev accuracy | train time s | median step ms | steps |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['engine']} | {r['seed']} | {r['accuracy'] * 100:.2f} | {r['train_s']:.0f} | {r['median_step_ms']:.0f} | {r['steps']} |")
    mean = lambda e: statistics.mean(r["accuracy"] for r in results if r["engine"] == e) * 100
    print(f"\nmean dev accuracy: webtune {mean('webtune'):.2f}, PyTorch {mean('pytorch'):.2f}, "
          f"difference {mean('webtune') - mean('pytorch'):+.2f} points (bar: within 1.5)")


if __name__ == "__main__":
    main()
