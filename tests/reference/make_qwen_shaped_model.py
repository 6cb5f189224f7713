"""A random model of Qwen2.5-0.5B's shape as a Q4_K_M-like GGUF, for the QLoRA memory benchmark
(BENCHMARKS.md "qlora": LoRA on a 0.5B model on the browser's CPU path, within wasm's 4 GB).

    py=$(tests/reference/setup.sh)
    $py tests/reference/make_qwen_shaped_model.py [OUT.gguf]

Qwen2.5-0.5B's shape (hidden 896, 24 layers, 14 query and 2 key/value heads of 64, feed-forward
4864, vocabulary 151,936, tied embeddings, q/k/v biases) with random weights (normal, std 0.02;
norms 1), laid out as llama.cpp's Q4_K_M lays out the real file: matrices whose rows are whole
256-value super-blocks (ffn_down) as Q4_K, the 896-column ones as Q5_0 (llama.cpp's fallback),
token_embd as Q8_0, norms and biases F32. The weights are random, so its losses mean nothing;
what the benchmark reads is memory and time. The tokenizer and chat template are SmolLM2's (from
the assets), under the `qwen2` architecture, its 49,152 tokens padded to the 151,936 rows with
control tokens (as Qwen's own files pad theirs).
Default output: ~/.cache/webtune/bench/qwen2.5-0.5b-shaped-random.Q4_K_M-like.gguf
"""
import os
import sys
from pathlib import Path

import gguf
import numpy as np
from gguf import GGMLQuantizationType as T

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_kquant_model import finish, quantize  # noqa: E402 (the Q4_K quantizer, checked block by block)

ASSETS = Path(os.environ.get("WEBTUNE_ASSETS", Path(__file__).resolve().parents[3] / "shared" / "assets"))
TOKENIZER_SOURCE = ASSETS / "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
OUT = Path.home() / ".cache/webtune/bench/qwen2.5-0.5b-shaped-random.Q4_K_M-like.gguf"

HIDDEN, LAYERS, HEADS, KV_HEADS, HEAD_DIM, FFN, VOCAB = 896, 24, 14, 2, 64, 4864, 151936


def main():
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    out.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    reader = gguf.GGUFReader(TOKENIZER_SOURCE)
    writer = gguf.GGUFWriter(str(out), "qwen2")
    for field in reader.fields.values():
        if field.name.startswith("tokenizer.") or field.name == "general.name":
            kind = field.types[0]
            value = field.contents()
            # the vocabulary padded to the embedding's rows with control tokens, as Qwen's files are
            if field.name == "tokenizer.ggml.tokens":
                value = value + [f"<|pad_{i}|>" for i in range(len(value), VOCAB)]
            if field.name == "tokenizer.ggml.token_type":
                value = value + [3] * (VOCAB - len(value))
            writer.add_key_value(field.name, value, kind, sub_type=field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None)
    writer.add_context_length(32768)
    writer.add_embedding_length(HIDDEN)
    writer.add_block_count(LAYERS)
    writer.add_feed_forward_length(FFN)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_rope_freq_base(1000000.0)
    writer.add_layer_norm_rms_eps(1e-6)

    def matrix(name, rows, cols, kind=None):
        values = rng.normal(0, 0.02, (rows, cols)).astype(np.float32)
        kind = kind or (T.Q4_K if cols % 256 == 0 else T.Q5_0)
        writer.add_tensor(name, quantize(values, kind), raw_dtype=kind)

    def vector(name, n, value=None):
        v = np.full(n, value, np.float32) if value is not None else rng.normal(0, 0.02, n).astype(np.float32)
        writer.add_tensor(name, v)

    matrix("token_embd.weight", VOCAB, HIDDEN, T.Q8_0)
    vector("output_norm.weight", HIDDEN, 1.0)
    q, kv = HEADS * HEAD_DIM, KV_HEADS * HEAD_DIM
    for i in range(LAYERS):
        b = f"blk.{i}"
        vector(f"{b}.attn_norm.weight", HIDDEN, 1.0)
        vector(f"{b}.ffn_norm.weight", HIDDEN, 1.0)
        matrix(f"{b}.attn_q.weight", q, HIDDEN)
        matrix(f"{b}.attn_k.weight", kv, HIDDEN)
        matrix(f"{b}.attn_v.weight", kv, HIDDEN)
        vector(f"{b}.attn_q.bias", q)
        vector(f"{b}.attn_k.bias", kv)
        vector(f"{b}.attn_v.bias", kv)
        matrix(f"{b}.attn_output.weight", HIDDEN, q)
        matrix(f"{b}.ffn_gate.weight", FFN, HIDDEN)
        matrix(f"{b}.ffn_up.weight", FFN, HIDDEN)
        matrix(f"{b}.ffn_down.weight", HIDDEN, FFN)
    finish(writer, out)


if __name__ == "__main__":
    main()
