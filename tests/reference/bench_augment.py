"""The augmentation benchmark (BENCHMARKS.md "fewshot", part b): plain fine-tuning with and
without each augmentation, at 64, 128 and 256 labelled SST-2 rows.

    python tests/reference/bench_augment.py --webtune PATH/TO/webtune [--seeds 0,1,2] [--sizes 64,128,256]
        [--mlm FOLDER] [--sides none,substitute,insert]

For each seed, the rows are drawn from SST-2 train.tsv with random.Random(seed), half of each
class; all-MiniLM-L6-v2 (WEBTUNE_ASSETS) is fine-tuned from its base on them (`webtune train`: a
new head, 10 epochs, batch 8, lr 1e-4 — the few-row recipe of bench_active.py — no validation),
then scored on all of dev.tsv (`webtune eval`, accuracy). Sides: no augmentation, and one
augmented copy of each row per epoch by each operation at rate 0.1 (EDA's α): swap, delete, and —
with --mlm, a folder holding a masked language model with its head — substitute and insert
(contextual augmentation; MiniLM has no masked-LM head of its own: `make_augment_mlm.py` trains
one). The augmented runs see twice the examples per epoch (the rows and their copies). --sides
runs a subset (`none` is always among them: the table compares each side to it). Prints one JSON
line per run, then a markdown table.
"""
import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_recipe import MODEL, SST2, read_tsv  # noqa: E402  (all-MiniLM-L6-v2 and SST-2 from the assets)
from bench_fewshot import sample  # noqa: E402  (k rows of each class for a seed)
from bench_active import webtune  # noqa: E402  (the CLI on 2 threads, its JSON lines)


def run(binary, train_file, seed, work, augment):
    start = time.perf_counter()
    out = work / "model"
    webtune(binary, "train", "--model", str(MODEL), "--data", str(train_file), "--validation-split", "0", "--text-column", "sentence",
            "--label-column", "label", "--seed", str(seed), "--epochs", "10", "--batch-size", "8", "--learning-rate", "1e-4",
            "--device", "cpu", "--json", "--out", str(out), "--overwrite", *augment)
    metrics = webtune(binary, "eval", "--model", str(out), "--data", str(SST2 / "dev.tsv"), "--text-column", "sentence", "--label-column", "label",
                      "--device", "cpu")[-1]
    return {"dev_accuracy": metrics["accuracy"], "wall_s": time.perf_counter() - start}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--webtune", required=True, help="path to the webtune binary")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--sizes", default="64,128,256", help="labelled rows in all (half of each class)")
    p.add_argument("--mlm", help="a masked language model folder for substitute and insert")
    p.add_argument("--sides", help="which sides to run (comma-separated; default: all there are)")
    a = p.parse_args()
    train = read_tsv(SST2 / "train.tsv")
    sides = {"none": [], "swap": ["--augment", "swap"], "delete": ["--augment", "delete"]}
    if a.mlm:
        sides |= {op: ["--augment", op, "--augment-model", a.mlm] for op in ("substitute", "insert")}
    else:
        print("no --mlm: substitute and insert are left out (MiniLM has no masked-LM head)", file=sys.stderr)
    if a.sides:
        wanted = {"none", *a.sides.split(",")}
        if unknown := wanted - sides.keys():
            raise SystemExit(f"--sides: {', '.join(sorted(unknown))} not among {', '.join(sides)} (substitute and insert need --mlm)")
        sides = {side: flags for side, flags in sides.items() if side in wanted}
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for size in map(int, a.sizes.split(",")):
            for seed in map(int, a.seeds.split(",")):
                rows = sample(train, size // 2, seed)
                train_file = work / "train.tsv"
                train_file.write_text("sentence\tlabel\n" + "".join(f"{s}\t{l}\n" for s, l in rows))
                for side, augment in sides.items():
                    r = {"side": side, "rows": size, "seed": seed, **run(a.webtune, train_file, seed, work, augment)}
                    print(json.dumps(r), flush=True)
                    results.append(r)
    print("\n| rows | augmentation | dev accuracy % (seeds) | mean | vs none |")
    print("|---|---|---|---|---|")
    for size in map(int, a.sizes.split(",")):
        base = statistics.mean(r["dev_accuracy"] for r in results if r["side"] == "none" and r["rows"] == size)
        for side in sides:
            rs = [r for r in results if r["side"] == side and r["rows"] == size]
            mean = statistics.mean(r["dev_accuracy"] for r in rs)
            accs = ", ".join(f"{r['dev_accuracy'] * 100:.2f}" for r in rs)
            print(f"| {size} | {side} | {accs} | {mean * 100:.2f} | {(mean - base) * 100:+.2f} |")


if __name__ == "__main__":
    main()
