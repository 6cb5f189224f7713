"""Qwen2 and Qwen3 GGUF files (`general.architecture = qwen2`, `qwen3`) and what transformers makes
of them.

    py=$(tests/reference/setup.sh)
    $py tests/reference/make_qwen2_gguf_fixture.py

Reads tests/fixtures/llama/tiny-qwen2 and tiny-qwen3 (make_llama_fixtures.py) and writes
tests/fixtures/ggml/:
  tiny-qwen2.gguf   its weights as llama.cpp's converter lays out a Qwen2 model: the q/k rows in
                    Hugging Face's order (not permuted, as for `llama`), q/k/v biases, matrices
                    Q8_0, norms and biases F32, tied embeddings (no output.weight); a byte-level
                    BPE tokenizer of 96 tokens (3 control tokens, 71 characters, 22 merges) with
                    `tokenizer.ggml.pre = "qwen2"`, and ChatML as its chat template
  tiny-qwen2.json   transformers' reading of that file (its GGUF loader dequantizes it; its
                    GGUFQwen2Converter builds the tokenizer): {ids, logits ([seq][vocab]), greedy
                    (10 tokens), text, text_ids (the tokenizer's ids of `text`), chat_ids}
  tiny-qwen3.gguf   the same for Qwen3: q/k RMSNorm weights (F32, as stored), no biases, an
  tiny-qwen3.json   untied output.weight, head_dim 16 (`qwen3.attention.key_length`). transformers'
                    GGUF loader ignores key_length for qwen3 (it assumes Qwen3's 128, which every
                    real Qwen3 has), so its reference model is tiny-qwen3's config with the file's
                    weights as its loader would dequantize them; the tokenizer is read from the file
"""
import json
from pathlib import Path

import gguf
import numpy as np
import torch
from gguf import GGMLQuantizationType as T
from safetensors.numpy import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests/fixtures/ggml"
CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
          "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
# a digit run, a space before digits, "'s" and a newline tell Qwen2's split from GPT-2's
TEXT = "Hello world, it's 123 the cats!\nThe end: 42 is it"


def vocabulary(specials=("<|endoftext|>", "<|im_start|>", "<|im_end|>"), last=(("1", "2"), ("'", "s"), ("Ġ", "1"))):
    """96 tokens: 3 control tokens, GPT-2 byte-level characters, merges (some only GPT-2's split
    reaches; `last`: the three that tell a family's split apart)."""
    chars = ["Ġ", "Ċ"] + [chr(c) for c in range(ord("a"), ord("z") + 1)] + [chr(c) for c in range(ord("A"), ord("Z") + 1)]
    chars += [str(d) for d in range(10)] + list(".,!?'-:")
    merges = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("Ġ", "a"), ("e", "r"), ("o", "n"), ("Ġ", "s"),
              ("r", "e"), ("a", "t"), ("e", "n"), ("Ġ", "w"), ("o", "r"), ("i", "s"), ("Ġ", "c"), ("a", "n"),
              ("e", "s"), ("Ġ", "i"), ("i", "t"), *last]
    specials = list(specials)
    tokens = specials + chars + [a + b for a, b in merges]
    assert len(tokens) == 96 and len(set(tokens)) == 96
    types = [3] * len(specials) + [1] * (len(tokens) - len(specials))
    return tokens, types, [f"{a} {b}" for a, b in merges]


def write(arch):
    source, name = ROOT / f"tests/fixtures/llama/tiny-{arch}", f"tiny-{arch}.gguf"
    config = json.loads((source / "config.json").read_text())
    state = load_file(source / "model.safetensors")
    assert config["vocab_size"] == 96
    heads, kv_heads, hidden = config["num_attention_heads"], config["num_key_value_heads"], config["hidden_size"]
    writer = gguf.GGUFWriter(str(OUT / name), arch)
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(hidden)
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    if "head_dim" in config:
        writer.add_key_length(config["head_dim"])
        writer.add_value_length(config["head_dim"])
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    writer.add_rope_freq_base(config["rope_parameters"]["rope_theta"])
    tokens, types, merges = vocabulary()
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("qwen2")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(config["bos_token_id"])
    writer.add_eos_token_id(config["eos_token_id"])
    writer.add_add_bos_token(False)
    writer.add_chat_template(CHATML)

    stored = {}  # Hugging Face name → the values the file holds

    def matrix(name, values, hf=None):
        raw = gguf.quants.quantize(values, T.Q8_0)
        writer.add_tensor(name, raw, raw_shape=raw.shape, raw_dtype=T.Q8_0)
        if hf:
            stored[hf] = torch.from_numpy(gguf.quants.dequantize(raw, T.Q8_0).reshape(values.shape).copy())

    def vector(name, hf):
        writer.add_tensor(name, state[hf])
        stored[hf] = torch.from_numpy(state[hf].copy())

    matrix("token_embd.weight", state["model.embed_tokens.weight"], "model.embed_tokens.weight")
    parts = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
             "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
             "ffn_down": "mlp.down_proj"}
    for i in range(config["num_hidden_layers"]):
        hf = f"model.layers.{i}."
        vector(f"blk.{i}.attn_norm.weight", hf + "input_layernorm.weight")
        vector(f"blk.{i}.ffn_norm.weight", hf + "post_attention_layernorm.weight")
        for part, module in parts.items():
            matrix(f"blk.{i}.{part}.weight", state[hf + module + ".weight"], hf + module + ".weight")
            if hf + module + ".bias" in state:
                vector(f"blk.{i}.{part}.bias", hf + module + ".bias")
        for part, module in {"attn_q_norm": "self_attn.q_norm", "attn_k_norm": "self_attn.k_norm"}.items():
            if hf + module + ".weight" in state:
                vector(f"blk.{i}.{part}.weight", hf + module + ".weight")
    vector("output_norm.weight", "model.norm.weight")
    if not config["tie_word_embeddings"]:
        matrix("output.weight", state["lm_head.weight"], "lm_head.weight")
    for step in (writer.write_header_to_file, writer.write_kv_data_to_file, writer.write_tensors_to_file):
        step()
    writer.close()

    tok = AutoTokenizer.from_pretrained(OUT, gguf_file=name)
    if arch == "qwen2":
        model = AutoModelForCausalLM.from_pretrained(OUT, gguf_file=name, dtype=torch.float32).eval()
    else:  # see above: the file's weights in the source's config
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32).eval()
        model.load_state_dict(stored, strict=True)
    assert model.config.model_type == arch
    ids = [1, 5, 17, 42, 9, 33, 7, 60]
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0]
        greedy = model.generate(torch.tensor([ids]), max_new_tokens=10, do_sample=False, eos_token_id=None,
                                pad_token_id=0)[0, len(ids):]
    text_ids = tok(TEXT, add_special_tokens=True)["input_ids"]
    chat_ids = tok.apply_chat_template([{"role": "user", "content": "hi there"}], add_generation_prompt=True,
                                       return_dict=False)
    (OUT / f"tiny-{arch}.json").write_text(json.dumps({
        "ids": ids, "logits": logits.tolist(), "greedy": greedy.tolist(),
        "text": TEXT, "text_ids": text_ids, "chat_ids": chat_ids}))
    print("text ids", text_ids, tok.convert_ids_to_tokens(text_ids))
    print("chat ids", chat_ids)
    print("greedy", greedy.tolist())


if __name__ == "__main__":
    write("qwen2")
    write("qwen3")
