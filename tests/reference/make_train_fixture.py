"""Golden training steps for the fine-tuning loop, produced by PyTorch (the reference).

Run from the repository root after make_bert_fixtures.py (reads tiny-cls3 and tokenizer.json):

    ~/.cache/webtune/refenv/bin/python tests/reference/make_train_fixture.py

Writes tests/fixtures/bert/train-steps/:
  config.json     tiny-cls3's config with dropout 0 (so both sides compute the same thing)
  expected.json   the data, the recipe, and per optimizer step: loss (before the update),
                  global gradient norm (before clipping), learning rate; then the logits of the
                  trained model on the data.
Recipe = what Hugging Face's Trainer does: AdamW (betas 0.9/0.999, eps 1e-8), weight decay 0.01
except biases and LayerNorm weights, linear schedule with warmup, clip_grad_norm_(1.0); one batch
of all rows (padded to the longest) per step.
"""
import json
from pathlib import Path

import torch
from transformers import (BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast,
                          get_linear_schedule_with_warmup)

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "tests" / "fixtures" / "bert"
OUT = FIX / "train-steps"
ROWS = [
    ("a delight from start to finish", "positive"),
    ("the best film of the year", "positive"),
    ("warm , funny and wise", "positive"),
    ("charming and moving", "positive"),
    ("dull", "negative"),
    ("a tedious , pointless mess", "negative"),
    ("the worst movie i have seen", "negative"),
    ("boring and far too long", "negative"),
    ("it is a movie", "neutral"),
    ("the film runs two hours", "neutral"),
    ("released in the fall", "neutral"),
    ("based on a novel", "neutral"),
]
RECIPE = {"learning_rate": 1e-3, "weight_decay": 0.01, "warmup_steps": 2, "steps": 5, "max_grad_norm": 1.0}


def run_recipe(model, cfg, tok) -> list:
    """The recipe on all ROWS (one batch per step): per step the loss, the gradient norm before
    clipping and the learning rate. Only parameters that require gradients train (LoRA)."""
    model.train()
    enc = tok([t for t, _ in ROWS], padding="longest", return_tensors="pt", return_token_type_ids=False)
    labels = torch.tensor([cfg["label2id"][l] for _, l in ROWS])
    no_decay = lambda n: n.endswith(".bias") or "LayerNorm.weight" in n or "layer_norm.weight" in n
    trained = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    params = [
        {"params": [p for n, p in trained if not no_decay(n)], "weight_decay": RECIPE["weight_decay"]},
        {"params": [p for n, p in trained if no_decay(n)], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(params, lr=RECIPE["learning_rate"], betas=(0.9, 0.999), eps=1e-8)
    sched = get_linear_schedule_with_warmup(opt, RECIPE["warmup_steps"], RECIPE["steps"])
    steps = []
    for _ in range(RECIPE["steps"]):
        lr = sched.get_last_lr()[0]
        loss = model(**enc, labels=labels).loss
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_([p for _, p in trained], RECIPE["max_grad_norm"])
        opt.step()
        sched.step()
        opt.zero_grad()
        steps.append({"loss": loss.item(), "grad_norm": norm.item(), "learning_rate": lr})
    return steps


def main():
    torch.manual_seed(0)
    OUT.mkdir(parents=True, exist_ok=True)
    cfg = json.loads((FIX / "tiny-cls3" / "config.json").read_text())
    cfg.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (OUT / "config.json").write_text(json.dumps(cfg, indent=2))
    model = BertForSequenceClassification.from_pretrained(FIX / "tiny-cls3", config=BertConfig(**cfg))
    tok = PreTrainedTokenizerFast(tokenizer_file=str(FIX / "tokenizer.json"), pad_token="[PAD]")
    steps = run_recipe(model, cfg, tok)
    enc = tok([t for t, _ in ROWS], padding="longest", return_tensors="pt")
    model.eval()
    with torch.no_grad():
        logits = model(**enc).logits
    expected = {"rows": [{"text": t, "label": l} for t, l in ROWS], "recipe": RECIPE, "steps": steps,
                "logits": [[round(float(x), 7) for x in row] for row in logits]}
    (OUT / "expected.json").write_text(json.dumps(expected, indent=1))
    for i, s in enumerate(steps):
        print(f"step {i}: loss {s['loss']:.6f} grad_norm {s['grad_norm']:.6f} lr {s['learning_rate']:.2e}")


if __name__ == "__main__":
    main()
