"""Golden fixtures for ggml's quantized block formats and a Llama whose weights are K-quants.

Run from the repository root:

    py=$(tests/reference/setup.sh)
    $py tests/reference/make_ggml_fixture.py

llama.cpp's quantizers are not on PyPI for the K-quants (the `gguf` package only dequantizes them),
so the blocks are random bytes in each format's layout, with sane f16 scales: every bit pattern of
the other fields is a valid block. The `gguf` package's numpy dequantizer is the reference.

Writes tests/fixtures/ggml/:
  blocks.gguf         one tensor per type (Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q4_K Q5_K Q6_K), 3 blocks each
  blocks.json         {tensor name: its values, dequantized by gguf.quants.dequantize}
  tiny-kquant.gguf    a 2-layer Llama (hidden 256, 4 heads, 2 KV heads, vocab 96), every matrix
                      in another type (all eight; the q/k rows in llama.cpp's permuted order),
                      norms F32, no tokenizer
  tiny-kquant.json    {ids, logits ([seq][vocab], transformers' LlamaForCausalLM on the
                      dequantized weights, q/k rows un-permuted as transformers' GGUF loader
                      does), greedy (10 tokens of generate(do_sample=False))}
"""
import json
from pathlib import Path

import gguf
import numpy as np
import torch
from gguf import GGMLQuantizationType as T
from transformers import LlamaConfig, LlamaForCausalLM

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fixtures" / "ggml"
RNG = np.random.default_rng(17)

# (offsets of f16 fields, their typical values) per type; the rest of each block is random bytes
F16_FIELDS = {
    T.Q4_0: [(0, 0.01)],
    T.Q4_1: [(0, 0.01), (2, -0.075)],
    T.Q5_0: [(0, 0.005)],
    T.Q5_1: [(0, 0.005), (2, -0.08)],
    T.Q8_0: [(0, 0.0005)],
    T.Q4_K: [(0, 0.0003), (2, 0.002)],
    T.Q5_K: [(0, 0.00015), (2, 0.002)],
    T.Q6_K: [(208, 0.00003)],
}


def random_blocks(kind, values):
    block_values, block_bytes = gguf.GGML_QUANT_SIZES[kind]
    n = values // block_values
    raw = RNG.integers(0, 256, size=(n, block_bytes), dtype=np.uint8)
    for offset, typical in F16_FIELDS[kind]:
        scale = (typical * (1 + 0.3 * RNG.standard_normal(n))).astype(np.float16)
        raw[:, offset:offset + 2] = scale.view(np.uint8).reshape(n, 2)
    return raw.reshape(-1)


def quantized(kind, shape):
    """Random blocks for a [rows, cols] matrix and their values."""
    rows, cols = shape
    raw = random_blocks(kind, rows * cols)
    values = gguf.quants.dequantize(raw.reshape(rows, -1), kind).astype(np.float32)
    assert values.shape == (rows, cols)
    return raw.reshape(rows, -1), values


def blocks():
    writer = gguf.GGUFWriter(str(OUT / "blocks.gguf"), "blocks")
    expected = {}
    for kind in F16_FIELDS:
        block_values = gguf.GGML_QUANT_SIZES[kind][0]
        raw, values = quantized(kind, (1, 3 * block_values))
        writer.add_tensor(kind.name, raw, raw_dtype=kind)
        expected[kind.name] = values.reshape(-1).tolist()
    for step in (writer.write_header_to_file, writer.write_kv_data_to_file, writer.write_tensors_to_file):
        step()
    writer.close()
    (OUT / "blocks.json").write_text(json.dumps(expected))


