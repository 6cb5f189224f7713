"""Reference side of the encoder latency benchmark: transformers + PyTorch on the CPU.

    python tests/reference/bench_encoder.py --model DIR [--threads 2] [--batch-sizes 1,32] [--seq 64]

Prints one JSON line per batch size in the same format as `webtune bench encoder`: the first
call, then the median of --runs after --warmup runs. The input is the same text as webtune's,
cut to exactly --seq tokens; the timed work is tokenization + forward + mean pooling.
"""
import argparse
import json
import statistics
import time

import torch
from transformers import BertModel, PreTrainedTokenizerFast


def long_text(seq: int) -> str:  # same as src/bin/webtune/bench.rs
    return "the quick brown fox jumps over the lazy dog while the cat sleeps " * (seq // 8 + 2)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch-sizes", default="1,32")
    p.add_argument("--seq", type=int, default=64)
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    tok = PreTrainedTokenizerFast(tokenizer_file=f"{a.model}/tokenizer.json")
    tok.pad_token = "[PAD]"
    t0 = time.perf_counter()
    model = BertModel.from_pretrained(a.model).eval()
    load_ms = (time.perf_counter() - t0) * 1e3
    text = long_text(a.seq)
    for batch in [int(b) for b in a.batch_sizes.split(",")]:
        texts = [text] * batch

        def run():
            t = time.perf_counter()
            with torch.inference_mode():
                enc = tok(texts, padding="longest", truncation=True, max_length=a.seq, return_tensors="pt")
                assert enc["input_ids"].shape[1] == a.seq
                h = model(**enc).last_hidden_state
                m = enc["attention_mask"].unsqueeze(-1).float()
                ((h * m).sum(1) / m.sum(1)).tolist()
            return (time.perf_counter() - t) * 1e3

        first = run()
        for _ in range(a.warmup):
            run()
        ms = sorted(run() for _ in range(a.runs))
        print(json.dumps({"bench": "encoder", "engine": "pytorch", "device": f"cpu ({a.threads} threads)",
                          "batch": batch, "seq": a.seq, "first_ms": first, "median_ms": statistics.median(ms),
                          "min_ms": ms[0], "runs": len(ms), "load_ms": load_ms}), flush=True)


if __name__ == "__main__":
    main()
