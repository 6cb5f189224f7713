"""A K-quant SmolLM2-135M-Instruct for the generation benchmark (BENCHMARKS.md "generate").

    py=$(tests/reference/setup.sh)
    $py tests/reference/make_kquant_model.py [SOURCE.gguf] [OUT.gguf]

The assets hold SmolLM2 as Q4_1 only, and llama.cpp's quantizer is not on PyPI, so this re-quantizes
that file's weights the way llama.cpp's Q4_K_M recipe lays them out: matrices whose rows are
whole 256-value super-blocks (ffn_down, 1536 columns) as Q4_K, every third layer's as Q6_K;
576-column matrices as Q5_0 (llama.cpp's fallback for Q4_K when a row is not whole super-blocks);
token_embd kept Q8_0; norms F32; metadata (tokenizer, chat template) copied. The Q4_K/Q6_K
quantizers below are simple (one min/max fit per 32 or 16 values, no search), and each block they
write is checked against the `gguf` package's dequantizer. Default output:
~/.cache/webtune/bench/SmolLM2-135M-Instruct.Q4_K_M-like.gguf
"""
import os
import sys
from pathlib import Path

import gguf
import numpy as np
from gguf import GGMLQuantizationType as T

ASSETS = Path(os.environ.get("WEBTUNE_ASSETS", Path(__file__).resolve().parents[3] / "shared" / "assets"))
SOURCE = ASSETS / "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
OUT = Path.home() / ".cache/webtune/bench/SmolLM2-135M-Instruct.Q4_K_M-like.gguf"


def f16(x):
    return np.asarray(x, dtype=np.float16)


def quantize_q4_k(x):
    """[n, 256] → [n, 144] Q4_K blocks: per 32, value ≈ (d·sc)·q − dmin·m, sc/m 6-bit, q 4-bit."""
    n = x.shape[0]
    sub = x.reshape(n, 8, 32)
    lo = np.minimum(sub.min(axis=2), 0)  # offsets are subtracted: min ≤ 0
    scale = (sub.max(axis=2) - lo) / 15
    d = f16(scale.max(axis=1) / 63).astype(np.float32)
    dmin = f16((-lo).max(axis=1) / 63).astype(np.float32)
    safe = lambda v: np.where(v == 0, 1, v)
    sc = np.clip(np.rint(scale / safe(d)[:, None]), 0, 63).astype(np.uint8)
    m = np.clip(np.rint(-lo / safe(dmin)[:, None]), 0, 63).astype(np.uint8)
    step = (d[:, None] * sc)[:, :, None]
    q = np.clip(np.rint((sub + (dmin[:, None] * m)[:, :, None]) / safe(step)), 0, 15).astype(np.uint8)
    scales = np.zeros((n, 12), np.uint8)
    scales[:, 0:4] = sc[:, 0:4] | ((sc[:, 4:8] >> 4) << 6)
    scales[:, 4:8] = m[:, 0:4] | ((m[:, 4:8] >> 4) << 6)
    scales[:, 8:12] = (sc[:, 4:8] & 0x0F) | ((m[:, 4:8] & 0x0F) << 4)
    qs = (q[:, 0::2, :] | (q[:, 1::2, :] << 4)).reshape(n, 128)  # groups 2p (low) and 2p+1 (high)
    return np.concatenate([f16(d)[:, None].view(np.uint8), f16(dmin)[:, None].view(np.uint8), scales, qs], axis=1)


def quantize_q6_k(x):
    """[n, 256] → [n, 210] Q6_K blocks: per 16, value ≈ (d·sc)·(q − 32), sc signed 8-bit, q 6-bit."""
    n = x.shape[0]
    sub = x.reshape(n, 16, 16)
    scale = np.abs(sub).max(axis=2) / 31
    d = f16(scale.max(axis=1) / 127).astype(np.float32)
    safe = lambda v: np.where(v == 0, 1, v)
    sc = np.clip(np.rint(scale / safe(d)[:, None]), -128, 127).astype(np.int8)
    step = (d[:, None] * sc)[:, :, None]
    q = (np.clip(np.rint(sub / safe(step)), -32, 31) + 32).astype(np.uint8).reshape(n, 2, 4, 32)
    # per 128 values: ql low nibbles = groups 0, 1; high nibbles = groups 2, 3; qh 2 bits per group
    ql = np.concatenate([q[:, :, 0] & 0x0F | (q[:, :, 2] & 0x0F) << 4, q[:, :, 1] & 0x0F | (q[:, :, 3] & 0x0F) << 4], axis=2)
    qh = (q[:, :, 0] >> 4) | (q[:, :, 1] >> 4) << 2 | (q[:, :, 2] >> 4) << 4 | (q[:, :, 3] >> 4) << 6
    return np.concatenate([ql.reshape(n, 128), qh.reshape(n, 64), sc.view(np.uint8), f16(d)[:, None].view(np.uint8)], axis=1)


QUANTIZERS = {T.Q4_K: quantize_q4_k, T.Q6_K: quantize_q6_k}


def quantize(values, kind):
    rows, cols = values.shape
    if kind in QUANTIZERS:
        blocks = QUANTIZERS[kind](values.reshape(-1, 256).astype(np.float32))
        back = gguf.quants.dequantize(blocks, kind).reshape(rows, cols)
        # what was written reads back close to the input (a broken layout would not)
        err = np.abs(back - values).max() / np.abs(values).max()
        assert err < (0.1 if kind == T.Q4_K else 0.03), (kind, err)
        return blocks.reshape(rows, -1)
    return gguf.quants.quantize(values, kind)


def main():
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else SOURCE
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else OUT
    out.parent.mkdir(parents=True, exist_ok=True)
    reader = gguf.GGUFReader(source)
    writer = gguf.GGUFWriter(str(out), "llama")
    for field in reader.fields.values():
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue
        kind = field.types[0]
        writer.add_key_value(field.name, field.contents(), kind, sub_type=field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None)
    for t in reader.tensors:
        values = gguf.quants.dequantize(t.data, t.tensor_type)
        if t.tensor_type == T.F32 or t.name == "token_embd.weight":
            writer.add_tensor(t.name, t.data, raw_dtype=t.tensor_type)
            continue
        cols = values.shape[-1]
        if cols % 256 == 0:
            layer = int(t.name.split(".")[1])
            kind = T.Q6_K if layer % 3 == 0 else T.Q4_K
        else:
            kind = T.Q5_0
        writer.add_tensor(t.name, quantize(values, kind), raw_dtype=kind)
    finish(writer, out)


def finish(writer, out):
    """Writes the file and prints its path and size."""
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    print(out, out.stat().st_size)


if __name__ == "__main__":
    main()
