"""A Gemma 3 GGUF file (`general.architecture = gemma3`) and what transformers makes of it.

    py=$(tests/reference/setup.sh)
    $py tests/reference/make_gemma3_gguf_fixture.py

Writes tests/fixtures/ggml/:
  tiny-gemma3.gguf   a random Gemma3ForCausalLM laid out as llama.cpp's converter writes Gemma 3:
                     norms stored as 1 + w (Gemma's RMSNorm scale), q/k rows unpermuted, six layers
                     (the sixth global, as transformers' default pattern of 6 makes it),
                     head_dim 256 (so transformers' default query_pre_attn_scalar of 256 is also
                     llama.cpp's 1/√head_dim), a sliding window of 4, matrices Q8_0 (the
                     `gguf` package writes no Q5_0/K-quants, which tiny-kquant.gguf covers), tied
                     embeddings; a SentencePiece tokenizer
                     (`tokenizer.ggml.model = "llama"`, no merges: they are recovered from the
                     token order) with byte-fallback tokens, Gemma's control tokens, a
                     user-defined token and a two-space token stored as real spaces; no chat
                     template (as Google's 270M GGUF)
  tiny-gemma3.json   transformers' reading of that file: {ids, logits ([seq][vocab]), greedy
                     (10 tokens, well past the window), text, text_ids}
"""
import json
from pathlib import Path

import gguf
import numpy as np
import torch
from gguf import GGMLQuantizationType as T
from transformers import AutoModelForCausalLM, AutoTokenizer, Gemma3ForCausalLM, Gemma3TextConfig

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests/fixtures/ggml"
NAME = "tiny-gemma3.gguf"
# spaces (one, two, three), a character only byte fallback spells (é, ✓), a user-defined token
TEXT = "the cat sat  in the hat, then   ran! é ✓ <start_of_turn>user hi"


def vocabulary():
    """Gemma's layout: <pad> <eos> <bos> <unk> <mask>, control tokens, 256 byte tokens, pieces."""
    specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<start_of_turn>", "<end_of_turn>", "[multimodal]"]
    special_types = [3, 3, 3, 2, 3, 3, 3, 4]  # control, unknown, user-defined (as in Google's file)
    byte_tokens = [f"<0x{b:02X}>" for b in range(256)]
    chars = ["▁"] + [chr(c) for c in range(ord("a"), ord("z") + 1)] + list(",.!")
    # in merge priority order: an earlier piece merges first (the scores below do not follow it)
    pieces = ["▁t", "he", "▁the", "at", "▁c", "▁cat", "▁s", "▁sat", "in", "▁in", "▁h", "▁hat", "en", "▁then",
              "an", "▁r", "▁ran", "hi", "▁hi", "▁▁", "us", "er", "user"]
    tokens = specials + byte_tokens + chars + ["  "] + pieces  # "  ": two spaces, as llama.cpp stores ▁▁'s twin
    types = special_types + [6] * 256 + [1] * (len(chars) + 1 + len(pieces))
    rng = np.random.default_rng(3)
    scores = [0.0] * len(specials) + [0.0] * 256 + list(rng.normal(size=len(tokens) - len(specials) - 256))
    assert len(set(tokens)) == len(tokens)
    return tokens, types, scores


def main():
    tokens, types, scores = vocabulary()
    torch.manual_seed(0)
    config = Gemma3TextConfig(vocab_size=len(tokens), hidden_size=32, intermediate_size=64, num_hidden_layers=6,
                              num_attention_heads=2, num_key_value_heads=1, head_dim=256, max_position_embeddings=64,
                              sliding_window=4, rope_theta=1_000_000.0, rms_norm_eps=1e-6, pad_token_id=0,
                              eos_token_id=1, bos_token_id=2)
    model = Gemma3ForCausalLM(config).eval()
    with torch.no_grad():  # norms away from Gemma's zero init, so the 1 + w offset shows
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(torch.randn_like(p) * 0.3)
            else:
                p.mul_(2.0)
    state = {k: v.numpy() for k, v in model.state_dict().items()}

    writer = gguf.GGUFWriter(str(OUT / NAME), "gemma3")
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_key_length(config.head_dim)
    writer.add_value_length(config.head_dim)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_rope_freq_base(1_000_000.0)
    writer.add_sliding_window(config.sliding_window)
    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(2)
    writer.add_eos_token_id(1)
    writer.add_unk_token_id(3)
    writer.add_pad_token_id(0)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    writer.add_add_space_prefix(False)

    def matrix(name, values, kind):
        raw = gguf.quants.quantize(values, kind)
        writer.add_tensor(name, raw, raw_shape=raw.shape, raw_dtype=kind)

    def norm(name, values):  # llama.cpp's converter: Gemma's norm weights + 1
        writer.add_tensor(name, (values + 1.0).astype(np.float32))

    matrix("token_embd.weight", state["model.embed_tokens.weight"], T.Q8_0)
    parts = {"attn_q": ("self_attn.q_proj", T.Q8_0), "attn_k": ("self_attn.k_proj", T.Q8_0),
             "attn_v": ("self_attn.v_proj", T.Q8_0), "attn_output": ("self_attn.o_proj", T.Q8_0),
             "ffn_gate": ("mlp.gate_proj", T.Q8_0), "ffn_up": ("mlp.up_proj", T.Q8_0),
             "ffn_down": ("mlp.down_proj", T.Q8_0)}
    norms = {"attn_norm": "input_layernorm", "post_attention_norm": "post_attention_layernorm",
             "ffn_norm": "pre_feedforward_layernorm", "post_ffw_norm": "post_feedforward_layernorm",
             "attn_q_norm": "self_attn.q_norm", "attn_k_norm": "self_attn.k_norm"}
    for i in range(config.num_hidden_layers):
        hf = f"model.layers.{i}."
        for part, module in norms.items():
            norm(f"blk.{i}.{part}.weight", state[hf + module + ".weight"])
        for part, (module, kind) in parts.items():
            matrix(f"blk.{i}.{part}.weight", state[hf + module + ".weight"], kind)
    norm("output_norm.weight", state["model.norm.weight"])
    for step in (writer.write_header_to_file, writer.write_kv_data_to_file, writer.write_tensors_to_file):
        step()
    writer.close()

    tok = AutoTokenizer.from_pretrained(OUT, gguf_file=NAME)
    reread = AutoModelForCausalLM.from_pretrained(OUT, gguf_file=NAME, dtype=torch.float32).eval()
    assert reread.config.layer_types[5] == "full_attention" and reread.config.query_pre_attn_scalar == 256
    ids = [2, 290, 291, 300, 305, 296, 310, 299, 312]  # longer than the window
    with torch.no_grad():
        logits = reread(torch.tensor([ids])).logits[0]
        greedy = reread.generate(torch.tensor([ids]), max_new_tokens=10, do_sample=False, eos_token_id=None,
                                 pad_token_id=0)[0, len(ids):]
    text_ids = tok(TEXT, add_special_tokens=True)["input_ids"]
    (OUT / "tiny-gemma3.json").write_text(json.dumps({
        "ids": ids, "logits": logits.tolist(), "greedy": greedy.tolist(), "text": TEXT, "text_ids": text_ids}))
    print("text ids", text_ids, tok.convert_ids_to_tokens(text_ids))
    print("greedy", greedy.tolist())
    print("decoded", repr(tok.decode(text_ids)))


if __name__ == "__main__":
    main()
