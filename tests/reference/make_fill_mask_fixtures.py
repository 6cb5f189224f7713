"""Golden fixtures for masked language modelling (fill-mask) on every encoder family.

Tiny random *ForMaskedLM checkpoints saved by transformers (their output embeddings tied to the
input ones), and what transformers and PyTorch compute with them. Run from the repository root
after make_encoder_fixtures.py (its tokenizers are reused) with the reference environment
(tests/reference/setup.sh):

    ~/.cache/webtune/refenv/bin/python tests/reference/make_fill_mask_fixtures.py

Writes tests/fixtures/fill-mask/:
  <family>/config.json, model.safetensors   the model
  <family>/tokenizer.json                    tests/fixtures/encoders/<family>/'s, its special tokens declared
  <family>/train-config.json                 the same with dropout 0, for the step-by-step comparison
  <family>/expected.json  {"mask", "texts", "pipeline": [[{score, token, token_str, sequence}]] (top 5;
                           a text with two masks: one list per mask), "targets": {"text", "targets", "result"},
                           "batch": {"texts", "input_ids", "attention_mask", "labels"} (masked by
                           DataCollatorForLanguageModeling, seed 0), "word_ids" (its whole-word grouping),
                           "recipe", "steps": [{"loss", "grad_norm", "learning_rate"}]}
  statistics.json         what DataCollatorForLanguageModeling masks over many tokens: the fraction
                          of tokens chosen, and of those replaced by the mask, by a random token, kept
Versions used are recorded in tests/fixtures/fill-mask/VERSIONS.json.
"""
import json
import platform
import sys
from pathlib import Path

import numpy as np
import torch
import transformers
from tokenizers import AddedToken, Tokenizer
from transformers import (AutoModelForMaskedLM, BertConfig, DataCollatorForLanguageModeling, DistilBertConfig,
                          PreTrainedTokenizerFast, RobertaConfig, XLMRobertaConfig, get_linear_schedule_with_warmup,
                          pipeline)

sys.path.insert(0, str(Path(__file__).parent))
from make_train_fixture import RECIPE  # noqa: E402
from make_encoder_fixtures import SMALL  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fixtures" / "fill-mask"
ENCODERS = ROOT / "tests" / "fixtures" / "encoders"
SENTENCES = [
    "the movie was a delight from start to finish",
    "dull and far too long",
    "an ambitious, sprawling film that never quite finds its footing",
    "warm, funny and wise",
    "a tedious mess",
    "Zürich-based startups said the café was naïve",
    "the best film of the year",
    "boring",
]


def write_tokenizer(name: str, out: Path):
    """The family's fixture tokenizer, with its special tokens declared as the real checkpoints'
    tokenizer.json files declare them (XLM-RoBERTa's fixture Unigram declares none: its <mask>
    strips the space before it, as xlm-roberta-base's does)."""
    tok = Tokenizer.from_file(str(ENCODERS / name / "tokenizer.json"))
    if name == "xlm-roberta":
        tok.add_special_tokens([AddedToken(t, special=True) for t in ("<s>", "<pad>", "</s>", "<unk>")]
                               + [AddedToken("<mask>", lstrip=True, special=True)])
    tok.save(str(out / "tokenizer.json"))


def fast_tokenizer(out: Path, pad: str, mask: str, unk: str):
    return PreTrainedTokenizerFast(tokenizer_file=str(out / "tokenizer.json"), pad_token=pad, mask_token=mask,
                                   unk_token=unk, model_max_length=64)


def family(name: str, config, pad: str, mask: str, unk: str):
    out = OUT / name
    out.mkdir(parents=True, exist_ok=True)
    write_tokenizer(name, out)
    fast = fast_tokenizer(out, pad, mask, unk)
    torch.manual_seed(0)
    model = AutoModelForMaskedLM.from_config(config)
    model.save_pretrained(out)
    (out / "README.md").unlink(missing_ok=True)
    model.eval()
    texts = [f"the movie was a {mask} from start to finish", f"{mask} movie was {mask}.", f"Zürich {mask} naïve"]
    fill = pipeline("fill-mask", model=model, tokenizer=fast, device="cpu")
    plain = lambda x: {k: (float(v) if k == "score" else v) for k, v in x.items()}
    results = []
    for t in texts:
        r = fill(t, top_k=5)
        results.append([[plain(p) for p in m] for m in r] if isinstance(r[0], list) else [plain(p) for p in r])
    targets = ["delight", "dull", "film", "zzzq"]
    targeted = [plain(p) for p in fill(texts[0], targets=targets, top_k=3)]
    expected = {"mask": mask, "texts": texts, "pipeline": results, "targets": {"text": texts[0], "targets": targets, "result": targeted}}

    # continued pretraining: one batch masked by the collator, make_train_fixture.py's recipe, dropout 0
    cfg = json.loads((out / "config.json").read_text())
    for key in ("hidden_dropout_prob", "attention_probs_dropout_prob", "dropout", "attention_dropout"):
        if key in cfg:
            cfg[key] = 0.0
    (out / "train-config.json").write_text(json.dumps(cfg, indent=2))
    enc = fast(SENTENCES, padding="longest", return_special_tokens_mask=True, return_offsets_mapping=True, return_token_type_ids=False)
    collator = DataCollatorForLanguageModeling(fast, mlm_probability=0.15, seed=0)
    batch = collator([{"input_ids": i, "attention_mask": a, "special_tokens_mask": s} for i, a, s in
                      zip(enc["input_ids"], enc["attention_mask"], enc["special_tokens_mask"])])
    word_ids, _ = DataCollatorForLanguageModeling._calc_word_ids_and_prob_mask(
        np.array(enc["offset_mapping"]), np.array(enc["special_tokens_mask"]))
    expected.update(
        batch={"texts": SENTENCES, "input_ids": batch["input_ids"].tolist(), "attention_mask": batch["attention_mask"].tolist(),
               "labels": batch["labels"].tolist(), "original_ids": enc["input_ids"]},
        word_ids=word_ids.tolist(), recipe=RECIPE,
        steps=train_steps(out, type(config)(**cfg), batch))
    (out / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False))
    print(f"{name}: top token {results[0][0]['token_str']!r}, steps {[round(s['loss'], 5) for s in expected['steps']]}")
    return fast


