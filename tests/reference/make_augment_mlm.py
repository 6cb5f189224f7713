"""The masked language model that fills the augmentation benchmark's `substitute` and `insert`
(BENCHMARKS.md "fewshot", part b), trained by webtune itself.

    python tests/reference/make_augment_mlm.py --webtune PATH/TO/webtune [--out FOLDER] [--rows 19200]

all-MiniLM-L6-v2 has no masked-LM head and no pretrained one is reachable from this machine, so
this follows Kobayashi (2018), whose contextual augmentation used a language model trained on
the task's own text: MiniLM with transformers' fresh `BertForMaskedLM` head (seed 0, the start
of `bench_tasks.py mlm`) is trained with `webtune train --task fill-mask` on the first --rows
sentences of SST-2 `train.tsv` (shuffled with random.Random(0); text only, never dev.tsv). It
then prints the held-out masked-LM loss on dev.tsv (the masking of `bench_tasks.py mlm`, seed
1234; the start scores 10.82) and what transformers' fill-mask pipeline predicts in three probe
sentences, so the quality of the words it fills can be judged. The folder (default
~/.cache/webtune/augment-mlm) is what `pkg-config/bench.sh augment` reads.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

from transformers import AutoModelForMaskedLM, AutoTokenizer, pipeline

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_tasks import mlm_loss, mlm_start, sst2_sentences  # noqa: E402  (the mlm task's start, masking and sentences)

DEFAULT_OUT = Path.home() / ".cache" / "webtune" / "augment-mlm"
RECIPE = dict(batch_size=32, learning_rate=2e-4, warmup_ratio=0.06, weight_decay=0.01, max_length=64, mlm_probability=0.15)
PROBES = ["it 's a charming and often [MASK] journey .", "the acting is [MASK] , the script is worse .",
          "a [MASK] film about growing up ."]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--webtune", required=True, help="path to the webtune binary")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--rows", type=int, default=19200, help="training sentences (one epoch of batches of 32)")
    a = p.parse_args()
    rows = sst2_sentences("train.tsv")
    random.Random(0).shuffle(rows)
    rows = rows[:a.rows]
    with tempfile.TemporaryDirectory() as tmp:
        start = mlm_start(tmp)
        data = Path(tmp) / "sst2-text.txt"
        data.write_text("".join(s + "\n" for s in rows))
        cmd = [a.webtune, "train", "--task", "fill-mask", "--model", str(start), "--data", str(data), "--validation-split", "0",
               "--epochs", "1", "--seed", "0", "--device", "cpu", "--json", "--log-every", "25", "--out", str(a.out), "--overwrite"]
        for k, v in RECIPE.items():
            cmd += [f"--{k.replace('_', '-')}", str(v)]
        print(" ".join(cmd), file=sys.stderr)
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env={**os.environ, "RAYON_NUM_THREADS": "2"})
        for line in proc.stdout:  # the run's progress, as it goes
            event = json.loads(line)
            if event["type"] == "step":
                print(f"step {event['step']}/{event['totalSteps']} loss {event['loss']:.3f} ({event['stepMs']:.0f} ms)",
                      file=sys.stderr, flush=True)
        if proc.wait() != 0:
            raise SystemExit(f"webtune train failed: {' '.join(cmd)}")
    tok = AutoTokenizer.from_pretrained(a.out)
    model = AutoModelForMaskedLM.from_pretrained(a.out).eval()
    loss = mlm_loss(model, tok, sst2_sentences("dev.tsv"), RECIPE, 1234)
    fill = pipeline("fill-mask", model=model, tokenizer=tok)
    probes = {s: [c["token_str"] for c in fill(s, top_k=5)] for s in PROBES}
    print(json.dumps({"out": str(a.out), "rows": len(rows), "held_out_mlm_loss": round(loss, 3), "fill_mask_top5": probes}, indent=1))


if __name__ == "__main__":
    main()
