"""Golden fixture for attention weights: transformers' `output_attentions=True` on the tiny encoder
checkpoints of make_encoder_fixtures.py (run that first), eager attention, one sentence.

    py=$(tests/reference/setup.sh)
    $py tests/reference/make_attention_fixture.py

Writes tests/fixtures/encoders/attentions.json: per family (bert, roberta, xlm-roberta,
distilbert) {text, tokens (convert_ids_to_tokens of the encoded sentence), attentions:
[layer][head][query][key]}.
"""
import json
from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, PreTrainedTokenizerFast

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fixtures" / "encoders"
TEXT = "the quick brown fox jumps over the lazy dog"


def main() -> None:
    out = {}
    for family in ["bert", "roberta", "xlm-roberta", "distilbert"]:
        folder = OUT / family
        tok = PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"))
        model = AutoModelForSequenceClassification.from_pretrained(folder, attn_implementation="eager").eval()
        ids = tok(TEXT, return_tensors="pt")
        with torch.no_grad():
            attentions = model(**{k: v for k, v in ids.items() if k != "token_type_ids" or family == "bert"},
                               output_attentions=True).attentions
        out[family] = {"text": TEXT, "tokens": tok.convert_ids_to_tokens(ids["input_ids"][0]),
                       "attentions": [a[0].tolist() for a in attentions]}
        print(family, len(attentions), tuple(attentions[0].shape))
    (OUT / "attentions.json").write_text(json.dumps(out))


if __name__ == "__main__":
    main()
