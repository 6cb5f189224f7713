"""Golden fixture for generation options, produced by transformers' own logits processors and generate.

Run from the repository root after make_llama_fixtures.py (it reads tests/fixtures/llama/tiny):

    py=$(tests/reference/setup.sh)
    $py tests/reference/make_sampling_fixture.py

Writes tests/fixtures/llama/sampling.json:
  processors   cases of {options, context, logits, scores}: random logits over 96 tokens after a
               context of ids, and the scores transformers' processors give them, built in the order
               generate() builds them (RepetitionPenalty; then when sampling Temperature, TopK, TopP,
               MinP). Removed tokens (-inf) are written as null.
  greedy       the tiny Llama's `generate(do_sample=False)` with repetition_penalty 1.3:
               {prompt, repetition_penalty, tokens}
"""
import json
from pathlib import Path

import torch
from transformers import LlamaForCausalLM
from transformers.generation.logits_process import (
    LogitsProcessorList, MinPLogitsWarper, RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper,
    TopKLogitsWarper, TopPLogitsWarper)

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fixtures" / "llama"
VOCAB = 96

CASES = [
    {"repetition_penalty": 1.3},
    {"repetition_penalty": 0.8},
    {"temperature": 0.7},
    {"temperature": 1.0, "top_k": 5},
    {"temperature": 1.0, "top_p": 0.9},
    {"temperature": 1.0, "min_p": 0.1},
    {"temperature": 1.3, "top_k": 40, "top_p": 0.95, "min_p": 0.02, "repetition_penalty": 1.2},
    {"temperature": 1.5, "top_p": 0.5, "min_p": 0.2},
]


def processors(o: dict) -> LogitsProcessorList:
    """What generate() applies for these options (transformers/generation/utils.py, _get_logits_processor)."""
    out = LogitsProcessorList()
    if o.get("repetition_penalty", 1.0) != 1.0:
        out.append(RepetitionPenaltyLogitsProcessor(o["repetition_penalty"]))
    if "temperature" in o:  # sampling
        if o["temperature"] != 1.0:
            out.append(TemperatureLogitsWarper(o["temperature"]))
        if "top_k" in o:
            out.append(TopKLogitsWarper(o["top_k"]))
        if o.get("top_p", 1.0) < 1.0:
            out.append(TopPLogitsWarper(o["top_p"]))
        if "min_p" in o:
            out.append(MinPLogitsWarper(o["min_p"]))
    return out


def main() -> None:
    torch.manual_seed(7)
    cases = []
    for i, options in enumerate(CASES):
        context = torch.randint(0, VOCAB, (1, 12))
        logits = torch.randn(1, VOCAB) * 3
        scores = processors(options)(context, logits.clone())[0]
        cases.append({"options": options, "context": context[0].tolist(), "logits": logits[0].tolist(),
                      "scores": [None if s == float("-inf") else s for s in scores.tolist()]})
    model = LlamaForCausalLM.from_pretrained(OUT / "tiny").eval()
    prompt = [1, 17, 42, 5, 17, 42]
    with torch.no_grad():
        tokens = model.generate(torch.tensor([prompt]), max_new_tokens=16, do_sample=False, repetition_penalty=1.3,
                                eos_token_id=None, pad_token_id=0)[0, len(prompt):]
        plain = model.generate(torch.tensor([prompt]), max_new_tokens=16, do_sample=False,
                               eos_token_id=None, pad_token_id=0)[0, len(prompt):]
    assert tokens.tolist() != plain.tolist(), "the penalty should change the tiny model's greedy tokens"
    greedy = {"prompt": prompt, "repetition_penalty": 1.3, "tokens": tokens.tolist(), "without_penalty": plain.tolist()}
    (OUT / "sampling.json").write_text(json.dumps({"processors": cases, "greedy": greedy}))
    print(f"greedy with penalty {tokens.tolist()} (without {plain.tolist()})")


if __name__ == "__main__":
    main()
