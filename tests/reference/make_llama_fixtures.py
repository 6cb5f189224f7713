"""Golden fixtures for the Llama-family tests, produced by the real reference (transformers + PyTorch).

Run from the repository root (CPU is enough; a few seconds):

    py=$(tests/reference/setup.sh)
    WEBTUNE_ASSETS=../shared/assets $py tests/reference/make_llama_fixtures.py

Writes tests/fixtures/llama/:
  tiny/          LlamaForCausalLM, 2 layers, hidden 32, 4 heads, 2 key/value heads (grouped-query
                 attention), vocab 96, separate lm_head, RoPE theta 10000
  tiny-tied/     the same shape with tie_word_embeddings (no lm_head.weight in the file) and
                 head_dim given explicitly, RoPE theta 500000
  tiny-llama3/   the tiny shape with Llama 3's rope_scaling (type llama3, factor 8, an original
                 context of 16 positions: every frequency band is scaled, kept or blended)
  tiny-qwen2/    Qwen2ForCausalLM: biases on q/k/v (none on o), tied embeddings
  tiny-qwen3/    Qwen3ForCausalLM: an RMSNorm of each query/key head, head_dim 16 (not hidden/heads)
  tiny-gemma3/   Gemma3ForCausalLM (gemma3_text): (1 + w) RMSNorms before and after attention and
                 MLP, scaled embeddings, GELU (tanh), per-head q/k norms, query_pre_attn_scalar 24
                 (not head_dim 16), a sliding layer (window 4, local RoPE base 10000) then a full
                 one (RoPE base 1e6, linear scaling 2), tied embeddings
  each with config.json, model.safetensors and expected.json:
    {"input_ids", "attention_mask" (right padding), "logits" (masked positions zeroed),
     "prompt", "greedy" (the 12 tokens `generate(do_sample=False)` appends)}
  stories260K.json   stories260K (from WEBTUNE_ASSETS, HF layout): logits of the first 3 positions of
                 a BOS-started prompt, and 40 greedy tokens
  smollm2.json   SmolLM2-135M-Instruct Q4_1 GGUF (from WEBTUNE_ASSETS), loaded by transformers'
                 own GGUF reader (dequantized): the chat prompt's token ids, the last position's
                 first 512 logits and top-10 ids, and the greedy reply
Versions used are recorded in tests/fixtures/llama/VERSIONS.json.
"""
import json
import os
from importlib.metadata import version
import platform
from pathlib import Path

import torch
import transformers
from transformers import Gemma3ForCausalLM, Gemma3TextConfig, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM, Qwen3Config, Qwen3ForCausalLM

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fixtures" / "llama"
ASSETS = Path(os.environ.get("WEBTUNE_ASSETS", ROOT.parent / "shared" / "assets"))

# two sequences of different lengths (the second right-padded with id 0)
IDS = [[1, 17, 42, 5, 88, 23, 9, 61, 30, 2], [1, 54, 7, 33, 12, 0, 0, 0, 0, 0]]
MASK = [[1] * 10, [1] * 5 + [0] * 5]
PROMPT = [1, 17, 42, 5]


