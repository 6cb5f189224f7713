"""Golden fixtures for GPT-2, produced by transformers (no real GPT-2 weights are available here:
a tiny random GPT2LMHeadModel, plus the real GPT-2 tokenizer from the assets).

Run from the repository root with the reference environment (tests/reference/setup.sh):

    WEBTUNE_ASSETS=../shared/assets ~/.cache/webtune/refenv/bin/python tests/reference/make_gpt2_fixtures.py

Writes tests/fixtures/gpt2/:
  tiny/config.json, tiny/model.safetensors   GPT2LMHeadModel (n_embd 32, 2 layers, 4 heads, 64
                                             positions, tied head) over a 400-token byte-level BPE
  tiny/tokenizer.json                        that BPE (GPT-2's pre-tokenizer and decoder)
  expected.json  {"tiny": {"prompt", "input_ids", "logits" (every position), "greedy" (20 new tokens,
                  greedy, the same without and with the cache: transformers' generate), "batch": {"texts",
                  "input_ids", "attention_mask", "last_logits" (each row's last real token)} (right-padded)},
                  "tokenizer": {"texts", "ids"} (the real GPT-2 tokenizer from the assets)}
"""
import json
import os
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fixtures" / "gpt2"
ASSETS = Path(os.environ.get("WEBTUNE_ASSETS", ROOT.parent / "shared" / "assets"))
PROMPT = "the movie was a delight"
BATCH = ["a tedious , pointless mess", "dull", "charming and moving , the best film of the year"]
TOKENIZER_TEXTS = ["Hello world! It's 2026.", "  spaces\tand\nnewlines  ", "café naïve — 東京 🙂", "<|endoftext|>"]


def tiny_tokenizer() -> Tokenizer:
    lines = (ASSETS / "data/sst2/train.tsv").read_text().splitlines()[1:3001]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator([l.split("\t")[0] for l in lines], trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return tok


def floats(t):
    return [round(float(x), 6) for x in t.flatten()]


def main():
    (OUT / "tiny").mkdir(parents=True, exist_ok=True)
    tok = tiny_tokenizer()
    tok.save(str(OUT / "tiny" / "tokenizer.json"))
    eos = tok.token_to_id("<|endoftext|>")
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=tok.get_vocab_size(), n_positions=64, n_embd=32, n_layer=2, n_head=4,
                        initializer_range=0.25, bos_token_id=eos, eos_token_id=eos)
    model = GPT2LMHeadModel(config).eval()
    model.save_pretrained(OUT / "tiny")
    (OUT / "tiny" / "generation_config.json").unlink(missing_ok=True)
    fast = PreTrainedTokenizerFast(tokenizer_file=str(OUT / "tiny" / "tokenizer.json"), pad_token="<|endoftext|>")
    ids = fast(PROMPT, return_tensors="pt")["input_ids"]
    # generation runs its full length (no stop at <|endoftext|>), so the cache is used for 20 steps
    model.generation_config.eos_token_id = None
    with torch.no_grad():
        logits = model(ids).logits
        greedy = {
            cache: model.generate(ids, max_new_tokens=20, do_sample=False, use_cache=cache, pad_token_id=eos, eos_token_id=None)[0, ids.shape[1]:].tolist()
            for cache in (False, True)
        }
        batch = fast(BATCH, padding="longest", return_tensors="pt")
        batch_logits = model(**batch).logits
        last = batch["attention_mask"].sum(1) - 1  # each row's last real token
        batch_logits = batch_logits[torch.arange(len(BATCH)), last]
    assert greedy[False] == greedy[True]
    real = Tokenizer.from_file(str(ASSETS / "tokenizers/gpt2/tokenizer.json"))
    expected = {
        "tiny": {
            "prompt": PROMPT, "input_ids": ids[0].tolist(), "logits": floats(logits), "greedy": greedy[True],
            "batch": {"texts": BATCH, "input_ids": batch["input_ids"].tolist(), "attention_mask": batch["attention_mask"].tolist(),
                      "last_logits": floats(batch_logits)},
        },
        "tokenizer": {"texts": TOKENIZER_TEXTS, "ids": [real.encode(t).ids for t in TOKENIZER_TEXTS]},
    }
    (OUT / "expected.json").write_text(json.dumps(expected, indent=1))
    print(f"{sum(p.numel() for p in model.parameters())} parameters; greedy {greedy[True]}")


if __name__ == "__main__":
    main()
