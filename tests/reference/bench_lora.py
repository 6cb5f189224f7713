"""LoRA fine-tuning quality benchmark (issue 20): webtune vs transformers + PEFT, same recipe, one run.

    py=$(tests/reference/setup.sh)
    $py tests/reference/bench_lora.py [--webtune PATH/TO/webtune] [--seeds 0,1]

Without --webtune only the PEFT side runs. The bar: webtune's held-out loss after training is within
0.015 of PEFT's (each the mean over the seeds).

Recipe (both sides): SmolLM2-135M-Instruct, the Q4_1 GGUF from WEBTUNE_ASSETS (dequantized to
float32 by both: transformers' GGUF reader, webtune's loader); LoRA rank 8, alpha 16 on q_proj and
v_proj, dropout 0 (PEFT's default init: A kaiming-uniform, B zero; torch.manual_seed(seed) just
before get_peft_model); AdamW lr 5e-4 (betas 0.9/0.999, eps 1e-8), weight decay 0.01 on every
adapter weight (webtune exempts only biases and norm weights, and adapters have neither), linear
schedule to 0 over the 16 steps with no warmup, gradient clipping at global norm 1.0 (webtune's
default); batch 4, 1 epoch = 16 steps; max length 256; CPU, 2 threads (torch.set_num_threads,
RAYON_NUM_THREADS).

Data: alpaca_5000.json (a JSON array of {instruction, input, output}) without the rows whose
output is empty, shuffled with Python's random.Random(0): the first 64 rows train, the next 32 are
held out. prompt = instruction (+ "\\n\\n" + input when input is not empty), completion = output;
both sides read the same train.jsonl / heldout.jsonl ({"prompt", "completion"} lines).

Rendering (what webtune's LmRowEncoder does, mirrored here): the model's chat template
renders the user turn with the generation prompt (`asked`) and the whole conversation with the
assistant's reply (`answered`); the reply text is `answered` minus the `asked` prefix (the output,
then "<|im_end|>\\n": the turn's end token and the newline after it are learned too). Both parts are
tokenized separately, without added special tokens (SmolLM2's template writes its own
<|im_start|> tokens, and there is no BOS), then concatenated and cut at the end to 256 tokens.
The tokenizer is transformers' GGUF one with SmolLM2's real pre-tokenizer (digits split one by one,
then byte-level), as webtune and the Hub's tokenizer.json have it: transformers' GGUF converter
leaves the digit split out (see load_tokenizer), which changes a few of these rows' ids.
Labels are -100 on the prompt tokens (and on padding); a row with no reply token left would be
dropped (none is, with this data).

Losses: a training step's loss is the mean cross-entropy over the batch's target tokens (as
`LlamaForCausalLM(labels=...).loss`). The held-out loss is token-weighted: the summed
cross-entropy of every target token of the 32 rows divided by their number (not a mean of
per-row means), in batches of 4, as webtune's evaluation computes it (language_model::evaluate).

Data order: webtune always shuffles (no CLI switch turns it off): each epoch's order is rand 0.9's
`shuffle` with ChaCha8Rng::seed_from_u64(seed.wrapping_add(epoch) * 0x9E3779B97F4A7C15), then
chunks of the batch size (data::epoch_order). The PyTorch side replays that exact permutation
(`webtune_order`, checked against rand's own test vectors), so for a seed both sides see the same
batches in the same order, and their first step losses (before any update) must agree.

webtune side: `webtune train` evaluates only after steps (at epoch ends), never before the first
one, so the loss "before" is `webtune eval --task text-generation` of the base model on the
held-out file (max length 256, batch 4): the fresh adapters add nothing (B is zero). Then the real run, with --log-every 1 (every step's loss) and --peft (only the adapter
files); its evaluation at the end of the epoch is the loss "after". The adapter it wrote is also
loaded by PEFT onto transformers' model and evaluated here ("after_adapter_in_peft"): that checks
the export, and should agree with webtune's own after-loss.

Prints one JSON line per run, then a markdown table and the comparison.
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
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer, get_linear_schedule_with_warmup

ROOT = Path(__file__).resolve().parents[2]
ASSETS = Path(os.environ.get("WEBTUNE_ASSETS", ROOT.parent / "shared" / "assets"))
MODEL_DIR = ASSETS / "models" / "smollm2-135m-instruct"
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
ALPACA = ASSETS / "data" / "chat" / "alpaca_5000.json"
RECIPE = dict(rank=8, alpha=16, targets=["q_proj", "v_proj"], lr=5e-4, weight_decay=0.01, batch_size=4, epochs=1,
              max_length=256, max_grad_norm=1.0, train_rows=64, heldout_rows=32)
BAR = 0.015


# --- webtune's data order: rand 0.9 `SliceRandom::shuffle` with rand_chacha 0.9's ChaCha8Rng ----------------

M32, M64 = 0xFFFFFFFF, (1 << 64) - 1


def _rotl(x, n):
    return ((x << n) | (x >> (32 - n))) & M32


def _quarter(s, a, b, c, d):
    s[a] = (s[a] + s[b]) & M32; s[d] = _rotl(s[d] ^ s[a], 16)
    s[c] = (s[c] + s[d]) & M32; s[b] = _rotl(s[b] ^ s[c], 12)
    s[a] = (s[a] + s[b]) & M32; s[d] = _rotl(s[d] ^ s[a], 8)
    s[c] = (s[c] + s[d]) & M32; s[b] = _rotl(s[b] ^ s[c], 7)


class ChaCha:
    """rand_chacha's ChaChaXRng: 32-byte key, 64-bit block counter, stream 0, words in block order."""

    def __init__(self, seed: bytes, rounds=8):
        self.key = [int.from_bytes(seed[i:i + 4], "little") for i in range(0, 32, 4)]
        self.rounds, self.counter, self.words = rounds, 0, []

    @classmethod
    def seed_from_u64(cls, state, rounds=8):
        """rand_core 0.9's default `SeedableRng::seed_from_u64`: the seed is 8 PCG32 outputs."""
        seed = b""
        for _ in range(8):
            state = (state * 6364136223846793005 + 11634580027462260723) & M64
            x, rot = (((state >> 18) ^ state) >> 27) & M32, state >> 59
            seed += (((x >> rot) | (x << (32 - rot))) & M32).to_bytes(4, "little")
        return cls(seed, rounds)

    def next_u32(self):
        if not self.words:
            init = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574, *self.key, self.counter & M32, self.counter >> 32, 0, 0]
            s = list(init)
            for _ in range(self.rounds // 2):
                _quarter(s, 0, 4, 8, 12); _quarter(s, 1, 5, 9, 13); _quarter(s, 2, 6, 10, 14); _quarter(s, 3, 7, 11, 15)
                _quarter(s, 0, 5, 10, 15); _quarter(s, 1, 6, 11, 12); _quarter(s, 2, 7, 8, 13); _quarter(s, 3, 4, 9, 14)
            self.words = [(a + b) & M32 for a, b in zip(s, init)]
            self.counter += 1
        return self.words.pop(0)


class Pcg32:
    """rand_pcg's Lcg64Xsh32::new (rand's test RNG): only to check `shuffle` against rand's test vector."""

    def __init__(self, state, stream):
        self.inc = ((stream << 1) | 1) & M64
        self.state = ((state + self.inc) * 6364136223846793005 + self.inc) & M64

    def next_u32(self):
        s = self.state
        self.state = (s * 6364136223846793005 + self.inc) & M64
        x, rot = (((s >> 18) ^ s) >> 27) & M32, s >> 59
        return ((x >> rot) | (x << (32 - rot))) & M32


def _below(rng, bound):
    """rand 0.9 `random_range(..bound)` for u32 (widening multiply, one extra sample when biased)."""
    m = rng.next_u32() * bound
    result, lo = m >> 32, m & M32
    if lo > (-bound) & M32 and lo + ((rng.next_u32() * bound) >> 32) > M32:
        result += 1
    return result


def shuffle(xs, rng):
    """rand 0.9 `SliceRandom::shuffle`: Fisher-Yates, indices drawn in chunks (IncreasingUniform)."""
    if len(xs) <= 1:
        return
    n, chunk, remaining = 0, 0, 1  # IncreasingUniform::new(rng, 0): the first index is 0, no draw
    for i in range(len(xs)):
        nxt = n + 1
        if remaining == 0:  # a new chunk: a number below nxt * (nxt + 1) * ... that fits in a u32
            bound, count = nxt, 1
            while bound * (nxt + count) <= M32:
                bound *= nxt + count
                count += 1
            chunk, remaining = _below(rng, bound), count
        remaining -= 1
        if remaining == 0:
            index = chunk
        else:
            index, chunk = chunk % nxt, chunk // nxt
        n = nxt
        xs[i], xs[index] = xs[index], xs[i]


def webtune_order(n, batch_size, seed, epoch=0):
    """data::epoch_order without length grouping: the batches (lists of row indices) of one epoch."""
    idx = list(range(n))
    shuffle(idx, ChaCha.seed_from_u64(((seed + epoch) & M64) * 0x9E3779B97F4A7C15 & M64))
    return [idx[i:i + batch_size] for i in range(0, n, batch_size)]


def _check_rng():
    r = ChaCha(bytes(32), rounds=20)  # rand_chacha's test_chacha_true_values_a (ChaCha20)
    assert [r.next_u32() for _ in range(17)][16] == 0xBEE7079F
    nums = list(range(13))  # rand 0.9's seq::slice test: shuffle with test::rng(414)
    shuffle(nums, Pcg32(414, 11634580027462260723))
    assert nums == [5, 11, 0, 8, 7, 12, 6, 4, 9, 3, 1, 2, 10], nums


# --- data ----------------------------------------------------------------------------------------------------


def load_tokenizer():
    """transformers' tokenizer from the GGUF, with the pre-tokenizer the GGUF names. transformers' GGUF
    converter gives SmolLM2 (`tokenizer.ggml.pre` = "smollm") plain ByteLevel; its tokenizer.json on
    the Hub, llama.cpp and webtune (src/tokenizer/gguf.rs) split digits first. Returns the tokenizer and
    the stock pre-tokenizer it replaced (None: the GGUF does not name SmolLM's, nothing replaced)."""
    from gguf import GGUFReader
    from tokenizers import pre_tokenizers

    tok = AutoTokenizer.from_pretrained(MODEL_DIR, gguf_file=GGUF)
    field = GGUFReader(str(MODEL_DIR / GGUF)).fields.get("tokenizer.ggml.pre")
    if field is None or bytes(field.parts[field.data[0]]).decode() != "smollm":
        return tok, None
    stock = tok.backend_tokenizer.pre_tokenizer
    tok.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)])
    return tok, stock


