"""Golden fixtures for the BERT-family tests, produced by the real reference (transformers + PyTorch).

Run from the repository root (CPU is enough; takes ~20 s):

    python3 -m venv ~/.cache/webtune/refenv
    ~/.cache/webtune/refenv/bin/pip install torch transformers safetensors tokenizers
    WEBTUNE_ASSETS=../shared/assets ~/.cache/webtune/refenv/bin/python tests/reference/make_bert_fixtures.py

Writes tests/fixtures/bert/:
  tokenizer.json              a 600-token WordPiece tokenizer (BERT normalizer/pre-tokenizer/[CLS]…[SEP])
                              trained on SST-2 sentences, so the tiny models stay small
  tiny-base/                  BertModel (no "bert." prefix, with pooler)   — layout of all-MiniLM-L6-v2
  tiny-mlm/                   BertForMaskedLM ("bert." prefix, no pooler, extra cls.* MLM keys)
  tiny-cls3/                  BertForSequenceClassification, 3 labels with id2label
  tiny-cls3-f16/              the same weights saved as float16
  each with config.json, model.safetensors and expected.json:
    {"texts", "input_ids", "attention_mask", "token_type_ids", "last_hidden_state", "pooler_output"?, "logits"?}
  minilm.json                 all-MiniLM-L6-v2 (from WEBTUNE_ASSETS): slices + checksums of
                              last_hidden_state, mean-pooled embeddings, their cosine
Versions used are recorded in tests/fixtures/bert/VERSIONS.json.
"""
import json
import os
import platform
import sys
from pathlib import Path

import safetensors
import tokenizers
import torch
import transformers
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import (BertConfig, BertForMaskedLM, BertForSequenceClassification, BertModel,
                          PreTrainedTokenizerFast)

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fixtures" / "bert"
ASSETS = Path(os.environ.get("WEBTUNE_ASSETS", ROOT.parent / "shared" / "assets"))
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
TEXTS = [
    "the movie was a delight from start to finish",
    "dull",
    "an ambitious , sprawling film that never quite finds its footing but still charms",
]


def train_tokenizer() -> Tokenizer:
    lines = (ASSETS / "data/sst2/train.tsv").read_text().splitlines()[1:3001]
    sentences = [l.split("\t")[0] for l in lines]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.train_from_iterator(sentences, trainers.WordPieceTrainer(vocab_size=600, special_tokens=SPECIALS))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return tok


def tiny_config(vocab_size: int, **kw) -> BertConfig:
    return BertConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                      intermediate_size=37, max_position_embeddings=64, type_vocab_size=2,
                      initializer_range=0.25, **kw)  # large init: outputs differ clearly per row


def tolist(t: torch.Tensor):
    return [round(float(x), 7) for x in t.flatten()], list(t.shape)


def write_model(name: str, model, enc, dtype=None):
    d = OUT / name
    d.mkdir(parents=True, exist_ok=True)
    model.eval()
    with torch.no_grad():
        out = model(**enc, output_hidden_states=True)
    if dtype is not None:
        model = model.to(dtype)
    model.save_pretrained(d, safe_serialization=True)
    expected = {"texts": TEXTS, **{k: v.tolist() for k, v in enc.items()}}
    hidden = out.hidden_states[-1]
    expected["last_hidden_state"], expected["last_hidden_state_shape"] = tolist(hidden)
    if getattr(out, "pooler_output", None) is not None:
        expected["pooler_output"], _ = tolist(out.pooler_output)
    if getattr(out, "logits", None) is not None and isinstance(model, BertForSequenceClassification):
        expected["logits"], expected["logits_shape"] = tolist(out.logits)
    (d / "expected.json").write_text(json.dumps(expected))
    print(f"wrote {d} ({sum(p.numel() for p in model.parameters())} params)")


def minilm():
    d = ASSETS / "models/all-MiniLM-L6-v2"
    if not d.exists():
        print(f"skipping MiniLM: {d} not found", file=sys.stderr)
        return
    tok = PreTrainedTokenizerFast(tokenizer_file=str(d / "tokenizer.json"))
    tok.pad_token = "[PAD]"
    model = BertModel.from_pretrained(d).eval()
    texts = ["A man is eating food.", "A man is eating a piece of bread."]
    enc = tok(texts, padding="longest", return_tensors="pt")
    enc.pop("token_type_ids", None)
    enc["token_type_ids"] = torch.zeros_like(enc["input_ids"])
    with torch.no_grad():
        h = model(**enc).last_hidden_state                       # [2, L, 384]
    m = enc["attention_mask"].unsqueeze(-1).float()
    emb = (h * m).sum(1) / m.sum(1)                              # [2, 384]
    cos = torch.nn.functional.cosine_similarity(emb[0], emb[1], dim=0)
    fixture = {
        "texts": texts, "input_ids": enc["input_ids"].tolist(), "attention_mask": enc["attention_mask"].tolist(),
        "shape": list(h.shape),
        "slices": {  # [batch, token, first 8 hidden units]
            f"{b},{t}": [round(float(x), 7) for x in h[b, t, :8]] for b in range(2) for t in (0, 1, int(m[b].sum()) - 1)},
        "sum": float(h.double().sum()), "abs_sum": float(h.double().abs().sum()),
        "mean_pooled_first8": [[round(float(x), 7) for x in e[:8]] for e in emb],
        "cosine": float(cos),
    }
    (OUT / "minilm.json").write_text(json.dumps(fixture, indent=1))
    print(f"MiniLM cosine = {float(cos):.4f}")


def main():
    torch.manual_seed(0)
    OUT.mkdir(parents=True, exist_ok=True)
    tok = train_tokenizer()
    tok.save(str(OUT / "tokenizer.json"))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    enc = fast(TEXTS, padding="longest", return_tensors="pt")
    vocab = tok.get_vocab_size()

    write_model("tiny-base", BertModel(tiny_config(vocab)), enc)
    write_model("tiny-mlm", BertForMaskedLM(tiny_config(vocab)), enc)
    labels = {0: "negative", 1: "neutral", 2: "positive"}
    cls3 = BertForSequenceClassification(tiny_config(vocab, num_labels=3, id2label=labels,
                                                     label2id={v: k for k, v in labels.items()}))
    write_model("tiny-cls3", cls3, enc)
    # float16 copy: expected outputs recomputed from the rounded weights, in float32
    half = BertForSequenceClassification(cls3.config)
    half.load_state_dict({k: v.half().float() for k, v in cls3.state_dict().items()})
    write_model("tiny-cls3-f16", half, enc, dtype=torch.float16)
    minilm()
    (OUT / "VERSIONS.json").write_text(json.dumps({
        "command": "python tests/reference/make_bert_fixtures.py", "python": platform.python_version(),
        "torch": torch.__version__, "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__, "safetensors": safetensors.__version__}, indent=1))


if __name__ == "__main__":
    main()
