"""Training step time (issue 4): MiniLM, batch 16 x 64 tokens, full fine-tuning, in one run.

    python tests/reference/bench_step.py --webtune PATH/TO/webtune [--devices cpu,gpu]
        [--steps 23] [--gpu-steps 8] [--warmup 3]

Both sides do the same step: tokenize 16 texts cut to exactly 64 tokens, forward through
all-MiniLM-L6-v2 + a 2-class head (dropout on), cross-entropy, backward, clip the global gradient
norm at 1.0, AdamW (lr 5e-5, weight decay 0.01 except biases and LayerNorm), linear schedule, and
read the loss back. PyTorch: transformers + torch on the CPU with 2 threads. webtune: the CLI's
`webtune train --log-every 1 --json` on a file of the same texts; its `step` events carry each
step's wall time (the loss read included, so GPU steps are synchronised).

The first step is reported separately (first_ms; it includes kernel compilation on a GPU), then
--warmup untimed steps, then the median of the rest. Prints one JSON line per engine and device.
"""
import argparse
import json
import os
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
BATCH, SEQ = 16, 64
# The text of src/bin/webtune/bench.rs and tests/bench/encoder.mjs: over 64 tokens, cut to 64.
TEXT = "the quick brown fox jumps over the lazy dog while the cat sleeps " * (SEQ // 8 + 2)


def row(engine, device, times, warmup):
    rest = times[1 + warmup:]
    return {"bench": "step", "engine": engine, "device": device, "batch": BATCH, "seq": SEQ,
            "first_ms": times[0], "median_ms": statistics.median(rest), "min_ms": min(rest), "runs": len(rest)}


def pytorch(steps, warmup):
    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(MODEL)
    model = AutoModelForSequenceClassification.from_pretrained(MODEL, num_labels=2)
    model.train()
    no_decay = lambda n: n.endswith(".bias") or "LayerNorm.weight" in n
    groups = [
        {"params": [p for n, p in model.named_parameters() if not no_decay(n)], "weight_decay": 0.01},
        {"params": [p for n, p in model.named_parameters() if no_decay(n)], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=5e-5, betas=(0.9, 0.999), eps=1e-8)
    sched = get_linear_schedule_with_warmup(opt, 0, steps)
    labels = torch.tensor([i % 2 for i in range(BATCH)])
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        enc = tok([TEXT] * BATCH, padding="longest", truncation=True, max_length=SEQ, return_tensors="pt")
        assert enc["input_ids"].shape == (BATCH, SEQ)
        loss = model(**enc, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
        loss.item()
        times.append((time.perf_counter() - t) * 1e3)
    return row("pytorch", "cpu (2 threads)", times, warmup)


def webtune(exe, device, steps, warmup):
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "rows.tsv"
        data.write_text("text\tlabel\n" + "".join(f"{TEXT}\t{i % 2}\n" for i in range(BATCH * steps)))
        cmd = [exe, "train", "--model", str(MODEL), "--data", str(data), "--validation-split", "0",
               "--epochs", "1", "--batch-size", str(BATCH), "--max-length", str(SEQ), "--learning-rate", "5e-5",
               "--log-every", "1", "--json", "--device", device, "--out", str(Path(tmp) / "out")]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    start = next(e for e in events if e["type"] == "start")
    name = start["device"]["kind"] + ("" if start["device"]["kind"] == "cpu" else f" ({start['device']['backend']})")
    times = [e["stepMs"] for e in events if e["type"] == "step"]
    assert len(times) == steps, f"expected {steps} step events, got {len(times)}"
    return row("webtune", name, times, warmup)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--webtune", required=True)
    ap.add_argument("--devices", default="cpu,gpu")
    ap.add_argument("--steps", type=int, default=23, help="steps on the CPU (first + warmup + timed)")
    ap.add_argument("--gpu-steps", type=int, default=8, help="steps on a GPU (software rasterisers are slow)")
    ap.add_argument("--warmup", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(2)
    print(json.dumps(pytorch(a.steps, a.warmup)), flush=True)
    for device in a.devices.split(","):
        steps = a.steps if device == "cpu" else a.gpu_steps
        print(json.dumps(webtune(a.webtune, device, steps, min(a.warmup, steps - 2))), flush=True)


if __name__ == "__main__":
    main()
