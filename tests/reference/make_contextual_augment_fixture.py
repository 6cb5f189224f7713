"""Contextual augmentation (Kobayashi 2018) as transformers' fill-mask pipeline fills it, for
tests/augment.rs: the tiny random BertForMaskedLM of tests/fixtures/fill-mask/bert (written by
make_fill_mask_fixtures.py) predicts the words, under the rule webtune documents
(src/data/contextual.rs, src/infer/contextual_augment.rs):

- the plan: Python's random.Random(seed); substitute: the words with a letter or digit,
  n = max(1, int(rate * len(them))) of them drawn with rng.sample; insert: n = max(1, int(rate *
  words)) gaps of 0..=words drawn with rng.sample. Each slot is masked alone in the original text
  (a word's punctuation stays around the mask);
- a slot's candidates: the pipeline's tokens by score, kept when they start a word (no "##"),
  decode to a word (letters and digits, "'" or "-" inside), differ from the replaced word
  (ignoring case) and from the ones kept before; the first 20;
- the filler: rng.choices(candidates, weights=scores), slot after slot.

    ~/.cache/webtune/refenv/bin/python tests/reference/make_contextual_augment_fixture.py

Writes tests/fixtures/augment/contextual.json.
"""
import json
import random
from pathlib import Path

import torch
import transformers
from transformers import AutoModelForMaskedLM, PreTrainedTokenizerFast, pipeline

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "tests/fixtures/fill-mask/bert"
CANDIDATES = 20
CASES = [
    ("substitute", "the movie was a delight from start to finish", 0.1, 0),
    ("substitute", "the movie was a delight from start to finish", 0.5, 7),
    ("substitute", "dull , and far too long .", 0.3, 1),
    ("substitute", "warm, funny and wise", 1.0, 42),
    ("insert", "a tedious mess", 0.5, 3),
    ("insert", "the best film of the year", 0.2, 11),
    ("insert", "boring", 1.0, 2**40 + 3),
]


def split_word(word):
    core = word.strip("".join(c for c in set(word) if not c.isalnum()))
    start = word.find(core) if core else 0
    return word[:start], core, word[start + len(core):]


def is_word(w):
    return any(c.isalnum() for c in w) and all(c.isalnum() or c in "'-" for c in w)


def main():
    tok = PreTrainedTokenizerFast(tokenizer_file=str(MODEL / "tokenizer.json"), pad_token="[PAD]", mask_token="[MASK]", unk_token="[UNK]",
                                  model_max_length=64)
    model = AutoModelForMaskedLM.from_pretrained(MODEL).eval()
    fill = pipeline("fill-mask", model=model, tokenizer=tok, device="cpu")
    vocab = len(tok)
    cases = []
    for op, text, rate, seed in CASES:
        rng = random.Random(seed)
        words = text.split()
        if op == "substitute":
            choices = [i for i, w in enumerate(words) if split_word(w)[1]]
        else:
            choices = list(range(len(words) + 1))
        n = min(max(1, int(rate * len(choices))), len(choices))
        slots = rng.sample(choices, n)
        masked, fills = [], []
        for slot in slots:
            if op == "substitute":
                before, core, after = split_word(words[slot])
                masked_words = words[:slot] + [f"{before}[MASK]{after}"] + words[slot + 1:]
                replaced = core.lower()
            else:
                masked_words = words[:slot] + ["[MASK]"] + words[slot:]
                replaced = None
            m = " ".join(masked_words)
            masked.append(m)
            kept = []
            with torch.no_grad():
                ranked = fill(m, top_k=vocab)
            for p in ranked:
                if len(kept) == CANDIDATES:
                    break
                raw = tok.convert_ids_to_tokens(p["token"])
                word = tok.decode([p["token"]], skip_special_tokens=True).strip()
                if raw.startswith("##") or not is_word(word) or word.lower() == replaced or any(w == word for w, _ in kept):
                    continue
                kept.append((word, float(p["score"])))
            fills.append(kept)
        chosen = [rng.choices(range(len(c)), weights=[s for _, s in c])[0] if c else None for c in fills]
        out = list(words)
        if op == "substitute":
            for slot, c, k in zip(slots, chosen, fills):
                if c is not None:
                    before, _, after = split_word(out[slot])
                    out[slot] = before + k[c][0] + after
        else:
            for slot, c, k in sorted(zip(slots, chosen, fills), key=lambda t: -t[0]):
                if c is not None:
                    out.insert(slot, k[c][0])
        cases.append({"op": op, "text": text, "rate": rate, "seed": seed, "slots": slots, "masked": masked,
                      "candidates": [[{"word": w, "score": s} for w, s in k] for k in fills], "result": " ".join(out)})
    path = ROOT / "tests/fixtures/augment/contextual.json"
    path.write_text(json.dumps({"transformers": transformers.__version__, "candidates": CANDIDATES, "cases": cases}, indent=1) + "\n")
    print(f"{len(cases)} cases: " + "; ".join(c["result"] for c in cases))


if __name__ == "__main__":
    main()