HIDDEN, HEADS, KV_HEADS, FFN, LAYERS, VOCAB = 256, 4, 2, 256, 2, 96
HEAD_DIM = HIDDEN // HEADS
# every type once as a matrix (and the K-quants more than once)
LAYER_TYPES = [
    {"attn_q": T.Q4_K, "attn_k": T.Q5_K, "attn_v": T.Q6_K, "attn_output": T.Q4_K,
     "ffn_gate": T.Q5_0, "ffn_up": T.Q4_1, "ffn_down": T.Q6_K},
    {"attn_q": T.Q8_0, "attn_k": T.Q4_0, "attn_v": T.Q5_1, "attn_output": T.Q5_K,
     "ffn_gate": T.Q4_K, "ffn_up": T.Q6_K, "ffn_down": T.Q4_K},
]
HF_NAMES = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
            "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
            "ffn_down": "mlp.down_proj"}


def unpermute(w, heads):
    """llama.cpp's q/k row order → transformers' (its GGUF loader's reverse_permute_weights)."""
    rows, cols = w.shape
    return w.reshape(heads, rows // heads // 2, 2, cols).swapaxes(1, 2).reshape(rows, cols)


def tiny_kquant():
    writer = gguf.GGUFWriter(str(OUT / "tiny-kquant.gguf"), "llama")
    writer.add_context_length(64)
    writer.add_embedding_length(HIDDEN)
    writer.add_block_count(LAYERS)
    writer.add_feed_forward_length(FFN)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_freq_base(10000.0)
    writer.add_vocab_size(VOCAB)
    writer.add_uint32("tokenizer.ggml.bos_token_id", 1)
    writer.add_uint32("tokenizer.ggml.eos_token_id", 2)
    state = {}

    def matrix(name, kind, shape, hf):
        raw, values = quantized(kind, shape)
        writer.add_tensor(name, raw, raw_dtype=kind)
        state[hf] = values

    def norm(name, hf):
        w = (1 + 0.1 * RNG.standard_normal(HIDDEN)).astype(np.float32)
        writer.add_tensor(name, w)
        state[hf] = w

    matrix("token_embd.weight", T.Q4_K, (VOCAB, HIDDEN), "model.embed_tokens.weight")
    for i, types in enumerate(LAYER_TYPES):
        norm(f"blk.{i}.attn_norm.weight", f"model.layers.{i}.input_layernorm.weight")
        norm(f"blk.{i}.ffn_norm.weight", f"model.layers.{i}.post_attention_layernorm.weight")
        shapes = {"attn_q": (HIDDEN, HIDDEN), "attn_k": (KV_HEADS * HEAD_DIM, HIDDEN),
                  "attn_v": (KV_HEADS * HEAD_DIM, HIDDEN), "attn_output": (HIDDEN, HIDDEN),
                  "ffn_gate": (FFN, HIDDEN), "ffn_up": (FFN, HIDDEN), "ffn_down": (HIDDEN, FFN)}
        for part, kind in types.items():
            matrix(f"blk.{i}.{part}.weight", kind, shapes[part], f"model.layers.{i}.{HF_NAMES[part]}.weight")
        q, k = f"model.layers.{i}.self_attn.q_proj.weight", f"model.layers.{i}.self_attn.k_proj.weight"
        state[q], state[k] = unpermute(state[q], HEADS), unpermute(state[k], KV_HEADS)
    norm("output_norm.weight", "model.norm.weight")
    matrix("output.weight", T.Q6_K, (VOCAB, HIDDEN), "lm_head.weight")
    for step in (writer.write_header_to_file, writer.write_kv_data_to_file, writer.write_tensors_to_file):
        step()
    writer.close()

    config = LlamaConfig(vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=FFN, num_hidden_layers=LAYERS,
                         num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, max_position_embeddings=64,
                         rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=False, bos_token_id=1,
                         eos_token_id=2)
    model = LlamaForCausalLM(config).eval()
    model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}, strict=True)
    ids = [1, 5, 17, 42, 9, 33, 7, 60]
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0]
        greedy = model.generate(torch.tensor([ids]), max_new_tokens=10, do_sample=False, eos_token_id=None,
                                pad_token_id=0)[0, len(ids):]
    (OUT / "tiny-kquant.json").write_text(json.dumps({"ids": ids, "logits": logits.tolist(), "greedy": greedy.tolist()}))


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    blocks()
    tiny_kquant()
    print("wrote", sorted(p.name for p in OUT.iterdir()))
