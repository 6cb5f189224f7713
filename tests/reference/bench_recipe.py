"""The recipe benchmark (BENCHMARKS.md "recipe"): a webtune run and its Hugging Face recipe
(`webtune recipe`) run by transformers' Trainer, on a small real set, side by side.

    python tests/reference/bench_recipe.py --webtune PATH/TO/webtune [--seeds 0,1] [--rows 2000] [--task text-generation]

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

With --task text-generation: SmolLM2-135M-Instruct (the Q4_1 GGUF of WEBTUNE_ASSETS, dequantized
to float32 by transformers and saved as a Hugging Face folder, with the Hub's digit-splitting
pre-tokenizer and its chat template in tokenizer_config.json: bench_lora.py's model) LoRA-tuned as
bench_lora.py's recipe — rank 8, alpha 16 on q_proj/v_proj, 64 Alpaca prompt/completion rows
through the chat template, 1 epoch, batch 4, lr 5e-4, no warmup, max length 256 — each side reports
the loss over every completion token of the 32 held-out rows. The adapters start as each
framework draws them (the recipe from the CLI carries webtune's: with webtune's order its steps
are webtune's, up to float summation order over a real model).

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


def lm_args(work, seed):
    """The text-generation run: bench_lora.py's recipe on its rows, from a Hugging Face folder."""
    return ["--task", "text-generation", "--model", str(work / "smollm2"), "--data", str(work / "train.jsonl"), "--validation",
            str(work / "heldout.jsonl"), "--lora-rank", "8", "--lora-alpha", "16", "--lora-targets", "q_proj,v_proj", "--epochs", "1",
            "--batch-size", "4", "--learning-rate", "5e-4", "--max-length", "256", "--seed", str(seed), "--device", "cpu", "--log-every", "4"]


def lm_setup(work):
    """bench_lora.py's model as a Hugging Face folder (float32, the Hub's tokenizer, the chat
    template in tokenizer_config.json, where webtune reads it) and its rows."""
    import torch
    from transformers import AutoModelForCausalLM
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_lora import GGUF, MODEL_DIR, load_tokenizer, pick_rows, write_jsonl
    folder = work / "smollm2"
    loaded = AutoModelForCausalLM.from_pretrained(MODEL_DIR, gguf_file=GGUF, dtype=torch.float32)
    # the dequantized weights in a plain model (transformers will not save a GGUF-loaded one)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(loaded.state_dict())
    plain.save_pretrained(folder)
    tok, _ = load_tokenizer()
    tok.save_pretrained(folder)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config["chat_template"] = tok.chat_template
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=1))
    train, held = pick_rows()
    write_jsonl(work / "train.jsonl", train)
    write_jsonl(work / "heldout.jsonl", held)


def webtune_run(binary, args, seed, work):
    env = {**os.environ, "RAYON_NUM_THREADS": "2"}
    start = time.perf_counter()
    proc = subprocess.run([binary, "train", *args, "--json", "--out", str(work / f"webtune-{seed}"), "--overwrite"],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"webtune train failed:\n{proc.stderr}")
    events = [json.loads(l) for l in proc.stdout.splitlines() if l.strip()]
    metrics = [e for e in events if e["type"] == "eval"][-1]["metrics"]
    return {"side": "webtune", "seed": seed, "dev_loss": metrics["loss"], "dev_accuracy": metrics.get("accuracy"), "wall_s": time.perf_counter() - start}


def recipe_run(binary, args, seed, work, webtune_order):
    folder = work / f"recipe-{seed}"
    if not folder.exists():
        subprocess.run([binary, "recipe", *args, "--out", str(folder)], check=True, capture_output=True)
    start = time.perf_counter()
    cmd = [sys.executable, str(folder / "train.py"), "--output-dir", str(work / f"out-{seed}-{webtune_order}")]
    proc = subprocess.run(cmd + (["--webtune-order"] if webtune_order else []), capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "2"})
    if proc.returncode != 0:
        raise SystemExit(f"train.py failed:\n{proc.stderr[-3000:]}")
    metrics = json.loads([l for l in proc.stdout.splitlines() if l.startswith("{")][-1])
    side = "recipe, webtune's order" if webtune_order else "recipe"
    return {"side": side, "seed": seed, "dev_loss": metrics["eval_loss"], "dev_accuracy": metrics.get("eval_accuracy"), "wall_s": time.perf_counter() - start}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--webtune", required=True, help="path to the webtune binary")
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--rows", type=int, default=2000)
    p.add_argument("--task", default="text-classification", choices=["text-classification", "text-generation"])
    a = p.parse_args()
    language = a.task == "text-generation"
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if language:
            lm_setup(work)
        else:
            train = read_tsv(SST2 / "train.tsv")
            random.Random(0).shuffle(train)
            train_file = work / "train.tsv"
            train_file.write_text("sentence\tlabel\n" + "".join(f"{s}\t{l}\n" for s, l in train[:a.rows]))
        for seed in map(int, a.seeds.split(",")):
            args = lm_args(work, seed) if language else run_args(train_file, seed)
            for run in (lambda: webtune_run(a.webtune, args, seed, work), lambda: recipe_run(a.webtune, args, seed, work, False),
                        lambda: recipe_run(a.webtune, args, seed, work, True)):
                r = run()
                print(json.dumps(r), flush=True)
                results.append(r)
    held = "held-out loss" if language else "dev loss"
    print(f"\n| side | seed | {held} |{'' if language else ' dev accuracy % |'} wall s |")
    print("|---|---|---|---|" + ("" if language else "---|"))
    for r in results:
        accuracy = "" if language else f" {r['dev_accuracy'] * 100:.2f} |"
        print(f"| {r['side']} | {r['seed']} | {r['dev_loss']:.4f} |{accuracy} {r['wall_s']:.0f} |")
    for side in ("webtune", "recipe", "recipe, webtune's order"):
        rows = [r for r in results if r["side"] == side]
        accuracy = "" if language else f", accuracy {statistics.mean(r['dev_accuracy'] for r in rows) * 100:.2f} %"
        print(f"mean {side}: {held} {statistics.mean(r['dev_loss'] for r in rows):.4f}{accuracy}")


if __name__ == "__main__":
    main()