def pick_rows():
    rows = [r for r in json.loads(ALPACA.read_text()) if r["output"].strip() and r["instruction"].strip()]
    random.Random(0).shuffle(rows)
    pairs = [{"prompt": r["instruction"] + ("\n\n" + r["input"] if r["input"].strip() else ""), "completion": r["output"]}
             for r in rows]
    n, m = RECIPE["train_rows"], RECIPE["heldout_rows"]
    return pairs[:n], pairs[n:n + m]


def write_jsonl(path, pairs):
    path.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs))


def encode(tok, pair):
    """(ids, prompt length) as webtune's LmRowEncoder builds them (chat template, no added tokens), and
    whether tokenizing the whole conversation at once gives the same ids."""
    user = {"role": "user", "content": pair["prompt"]}
    asked = tok.apply_chat_template([user], add_generation_prompt=True, tokenize=False)
    answered = tok.apply_chat_template([user, {"role": "assistant", "content": pair["completion"]}], tokenize=False)
    assert answered.startswith(asked), "the chat template does not write the reply after the prompt"
    start = tok(asked, add_special_tokens=False).input_ids
    rest = tok(answered[len(asked):], add_special_tokens=False).input_ids
    return (start + rest)[:RECIPE["max_length"]], len(start), tok(answered, add_special_tokens=False).input_ids == start + rest