def train_steps(out: Path, config, batch) -> list:
    model = AutoModelForMaskedLM.from_pretrained(out, config=config)
    model.train()
    no_decay = lambda n: n.endswith(".bias") or "LayerNorm.weight" in n or "layer_norm.weight" in n
    named = list(model.named_parameters())
    params = [
        {"params": [p for n, p in named if not no_decay(n)], "weight_decay": RECIPE["weight_decay"]},
        {"params": [p for n, p in named if no_decay(n)], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(params, lr=RECIPE["learning_rate"], betas=(0.9, 0.999), eps=1e-8)
    sched = get_linear_schedule_with_warmup(opt, RECIPE["warmup_steps"], RECIPE["steps"])
    steps = []
    for _ in range(RECIPE["steps"]):
        lr = sched.get_last_lr()[0]
        loss = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"]).loss
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), RECIPE["max_grad_norm"])
        opt.step()
        sched.step()
        opt.zero_grad()
        steps.append({"loss": loss.item(), "grad_norm": norm.item(), "learning_rate": lr})
    return steps


def statistics(fast):
    """The collator over 400 copies of the sentences: which tokens it chooses and what it does with them."""
    enc = fast(SENTENCES * 50, padding="longest", return_special_tokens_mask=True, return_token_type_ids=False)
    collator = DataCollatorForLanguageModeling(fast, mlm_probability=0.15, seed=1)
    batch = collator([{"input_ids": i, "attention_mask": a, "special_tokens_mask": s} for i, a, s in
                      zip(enc["input_ids"], enc["attention_mask"], enc["special_tokens_mask"])])
    original = torch.tensor(enc["input_ids"])
    special = torch.tensor(enc["special_tokens_mask"]).bool()
    chosen = batch["labels"] != -100
    masked = chosen & (batch["input_ids"] == fast.mask_token_id)
    kept = chosen & (batch["input_ids"] == original)
    n = int(chosen.sum())
    (OUT / "statistics.json").write_text(json.dumps({
        "mlm_probability": 0.15, "eligible_tokens": int((~special).sum()), "chosen": n,
        "chosen_fraction": n / int((~special).sum()), "mask_fraction": int(masked.sum()) / n,
        "kept_fraction": int(kept.sum()) / n, "random_fraction": (n - int(masked.sum()) - int(kept.sum())) / n,
        "special_chosen": int((chosen & special).sum()),
    }, indent=1))


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    wordpiece = json.loads((ENCODERS / "bert" / "tokenizer.json").read_text())
    vocab = len(wordpiece["model"]["vocab"])
    roberta_like = dict(**SMALL, max_position_embeddings=66, type_vocab_size=1, pad_token_id=1,
                        bos_token_id=0, eos_token_id=2, layer_norm_eps=1e-5)
    size = lambda name: PreTrainedTokenizerFast(tokenizer_file=str(ENCODERS / name / "tokenizer.json")).backend_tokenizer.get_vocab_size()
    bert = family("bert", BertConfig(vocab_size=vocab, max_position_embeddings=64, **SMALL), "[PAD]", "[MASK]", "[UNK]")
    family("distilbert", DistilBertConfig(vocab_size=vocab, dim=32, n_layers=2, n_heads=4, hidden_dim=37,
                                          max_position_embeddings=64, initializer_range=0.25, pad_token_id=0),
           "[PAD]", "[MASK]", "[UNK]")
    family("roberta", RobertaConfig(vocab_size=size("roberta"), **roberta_like), "<pad>", "<mask>", "<unk>")
    family("xlm-roberta", XLMRobertaConfig(vocab_size=size("xlm-roberta"), **roberta_like), "<pad>", "<mask>", "<unk>")
    statistics(bert)
    (OUT / "VERSIONS.json").write_text(json.dumps({
        "python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
    }, indent=1))


if __name__ == "__main__":
    main()
