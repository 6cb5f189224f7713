"""Golden causal-LM fine-tuning steps, produced by PyTorch + transformers (the reference).

Run from the repository root after make_llama_fixtures.py (reads tests/fixtures/llama/tiny):

    ~/.cache/webtune/refenv/bin/python tests/reference/make_lm_train_fixture.py

Writes tests/fixtures/llama/train-steps/:
  tokenizer.json  a character-level tokenizer for the tiny model (vocab < 96; BOS added by its
                  post-processor, as Llama's tokenizer.json does)
  expected.json   the rows, the recipe, and for three runs — "pairs" (prompt/completion: only the
                  completion is learned), "texts" (every token learned) and "lora" (the pairs with
                  a PEFT LoRA adapter, rank 4, alpha 8, on q_proj and v_proj; base frozen) — per
                  optimizer step the loss (before the update), the global gradient norm (before
                  clipping) and the learning rate; then the trained model's loss on the rows.
  lora-init/      PEFT's freshly initialised adapter (adapter_model.safetensors, adapter_config.json):
                  webtune starts from the same A matrices (PEFT draws them with kaiming-uniform)
  lora-trained/   the adapter after the "lora" run, for comparing weights
and the same runs of tests/fixtures/llama/tiny-qwen2, tiny-qwen3 and tiny-gemma3 (their biases and per-head
norms train too) in train-steps-qwen2/, train-steps-qwen3/ and train-steps-gemma3/ (expected.json, lora-init/,
lora-trained/; the tokenizer is train-steps/'s).
Recipe = Hugging Face Trainer's: AdamW (0.9/0.999, eps 1e-8), weight decay 0.01 except biases and
norm weights, linear schedule with warmup, clip_grad_norm_(1.0), one batch of all rows per step
(right-padded, padding and prompt labels -100), LlamaForCausalLM(labels=…).loss.
"""
import json
from pathlib import Path

import torch
from tokenizers import Tokenizer, models, processors
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast, get_linear_schedule_with_warmup

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "tests" / "fixtures" / "llama"
OUT = FIX / "train-steps"
CHARS = " abcdefghijklmnopqrstuvwxyz.,!?'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:;-"
PAIRS = [
    ("Q: two plus two? A:", " four."),
    ("Q: capital of France? A:", " Paris."),
    ("Q: color of the sky? A:", " blue."),
    ("Say hi:", " hi!"),
    ("Q: opposite of up? A:", " down."),
    ("Count: 1 2 3", " 4 5 6"),
]
TEXTS = ["once upon a time", "the cat sat on the mat.", "ROMEO: what light?", "a b c d e f g"]
RECIPE = {"learning_rate": 1e-2, "weight_decay": 0.01, "warmup_steps": 2, "steps": 5, "max_grad_norm": 1.0}


def tokenizer() -> PreTrainedTokenizerFast:
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for c in CHARS:
        vocab[c] = len(vocab)
    assert len(vocab) <= 96
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    OUT.mkdir(parents=True, exist_ok=True)
    tok.save(str(OUT / "tokenizer.json"))
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")


def encode(tok, prompt, completion):
    """ids and labels as webtune builds them: prompt with its BOS, completion + EOS."""
    start = tok(prompt if prompt is not None else "").input_ids
    rest = tok(completion, add_special_tokens=False).input_ids + [2]
    ids = start + rest
    labels = ([-100] * len(start) if prompt is not None else [-100] + start[1:]) + rest
    return ids, labels


def batch(rows):
    t = max(len(i) for i, _ in rows)
    ids = torch.tensor([i + [0] * (t - len(i)) for i, _ in rows])
    labels = torch.tensor([l + [-100] * (t - len(l)) for _, l in rows])
    mask = torch.tensor([[1] * len(i) + [0] * (t - len(i)) for i, _ in rows])
    return ids, mask, labels


def train_steps(model, rows, no_decay):
    """The recipe on `rows` (one batch of all of them per step): per step the loss, the gradient
    norm before clipping and the learning rate; then the trained model's loss. Only parameters that
    require gradients train (LoRA); `no_decay(name)` picks those without weight decay."""
    model.train()
    ids, mask, labels = batch(rows)
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
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_([p for _, p in trained], RECIPE["max_grad_norm"])
        opt.step()
        sched.step()
        opt.zero_grad()
        steps.append({"loss": loss.item(), "grad_norm": norm.item(), "learning_rate": lr})
    model.eval()
    with torch.no_grad():
        final = model(input_ids=ids, attention_mask=mask, labels=labels).loss.item()
    return {"steps": steps, "final_loss": final, "ids": ids.tolist(), "labels": labels.tolist()}


def save_adapter(model, folder):
    model.save_pretrained(folder)
    (folder / "README.md").unlink()


def run(rows, lora=False, model_name="tiny", out=OUT):
    model = AutoModelForCausalLM.from_pretrained(FIX / model_name)
    if lora:
        config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], lora_dropout=0.0,
                            task_type="CAUSAL_LM")
        model = get_peft_model(model, config)
        save_adapter(model, out / "lora-init")
    result = train_steps(model, rows, lambda n: n.endswith(".bias") or "norm" in n)
    if lora:
        save_adapter(model, out / "lora-trained")
    return result


def print_runs(runs):
    for name, r in runs.items():
        for i, s in enumerate(r["steps"]):
            print(f"{name} step {i}: loss {s['loss']:.6f} grad_norm {s['grad_norm']:.6f} lr {s['learning_rate']:.2e}")
        print(f"{name} final loss {r['final_loss']:.6f}")


def runs(tok, model_name="tiny", out=OUT):
    torch.manual_seed(0)
    out.mkdir(parents=True, exist_ok=True)
    pairs = run([encode(tok, p, c) for p, c in PAIRS], model_name=model_name, out=out)
    texts = run([encode(tok, None, t) for t in TEXTS], model_name=model_name, out=out)
    lora = run([encode(tok, p, c) for p, c in PAIRS], lora=True, model_name=model_name, out=out)
    expected = {"pairs": [{"prompt": p, "completion": c} for p, c in PAIRS], "texts": TEXTS, "recipe": RECIPE,
                "runs": {"pairs": pairs, "texts": texts, "lora": lora}}
    (out / "expected.json").write_text(json.dumps(expected, indent=1))
    print(model_name)
    print_runs(expected["runs"])


def main():
    tok = tokenizer()
    runs(tok)
    for family in ("qwen2", "qwen3", "gemma3"):
        runs(tok, f"tiny-{family}", FIX / f"train-steps-{family}")


if __name__ == "__main__":
    main()