def encode_all(tok, pairs, what):
    rows, cut, joint_differs = [], 0, 0
    for p in pairs:
        ids, prompt, same = encode(tok, p)
        cut += len(ids) == RECIPE["max_length"]
        joint_differs += not same
        if len(ids) > max(prompt, 1):  # webtune leaves out rows with no target token left
            rows.append((ids, prompt))
    return rows, {f"{what}_rows": len(rows), f"{what}_cut": cut, f"{what}_dropped": len(pairs) - len(rows),
                  f"{what}_target_tokens": sum(len(i) - p for i, p in rows),
                  f"{what}_joint_tokenization_differs": joint_differs}


def batch(rows, pad):
    t = max(len(i) for i, _ in rows)
    ids = torch.tensor([i + [pad] * (t - len(i)) for i, _ in rows])
    mask = torch.tensor([[1] * len(i) + [0] * (t - len(i)) for i, _ in rows])
    labels = torch.tensor([[-100] * p + i[p:] + [-100] * (t - len(i)) for i, p in rows])
    return ids, mask, labels


def nll(model, rows, pad):
    """Summed cross-entropy of the rows' target tokens, and their number."""
    ids, mask, labels = batch(rows, pad)
    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
    targets = labels[:, 1:]
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                             ignore_index=-100, reduction="sum")
    return loss, int((targets != -100).sum())