def tiny(name: str, config_class=LlamaConfig, model_class=LlamaForCausalLM, **overrides) -> None:
    torch.manual_seed(len(name))
    cfg = config_class(vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                       rms_norm_eps=1e-5, bos_token_id=1, eos_token_id=2, **overrides)
    model = model_class(cfg).eval()
    with torch.no_grad():  # random-init norms are all ones and biases zeros: make them matter
        for layer in model.model.layers:
            layer.input_layernorm.weight.uniform_(0.5, 1.5)
            layer.post_attention_layernorm.weight.uniform_(0.5, 1.5)
            for norm in ("q_norm", "k_norm"):
                if hasattr(layer.self_attn, norm):
                    getattr(layer.self_attn, norm).weight.uniform_(0.5, 1.5)
            for proj in ("q_proj", "k_proj", "v_proj", "o_proj"):
                bias = getattr(layer.self_attn, proj).bias
                if bias is not None:
                    bias.uniform_(-0.5, 0.5)
            for norm in ("pre_feedforward_layernorm", "post_feedforward_layernorm"):  # Gemma 3
                if hasattr(layer, norm):
                    getattr(layer, norm).weight.uniform_(0.5, 1.5)
        model.model.norm.weight.uniform_(0.5, 1.5)
    out = OUT / name
    model.save_pretrained(out, safe_serialization=True)
    for extra in ["generation_config.json"]:
        (out / extra).unlink(missing_ok=True)
    with torch.no_grad():
        logits = model(input_ids=torch.tensor(IDS), attention_mask=torch.tensor(MASK)).logits
        logits = logits * torch.tensor(MASK)[:, :, None]  # padded positions are not compared
        greedy = model.generate(torch.tensor([PROMPT]), max_new_tokens=12, do_sample=False,
                                eos_token_id=None, pad_token_id=0)[0, len(PROMPT):]
    expected = {"input_ids": IDS, "attention_mask": MASK, "logits": logits.tolist(),
                "prompt": PROMPT, "greedy": greedy.tolist()}
    (out / "expected.json").write_text(json.dumps(expected))
    print(f"{name}: greedy {greedy.tolist()}")


def stories() -> None:
    folder = ASSETS / "models/stories260K/hf"
    if not (folder / "model.safetensors").exists():
        print(f"skipping stories260K: {folder} not found (set WEBTUNE_ASSETS)")
        return
    model = LlamaForCausalLM.from_pretrained(folder).eval()
    prompt = [1, 403, 407, 261, 378]
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([prompt])).logits[0, :3]
        greedy = model.generate(torch.tensor([[1]]), max_new_tokens=40, do_sample=False,
                                eos_token_id=None, pad_token_id=0)[0, 1:]
    (OUT / "stories260K.json").write_text(json.dumps(
        {"prompt": prompt, "logits_first3": logits.tolist(), "greedy_from_bos": greedy.tolist()}))
    print(f"stories260K: greedy {greedy.tolist()}")


def smollm2() -> None:
    folder = ASSETS / "models/smollm2-135m-instruct"
    name = "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not (folder / name).exists():
        print(f"skipping SmolLM2: {folder / name} not found (set WEBTUNE_ASSETS)")
        return
    from transformers import AutoModelForCausalLM, AutoTokenizer
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32).eval()
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    ids = tok.apply_chat_template(messages, add_generation_prompt=True, return_dict=False)
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0, -1]
        reply = model.generate(torch.tensor([ids]), max_new_tokens=12, do_sample=False)[0, len(ids):]
    text = tok.decode(reply, skip_special_tokens=True)
    (OUT / "smollm2.json").write_text(json.dumps(
        {"messages": messages, "prompt_ids": ids, "last_logits_first512": logits[:512].tolist(),
         "top10": logits.topk(10).indices.tolist(), "reply_ids": reply.tolist(), "reply": text}))
    print(f"SmolLM2: {text!r}")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    tiny("tiny")
    tiny("tiny-tied", tie_word_embeddings=True, head_dim=16, rope_theta=500000.0)
    tiny("tiny-llama3", rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                      "original_max_position_embeddings": 16})
    tiny("tiny-qwen2", Qwen2Config, Qwen2ForCausalLM, tie_word_embeddings=True)
    tiny("tiny-qwen3", Qwen3Config, Qwen3ForCausalLM, head_dim=16, tie_word_embeddings=False)
    tiny("tiny-gemma3", Gemma3TextConfig, Gemma3ForCausalLM, head_dim=16, query_pre_attn_scalar=24,
         sliding_window=4, layer_types=["sliding_attention", "full_attention"], tie_word_embeddings=True,
         rope_parameters={"sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                          "full_attention": {"rope_type": "linear", "factor": 2.0, "rope_theta": 1000000.0}})
    stories()
    smollm2()
    versions = {"python": platform.python_version(), "torch": torch.__version__,
                "transformers": transformers.__version__, "gguf": version("gguf")}
    (OUT / "VERSIONS.json").write_text(json.dumps(versions, indent=2) + "\n")


if __name__ == "__main__":
    main()
