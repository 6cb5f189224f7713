"""A Llama 3.1-style GGUF file: tiny-llama3 (rope_type "llama3") as llama.cpp's converter writes it.

    py=$(tests/reference/setup.sh)
    $py tests/reference/make_llama3_gguf_fixture.py

Reads tests/fixtures/llama/tiny-llama3 (make_llama_fixtures.py) and writes tests/fixtures/ggml/:
  tiny-llama3.gguf   its weights as F32 (so the reference is the folder's own expected.json), q/k
                     rows permuted as llama.cpp's converter permutes `llama` models, and Llama 3.1's
                     RoPE scaling as the converter stores it: no scaling metadata, a
                     `rope_freqs.weight` tensor of one factor per rotary frequency (each frequency is
                     divided by its factor; convert_hf_to_gguf.py's LlamaModel.generate_extra_tensors);
                     a byte-level BPE tokenizer with `tokenizer.ggml.pre = "llama-bpe"` (Llama 3's
                     split: digits in runs of up to three)
  tiny-llama3.json   {text, text_ids}: transformers' GGUF tokenizer on a text with digit runs and
                     contractions (transformers' GGUF loader does not read rope_freqs, so the logits
                     reference is the folder's expected.json)
"""
import json
import math
from pathlib import Path

import gguf
import numpy as np
from safetensors.numpy import load_file
from transformers import AutoTokenizer

import make_qwen2_gguf_fixture as qwen2_fixture

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "tests/fixtures/llama/tiny-llama3"
OUT = ROOT / "tests/fixtures/ggml"
NAME = "tiny-llama3.gguf"
# digit runs longer than three, "'s", a newline: what tells Llama 3's split from GPT-2's and Qwen2's
TEXT = "Hello world, it's 12345 the cats!\nThe end: 42 is it"


def vocabulary():
    """The Qwen2 fixture's 96 tokens with Llama 3's control tokens and a three-digit merge."""
    return qwen2_fixture.vocabulary(("<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"), (("1", "2"), ("12", "3"), ("'", "s")))


def permute(w, heads):
    """transformers' q/k row order → llama.cpp's (convert_hf_to_gguf.py's LlamaModel.permute)."""
    rows, cols = w.shape
    return w.reshape(heads, 2, rows // heads // 2, cols).swapaxes(1, 2).reshape(rows, cols)


def rope_factors(config):
    """convert_hf_to_gguf.py's Llama 3 rope_freqs: one factor per frequency."""
    rope = config["rope_parameters"]
    base, dim = rope["rope_theta"], config["head_dim"]
    factor, low, high = rope["factor"], rope["low_freq_factor"], rope["high_freq_factor"]
    old = rope["original_max_position_embeddings"]
    out = []
    for i in range(0, dim, 2):
        wavelen = 2 * math.pi * base ** (i / dim)
        if wavelen < old / high:
            out.append(1.0)
        elif wavelen > old / low:
            out.append(factor)
        else:
            smooth = (old / wavelen - low) / (high - low)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


def main():
    config = json.loads((SOURCE / "config.json").read_text())
    state = load_file(SOURCE / "model.safetensors")
    heads, kv_heads = config["num_attention_heads"], config["num_key_value_heads"]
    writer = gguf.GGUFWriter(str(OUT / NAME), "llama")
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_rope_dimension_count(config["head_dim"])
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    writer.add_rope_freq_base(config["rope_parameters"]["rope_theta"])
    tokens, types, merges = vocabulary()
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("llama-bpe")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(config["bos_token_id"])
    writer.add_eos_token_id(config["eos_token_id"])
    writer.add_add_bos_token(True)

    writer.add_tensor("rope_freqs.weight", rope_factors(config))
    writer.add_tensor("token_embd.weight", state["model.embed_tokens.weight"])
    parts = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
             "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
             "ffn_down": "mlp.down_proj"}
    for i in range(config["num_hidden_layers"]):
        hf = f"model.layers.{i}."
        writer.add_tensor(f"blk.{i}.attn_norm.weight", state[hf + "input_layernorm.weight"])
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", state[hf + "post_attention_layernorm.weight"])
        for part, module in parts.items():
            w = state[hf + module + ".weight"]
            if part in ("attn_q", "attn_k"):
                w = permute(w, heads if part == "attn_q" else kv_heads)
            writer.add_tensor(f"blk.{i}.{part}.weight", np.ascontiguousarray(w))
    writer.add_tensor("output_norm.weight", state["model.norm.weight"])
    writer.add_tensor("output.weight", state["lm_head.weight"])
    for step in (writer.write_header_to_file, writer.write_kv_data_to_file, writer.write_tensors_to_file):
        step()
    writer.close()

    tok = AutoTokenizer.from_pretrained(OUT, gguf_file=NAME)
    text_ids = tok(TEXT, add_special_tokens=False)["input_ids"]
    (OUT / "tiny-llama3.json").write_text(json.dumps({"text": TEXT, "text_ids": text_ids}))
    print("text ids", text_ids, tok.convert_ids_to_tokens(text_ids))
    print("rope factors", rope_factors(config))


if __name__ == "__main__":
    main()