def heldout_loss(model, rows, pad):
    model.eval()
    total, tokens = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(rows), RECIPE["batch_size"]):
            s, n = nll(model, rows[i:i + RECIPE["batch_size"]], pad)
            total, tokens = total + s.item(), tokens + n
    return total / tokens


# --- the two sides -------------------------------------------------------------------------------------------


def peft_run(tok, train, heldout, seed):
    started = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(MODEL_DIR, gguf_file=GGUF, dtype=torch.float32)
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    torch.manual_seed(seed)
    config = LoraConfig(r=RECIPE["rank"], lora_alpha=RECIPE["alpha"], target_modules=RECIPE["targets"],
                        lora_dropout=0.0, task_type="CAUSAL_LM")
    model = get_peft_model(model, config)
    before = heldout_loss(model, heldout, pad)
    trained = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    no_decay = lambda n: n.endswith(".bias") or "norm." in n  # webtune's rule (CausalLm::no_decay)
    groups = [{"params": [p for n, p in trained if not no_decay(n)], "weight_decay": RECIPE["weight_decay"]},
              {"params": [p for n, p in trained if no_decay(n)], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=RECIPE["lr"], betas=(0.9, 0.999), eps=1e-8)
    batches = [b for e in range(RECIPE["epochs"]) for b in webtune_order(len(train), RECIPE["batch_size"], seed, e)]
    sched = get_linear_schedule_with_warmup(opt, 0, len(batches))
    model.train()
    losses, norms, step_ms = [], [], []
    t_train = time.perf_counter()
    for b in batches:
        t0 = time.perf_counter()
        s, n = nll(model, [train[i] for i in b], pad)
        loss = s / n
        loss.backward()
        norms.append(torch.nn.utils.clip_grad_norm_([p for _, p in trained], RECIPE["max_grad_norm"]).item())
        opt.step()
        sched.step()
        opt.zero_grad()
        losses.append(loss.item())
        step_ms.append((time.perf_counter() - t0) * 1e3)
    train_s = time.perf_counter() - t_train
    after = heldout_loss(model, heldout, pad)
    return {"engine": "peft", "seed": seed, "before": before, "after": after, "improvement": before - after,
            "steps": len(batches), "train_s": train_s, "wall_s": time.perf_counter() - started,
            "median_step_ms": statistics.median(step_ms), "step_losses": losses, "grad_norms": norms,
            "heldout_tokens": sum(len(i) - p for i, p in heldout)}


def webtune_train(binary, data, heldout, seed, out):
    """The recipe's run through the CLI, every step logged; its events and wall time."""
    cmd = [binary, "train", "--task", "text-generation", "--model", str(MODEL_DIR / GGUF), "--data", str(data),
           "--validation", str(heldout), "--lora-rank", str(RECIPE["rank"]), "--lora-alpha", str(RECIPE["alpha"]),
           "--lora-targets", ",".join(RECIPE["targets"]), "--peft", "--learning-rate", str(RECIPE["lr"]),
           "--weight-decay", str(RECIPE["weight_decay"]), "--schedule", "linear", "--warmup-steps", "0",
           "--max-grad-norm", str(RECIPE["max_grad_norm"]), "--batch-size", str(RECIPE["batch_size"]),
           "--epochs", str(RECIPE["epochs"]), "--max-length", str(RECIPE["max_length"]), "--seed", str(seed),
           "--device", "cpu", "--json", "--log-every", "1", "--out", str(out), "--overwrite"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "RAYON_NUM_THREADS": "2"})
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"webtune train failed ({' '.join(cmd)}):\n{proc.stderr}")
    events = [json.loads(l) for l in proc.stdout.splitlines() if l.strip().startswith("{")]
    return events, wall


