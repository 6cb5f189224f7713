"""Exports a BERT-family model folder to ONNX in the layout transformers.js loads locally, for the
transformers.js side of the browser benchmark (tests/bench/encoder.mjs --engines ...,transformers.js).

    python tests/reference/export_onnx.py --model DIR --out OUT

writes OUT/{config.json, tokenizer.json, tokenizer_config.json, special_tokens_map.json?,
onnx/model.onnx}: the encoder (`AutoModel`: last_hidden_state) in fp32 with dynamic batch and
sequence axes, exported by torch.onnx (dynamo) and checked against PyTorch with onnxruntime
(max abs difference printed; over 1e-4 is an error). Skips the work when OUT is up to date.
"""

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import onnxruntime
import torch
from transformers import AutoModel, AutoTokenizer

TEXTS = ["A man is eating food.", "A man is eating a piece of bread, slowly and with care, at noon."]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    a = ap.parse_args()
    onnx_path = a.out / "onnx" / "model.onnx"
    stamp = a.out / "export.json"
    source = (a.model / "model.safetensors").stat()
    meta = {"model": str(a.model.resolve()), "bytes": source.st_size, "torch": torch.__version__}
    if onnx_path.exists() and stamp.exists() and json.loads(stamp.read_text()) == meta:
        print(f"{onnx_path} is up to date", file=sys.stderr)
        return

    model = AutoModel.from_pretrained(a.model).eval()
    tok = AutoTokenizer.from_pretrained(a.model)
    enc = tok(TEXTS, padding=True, return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    args = tuple(enc[n] for n in names)

    class Encoder(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.m(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state

    batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence", max=model.config.max_position_embeddings)
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        Encoder(model), args, str(onnx_path), input_names=names, output_names=["last_hidden_state"],
        dynamic_shapes={n: {0: batch, 1: seq} for n in names}, dynamo=True, external_data=False,
    )

    with torch.no_grad():
        want = model(**enc).last_hidden_state.numpy()
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = session.run(None, {n: enc[n].numpy() for n in names})[0]
    diff = float(np.abs(got - want).max())
    print(f"exported {onnx_path} ({onnx_path.stat().st_size / 1e6:.1f} MB); max |onnxruntime - PyTorch| = {diff:.2e}", file=sys.stderr)
    if diff > 1e-4:
        sys.exit(f"export_onnx: the ONNX model differs from PyTorch by {diff:.2e} (> 1e-4)")

    for f in ["config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]:
        if (a.model / f).exists():
            shutil.copyfile(a.model / f, a.out / f)
    stamp.write_text(json.dumps(meta))


if __name__ == "__main__":
    main()
