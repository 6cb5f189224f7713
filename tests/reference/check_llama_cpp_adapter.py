"""llama.cpp loads webtune's LoRA adapter GGUF onto the base GGUF and answers as webtune does
(BENCHMARKS.md "qlora", issue: QLoRA / GGUF adapters).

    pkg-config/bench.sh llamacpp   # the venv below, the CLI, then this script

    venv=~/.cache/webtune/llamacpp-venv   # python3 -m venv $venv; $venv/bin/pip install cmake ninja
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF" \
      $venv/bin/pip install llama-cpp-python==0.3.36   # builds llama.cpp from its source on PyPI
    $venv/bin/python tests/reference/check_llama_cpp_adapter.py --webtune $CARGO_TARGET_DIR/debug/webtune

(llama.cpp's native build uses every instruction the CPU reports; on a VM that reports AMX but
does not grant it, that build dies with SIGILL, hence the flags.)

webtune trains LoRA (rank 8 on every projection, the base kept quantized) on SmolLM2-135M-Instruct's
Q4_1 GGUF with 40 rows of www/samples/shop-faq.jsonl and writes `adapter.gguf` (`--gguf-lora`);
then, for a few plain prompts, webtune (`generate --adapter`) and llama.cpp (`Llama(lora_path=…)`)
each continue them greedily, with and without the adapter, and give the top-10 next-token logits
after each prompt with the adapter. Prints one JSON line per prompt and a summary: whether the
continuations agree, whether the adapter changed them, how the top-10 lists overlap and how far
the logits of the tokens in both lists are apart. llama.cpp
multiplies with 8-bit activations and webtune with 16-bit ones, so a long continuation may part
where two tokens are nearly tied; the first tokens are what the check reads.
"""
import argparse
import json
import os
import subprocess
import tempfile
from pathlib import Path

from llama_cpp import Llama

ROOT = Path(__file__).resolve().parents[2]
ASSETS = Path(os.environ.get("WEBTUNE_ASSETS", ROOT.parent / "shared" / "assets"))
MODEL = ASSETS / "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
PROMPTS = [
    "Customer: Can I return an item I bought online?\nAgent:",
    "Customer: How long does shipping take?\nAgent:",
    "Customer: Do you ship to other countries?\nAgent:",
    "The shop's opening hours are",
]
NEW_TOKENS = 12
TOP = 10


def webtune_generate(webtune, model, prompt, adapter):
    cmd = [webtune, "generate", "--model", str(model), "--prompt", prompt, "--max-new-tokens", str(NEW_TOKENS), "--device", "cpu"]
    if adapter:
        cmd += ["--adapter", str(adapter)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["text"]


def llama_generate(model, prompt, adapter):
    llm = Llama(model_path=str(model), lora_path=str(adapter) if adapter else None, n_ctx=512, n_threads=2, verbose=False, seed=0)
    out = llm.create_completion(prompt, max_tokens=NEW_TOKENS, temperature=0.0, top_k=1)
    return out["choices"][0]["text"]


def webtune_top_logits(webtune, model, prompt, adapter):
    cmd = [webtune, "generate", "--model", str(model), "--prompt", prompt, "--top-logits", str(TOP), "--device", "cpu"]
    if adapter:
        cmd += ["--adapter", str(adapter)]
    out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
    return out["promptIds"], {t["id"]: t["logit"] for t in out["topLogits"]}


def llama_top_logits(model, prompt, adapter, prompt_ids):
    llm = Llama(model_path=str(model), lora_path=str(adapter) if adapter else None, n_ctx=512, n_threads=2, verbose=False, seed=0, logits_all=True)
    ids = llm.tokenize(prompt.encode(), add_bos=True, special=True)
    assert ids == prompt_ids, f"the engines tokenize {prompt!r} differently: {ids} vs {prompt_ids}"
    llm.eval(ids)
    logits = llm.scores[len(ids) - 1]
    top = sorted(range(len(logits)), key=lambda i: -logits[i])[:TOP]
    return {i: float(logits[i]) for i in top}


def first_words(text, n=4):
    return " ".join(text.split()[:n])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--webtune", required=True)
    ap.add_argument("--model", default=str(MODEL))
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp())
    rows = (ROOT / "www/samples/shop-faq.jsonl").read_text().strip().splitlines()[:40]
    (work / "train.jsonl").write_text("\n".join(rows) + "\n")
    subprocess.run([args.webtune, "train", "--task", "text-generation", "--model", args.model, "--data", str(work / "train.jsonl"),
                    "--validation-split", "0", "--device", "cpu", "--lora-rank", "8",
                    "--lora-targets", "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj", "--peft", "--gguf-lora",
                    "--epochs", "2", "--batch-size", "4", "--learning-rate", "2e-3", "--max-length", "128", "--out", str(work / "out")],
                   check=True, capture_output=True)
    adapter = work / "out" / "adapter.gguf"
    agree = {"base": 0, "adapted": 0}
    changed = 0
    tops = {"base": [], "adapted": []}
    for prompt in PROMPTS:
        row = {"prompt": prompt}
        for name, a in (("base", None), ("adapted", adapter)):
            ours, theirs = webtune_generate(args.webtune, args.model, prompt, a), llama_generate(args.model, prompt, a)
            row[name] = {"webtune": ours, "llama.cpp": theirs, "first words agree": first_words(ours) == first_words(theirs)}
            agree[name] += first_words(ours) == first_words(theirs)
        changed += row["base"]["llama.cpp"] != row["adapted"]["llama.cpp"]
        for name, a in (("base", None), ("adapted", adapter)):
            ids, ours = webtune_top_logits(args.webtune, args.model, prompt, a)
            theirs = llama_top_logits(args.model, prompt, a, ids)
            both = set(ours) & set(theirs)
            top = {"same best token": max(ours, key=ours.get) == max(theirs, key=theirs.get), "top-10 in common": len(both),
                   "max |logit diff| (common)": max(abs(ours[i] - theirs[i]) for i in both) if both else None}
            row[f"top-10 logits ({name})"] = top
            tops[name].append(top)
        print(json.dumps(row))
    print(json.dumps({"prompts": len(PROMPTS), "first words agree (base)": agree["base"], "first words agree (adapted)": agree["adapted"],
                      "llama.cpp's continuation changed by the adapter": changed,
                      **{f"{what} ({name})": f([t[key] for t in tops[name]]) for name in tops for what, key, f in (
                          ("same best next token", "same best token", sum),
                          ("top-10 in common, fewest", "top-10 in common", min),
                          ("max |logit diff| of tokens in both top-10s", "max |logit diff| (common)", lambda v: max(x for x in v if x is not None)))}}))


if __name__ == "__main__":
    main()