def webtune_before(binary, heldout_file):
    """The held-out loss before training: `webtune eval --task text-generation` on the base model
    (what the fresh adapters compute, B being zero)."""
    cmd = [binary, "eval", "--task", "text-generation", "--model", str(MODEL_DIR / GGUF), "--data", str(heldout_file),
           "--max-length", str(RECIPE["max_length"]), "--batch-size", str(RECIPE["batch_size"]), "--device", "cpu"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "RAYON_NUM_THREADS": "2"})
    if proc.returncode != 0:
        raise SystemExit(f"webtune eval failed ({' '.join(cmd)}):\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])["loss"]


def adapter_in_peft(adapter_dir, heldout, pad):
    """webtune's exported adapter loaded by PEFT onto transformers' model: its held-out loss."""
    from peft import PeftModel

    base = AutoModelForCausalLM.from_pretrained(MODEL_DIR, gguf_file=GGUF, dtype=torch.float32)
    return heldout_loss(PeftModel.from_pretrained(base, adapter_dir), heldout, pad)


def webtune_run(binary, train_file, heldout_file, heldout, pad, seed, work):
    before = webtune_before(binary, heldout_file)
    out = Path(work) / f"webtune-seed{seed}"
    events, wall = webtune_train(binary, train_file, heldout_file, seed, out)
    steps = [e for e in events if e["type"] == "step"]
    evals = [e for e in events if e["type"] == "eval"]
    start = next(e for e in events if e["type"] == "start")
    done = events[-1]
    after = evals[-1]["metrics"]["loss"]
    return {"engine": "webtune", "seed": seed, "before": before, "after": after, "improvement": before - after,
            "after_adapter_in_peft": adapter_in_peft(out, heldout, pad),
            "steps": done["steps"], "train_s": sum(e["stepMs"] for e in steps) / 1e3, "wall_s": wall,
            "median_step_ms": statistics.median(e["stepMs"] for e in steps), "step_losses": [e["loss"] for e in steps],
            "grad_norms": [e["gradNorm"] for e in steps], "heldout_tokens": evals[-1]["metrics"]["tokens"],
            "warnings": start["warnings"]}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--webtune", help="path to the webtune binary (without it only PEFT runs)")
    p.add_argument("--seeds", default="0,1")
    a = p.parse_args()
    torch.set_num_threads(2)
    _check_rng()
    seeds = [int(s) for s in a.seeds.split(",")]
    train_pairs, heldout_pairs = pick_rows()
    tok, stock = load_tokenizer()
    train, info = encode_all(tok, train_pairs, "train")
    heldout, more = encode_all(tok, heldout_pairs, "heldout")
    if stock is not None:  # rows whose ids the stock GGUF pre-tokenizer (no digit split) would change
        ours = tok.backend_tokenizer.pre_tokenizer
        tok.backend_tokenizer.pre_tokenizer = stock
        more["rows_the_stock_gguf_tokenizer_changes"] = sum(
            x != y for x, y in zip(train + heldout, encode_all(tok, train_pairs, "train")[0] + encode_all(tok, heldout_pairs, "heldout")[0]))
        tok.backend_tokenizer.pre_tokenizer = ours
    print(json.dumps({"data": {**info, **more}}), flush=True)
    results = []
    with tempfile.TemporaryDirectory() as work:
        train_file, heldout_file = Path(work) / "train.jsonl", Path(work) / "heldout.jsonl"
        write_jsonl(train_file, train_pairs)
        write_jsonl(heldout_file, heldout_pairs)
        for seed in seeds:
            runs = [lambda: peft_run(tok, train, heldout, seed)]
            if a.webtune:
                pad = tok.pad_token_id if tok.pad_token_id is not None else 0
                runs.append(lambda: webtune_run(a.webtune, train_file, heldout_file, heldout, pad, seed, work))
            for run in runs:
                r = run()
                print(json.dumps(r), flush=True)
                results.append(r)
    print("\n| engine | seed | held-out loss before | after | improvement | first step loss | train s | median step ms |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['engine']} | {r['seed']} | {r['before']:.4f} | {r['after']:.4f} | {r['improvement']:.4f} | "
              f"{r['step_losses'][0]:.4f} | {r['train_s']:.0f} | {r['median_step_ms']:.0f} |")
    mean = lambda e: statistics.mean(r["after"] for r in results if r["engine"] == e)
    print(f"\nPEFT mean held-out loss after training: {mean('peft'):.4f}")
    if a.webtune:
        # Same rows, same batches, same rendering: the held-out target tokens must match, and the
        # first step's loss (the first batch under the untouched base model) must agree closely.
        for seed in seeds:
            peft, ours = (next(r for r in results if r["engine"] == e and r["seed"] == seed) for e in ("peft", "webtune"))
            print(f"seed {seed}: first step loss PEFT {peft['step_losses'][0]:.4f}, webtune {ours['step_losses'][0]:.4f}; "
                  f"held-out target tokens PEFT {peft['heldout_tokens']}, webtune {ours['heldout_tokens']}; "
                  f"webtune's adapter loaded by PEFT: held-out loss {ours['after_adapter_in_peft']:.4f} "
                  f"(webtune's own {ours['after']:.4f})")
        diff = mean("webtune") - mean("peft")
        print(f"webtune mean: {mean('webtune'):.4f}, difference {diff:+.4f} (bar: within {BAR}): "
              f"{'PASS' if abs(diff) <= BAR else 'FAIL'}")


if __name__ == "__main__":
    main()
