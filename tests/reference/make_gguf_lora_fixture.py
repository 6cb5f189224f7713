"""LoRA adapters as llama.cpp's own converter (convert_lora_to_gguf.py) writes them: the reference
for webtune's GGUF adapters (src/weights/gguf_lora.rs).

    py=$(tests/reference/setup.sh)
    $py tests/reference/make_gguf_lora_fixture.py

The converter comes from the llama-cpp-python 0.3.36 source distribution on PyPI (it vendors
llama.cpp; pinned and sha256-checked, unpacked into ~/.cache/webtune/llama.cpp-0.3.36). Writes
tests/fixtures/ggml/:
  lora-all/        a PEFT adapter (random factors, rank 4, alpha 8) for tests/fixtures/llama/tiny on
                   all seven projections (q/k rows permuted by the converter, grouped-query k/v)
  lora-all.gguf    llama.cpp's conversion of it (F32)
  lora-qwen2.gguf  llama.cpp's conversion of tests/fixtures/llama/train-steps-qwen2/lora-trained
                   (Qwen2: rows kept as they are)
"""
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import urllib.request
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests/fixtures/ggml"
SDIST = ("https://files.pythonhosted.org/packages/ec/e9/e7de2b0463ea3ffbf0ede6cb21b58c1258a8f6521aae45ca773a59fe7cf3/"
         "llama_cpp_python-0.3.36.tar.gz")
SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
CACHE = Path.home() / ".cache/webtune/llama.cpp-0.3.36"
PREFIX = "llama_cpp_python-0.3.36/vendor/llama.cpp/"


def converter():
    """llama.cpp's convert_lora_to_gguf.py (and what it imports), unpacked once."""
    script = CACHE / "convert_lora_to_gguf.py"
    if script.exists():
        return script
    data = urllib.request.urlopen(SDIST).read()
    assert hashlib.sha256(data).hexdigest() == SHA256, "the llama-cpp-python sdist changed"
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar.getmembers():
            name = member.name
            wanted = name in (PREFIX + "convert_lora_to_gguf.py", PREFIX + "convert_hf_to_gguf.py")
            wanted |= name.startswith(PREFIX + "conversion/") or name.startswith(PREFIX + "gguf-py/")
            if wanted and member.isfile():
                target = CACHE / name[len(PREFIX):]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(tar.extractfile(member).read())
    return script


def convert(adapter_dir, base_dir, out):
    script = converter()
    env = {"PYTHONPATH": f"{CACHE / 'gguf-py'}:{CACHE}"}
    subprocess.run([sys.executable, str(script), "--base", str(base_dir), "--outtype", "f32", "--outfile", str(out),
                    str(adapter_dir)], check=True, env=env, capture_output=True)


def all_projections():
    """A PEFT adapter for tiny (hidden 32, 4 heads of 8, 2 key/value heads, MLP 64) on every projection."""
    base = ROOT / "tests/fixtures/llama/tiny"
    config = json.loads((base / "config.json").read_text())
    h, heads, kv, d, inner = (config["hidden_size"], config["num_attention_heads"], config["num_key_value_heads"],
                              config["head_dim"], config["intermediate_size"])
    shapes = {"self_attn.q_proj": (heads * d, h), "self_attn.k_proj": (kv * d, h), "self_attn.v_proj": (kv * d, h),
              "self_attn.o_proj": (h, heads * d), "mlp.gate_proj": (inner, h), "mlp.up_proj": (inner, h),
              "mlp.down_proj": (h, inner)}
    rng, rank = np.random.default_rng(7), 4
    tensors = {}
    for layer in range(config["num_hidden_layers"]):
        for module, (rows, cols) in shapes.items():
            prefix = f"base_model.model.model.layers.{layer}.{module}"
            tensors[prefix + ".lora_A.weight"] = rng.normal(size=(rank, cols)).astype(np.float32)
            tensors[prefix + ".lora_B.weight"] = rng.normal(size=(rows, rank)).astype(np.float32)
    folder = OUT / "lora-all"
    folder.mkdir(exist_ok=True)
    save_file(tensors, folder / "adapter_model.safetensors")
    (folder / "adapter_config.json").write_text(json.dumps({
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": rank, "lora_alpha": 8, "lora_dropout": 0.0,
        "target_modules": [m.split(".")[1] for m in shapes], "base_model_name_or_path": "tests/fixtures/llama/tiny",
        "bias": "none", "use_rslora": False}, indent=1))
    convert(folder, base, OUT / "lora-all.gguf")


def main():
    all_projections()
    convert(ROOT / "tests/fixtures/llama/train-steps-qwen2/lora-trained", ROOT / "tests/fixtures/llama/tiny-qwen2",
            OUT / "lora-qwen2.gguf")
    print("wrote", OUT / "lora-all.gguf", OUT / "lora-qwen2.gguf")


if __name__ == "__main__":
    main()
