"""Golden GPT-2 fine-tuning steps, produced by PyTorch + transformers + PEFT (the reference), with
the recipe and rows of make_lm_train_fixture.py.

Run from the repository root after make_gpt2_fixtures.py (reads tests/fixtures/gpt2/tiny):

    ~/.cache/webtune/refenv/bin/python tests/reference/make_gpt2_train_fixture.py

Writes tests/fixtures/gpt2/train-steps/:
  config.json     tiny's config with every dropout 0 (so both sides compute the same thing)
  expected.json   the rows, the recipe, and for three runs — "pairs" (prompt/completion: only the
                  completion is learned), "texts" (every token learned) and "lora" (the pairs with
                  a PEFT LoRA adapter, rank 4, alpha 8, on c_attn, c_proj and c_fc — HF Conv1D
                  layers, fan_in_fan_out — base frozen) — per optimizer step the loss (before the
                  update), the global gradient norm (before clipping) and the learning rate; then
                  the trained model's loss on the rows.
  lora-init/      PEFT's freshly initialised adapter (webtune starts from the same A matrices)
  lora-trained/   the adapter after the "lora" run
GPT-2's tokenizer adds no BOS: a text's first token is read, never predicted. No weight decay on
biases and LayerNorm parameters (ln_1, ln_2, ln_f), as Hugging Face's Trainer.
"""
import json

import torch
from peft import LoraConfig, get_peft_model
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

from make_lm_train_fixture import PAIRS, RECIPE, ROOT, TEXTS, print_runs, save_adapter, train_steps

FIX = ROOT / "tests" / "fixtures" / "gpt2"
OUT = FIX / "train-steps"
LORA = {"r": 4, "lora_alpha": 8, "target_modules": ["c_attn", "c_proj", "c_fc"]}


def encode(tok, prompt, completion):
    """ids and labels as webtune builds them: the prompt (no BOS), then the completion + EOS."""
    start = tok(prompt).input_ids if prompt is not None else []
    rest = tok(completion, add_special_tokens=False).input_ids + [tok.eos_token_id]
    return start + rest, [-100] * len(start) + rest


def run(config, rows, lora=False):
    model = GPT2LMHeadModel.from_pretrained(FIX / "tiny", config=config)
    if lora:
        model = get_peft_model(model, LoraConfig(**LORA, lora_dropout=0.0, fan_in_fan_out=True, task_type="CAUSAL_LM"))
        save_adapter(model, OUT / "lora-init")
    result = train_steps(model, rows, lambda n: n.endswith(".bias") or ".ln_" in n)
    if lora:
        save_adapter(model, OUT / "lora-trained")
    return result


def main():
    torch.manual_seed(0)
    OUT.mkdir(parents=True, exist_ok=True)
    cfg = json.loads((FIX / "tiny" / "config.json").read_text())
    cfg.update(resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    (OUT / "config.json").write_text(json.dumps(cfg, indent=2))
    config = GPT2Config(**cfg)
    tok = PreTrainedTokenizerFast(tokenizer_file=str(FIX / "tiny" / "tokenizer.json"), eos_token="<|endoftext|>")
    pairs = [encode(tok, p, c) for p, c in PAIRS]
    expected = {"pairs": [{"prompt": p, "completion": c} for p, c in PAIRS], "texts": TEXTS, "recipe": RECIPE, "lora": LORA,
                "runs": {"pairs": run(config, pairs), "texts": run(config, [encode(tok, None, t) for t in TEXTS]),
                         "lora": run(config, pairs, lora=True)}}
    (OUT / "expected.json").write_text(json.dumps(expected, indent=1))
    print_runs(expected["runs"])


if __name__ == "__main__":
    main()
