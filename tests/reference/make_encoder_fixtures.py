"""Golden fixtures for the encoder families besides BERT: RoBERTa, XLM-RoBERTa, DistilBERT.

Tiny random checkpoints saved by transformers (save_pretrained), their tokenizers, and what
transformers computes with them. Run from the repository root after make_bert_fixtures.py (reads
its WordPiece tokenizer for DistilBERT) with the reference environment (tests/reference/setup.sh):

    WEBTUNE_ASSETS=../shared/assets ~/.cache/webtune/refenv/bin/python tests/reference/make_encoder_fixtures.py

Writes tests/fixtures/encoders/<family>/ for roberta, xlm-roberta, distilbert (and bert, for LoRA;
BERT's own parity fixtures are make_bert_fixtures.py's):
  config.json, model.safetensors   a *ForSequenceClassification with 3 labels (id2label)
  tokenizer.json                   roberta: byte-level BPE (400 tokens) with RobertaProcessing;
                                   xlm-roberta: SentencePiece Unigram (nmt_nfkc normalization, so a
                                   Precompiled charsmap) converted by transformers' XLMRobertaConverter;
                                   distilbert, bert: the BERT fixtures' WordPiece tokenizer
  train-config.json                config.json with dropout 0 (for the step-by-step comparison)
  expected.json                    {"texts", "input_ids", "attention_mask", "pair": {"texts", "input_ids"},
                                    "last_hidden_state", "logits",
                                    "recipe", "rows", "steps": [{"loss", "grad_norm", "learning_rate"}],
                                    "lora": {"config", "steps"}}
  lora-init/                       PEFT's freshly initialised adapter (SEQ_CLS, r 4, alpha 8, the
                                   family's default targets; the head in modules_to_save), where the
                                   "lora" steps start: adapter_model.safetensors, adapter_config.json
The training recipe and rows are make_train_fixture.py's (HF Trainer's AdamW, decay groups,
linear warmup schedule, clipping; one batch of all rows per step).
Versions used are recorded in tests/fixtures/encoders/VERSIONS.json.
"""
import io
import json
import os
import platform
import shutil
import sys
import types
from pathlib import Path

import sentencepiece as spm
import tokenizers
import torch
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (AutoModelForSequenceClassification, BertConfig, DistilBertConfig, PreTrainedTokenizerFast,
                          RobertaConfig, XLMRobertaConfig, get_linear_schedule_with_warmup)
from transformers.convert_slow_tokenizer import XLMRobertaConverter
from peft import LoraConfig, TaskType, get_peft_model

sys.path.insert(0, str(Path(__file__).parent))
from make_train_fixture import RECIPE, ROWS, run_recipe  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fixtures" / "encoders"
ASSETS = Path(os.environ.get("WEBTUNE_ASSETS", ROOT.parent / "shared" / "assets"))
TEXTS = [
    "the movie was a delight from start to finish",
    "dull",
    "an ambitious , sprawling film that never quite finds its footing but still charms — café naïve",
]
PAIR = (["a delight", "dull"], ["from start to finish", "and far too long"])
LABELS = {"0": "negative", "1": "neutral", "2": "positive"}
SMALL = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, initializer_range=0.25)


def sentences():
    lines = (ASSETS / "data/sst2/train.tsv").read_text().splitlines()[1:3001]
    return [l.split("\t")[0] for l in lines]


def bpe_tokenizer() -> Tokenizer:
    """RoBERTa's layout: byte-level BPE, <s> <pad> </s> <unk> <mask> as ids 0-4."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(sentences(), trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), trim_offsets=True, add_prefix_space=False)
    return tok


def unigram_tokenizer() -> Tokenizer:
    """XLM-RoBERTa's layout: a SentencePiece Unigram model converted as transformers converts xlm-roberta-base."""
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(sentences()), model_writer=model, vocab_size=300,
                                   model_type="unigram", normalization_rule_name="nmt_nfkc", character_coverage=1.0,
                                   bos_id=-1, eos_id=-1, pad_id=-1, unk_id=0, minloglevel=2)
    path = OUT / "spm.model"
    path.write_bytes(model.getvalue())
    fairseq = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    try:
        return XLMRobertaConverter(types.SimpleNamespace(vocab_file=str(path), convert_tokens_to_ids=fairseq.get)).converted()
    finally:
        path.unlink()


def family(name: str, config, tok: Tokenizer, pad: str):
    out = OUT / name
    out.mkdir(parents=True, exist_ok=True)
    tok.save(str(out / "tokenizer.json"))
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(config)
    model.save_pretrained(out)
    (out / "README.md").unlink(missing_ok=True)
    fast = PreTrainedTokenizerFast(tokenizer_file=str(out / "tokenizer.json"), pad_token=pad)
    enc = fast(TEXTS, padding="longest", return_tensors="pt", return_token_type_ids=False)
    model.eval()
    with torch.no_grad():
        o = model(**enc, output_hidden_states=True)
    pair = fast(*PAIR, padding="longest", return_token_type_ids=False)
    expected = {
        "texts": TEXTS, "input_ids": enc["input_ids"].tolist(), "attention_mask": enc["attention_mask"].tolist(),
        "pair": {"texts": [list(p) for p in zip(*PAIR)], "input_ids": pair["input_ids"]},
        "last_hidden_state": [round(float(x), 6) for x in o.hidden_states[-1].flatten()],
        "logits": [round(float(x), 6) for x in o.logits.flatten()],
    }
    expected.update(train_steps(out, config, fast))
    expected["lora"] = lora_steps(out, name, config, fast)
    (out / "expected.json").write_text(json.dumps(expected, indent=1))
    print(f"{name}: {sum(p.numel() for p in model.parameters())} parameters, logits[0] {expected['logits'][:3]}, "
          f"steps {[round(s['loss'], 5) for s in expected['steps']]}")


# PEFT's default targets (TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING) and the head
# trained in full: PEFT's SEQ_CLS default ("classifier"), and DistilBERT's pre_classifier too (its
# base checkpoints have none, so a frozen fresh one would not be in the adapter file)
LORA = {
    "bert": {"target_modules": ["query", "value"], "modules_to_save": ["pooler", "classifier"]},
    "roberta": {"target_modules": ["query", "value"], "modules_to_save": ["classifier"]},
    "xlm-roberta": {"target_modules": ["query", "value"], "modules_to_save": ["classifier"]},
    "distilbert": {"target_modules": ["q_lin", "v_lin"], "modules_to_save": ["pre_classifier", "classifier"]},
}


def training_config(out: Path, config):
    """config.json with dropout 0, written as train-config.json."""
    cfg = json.loads((out / "config.json").read_text())
    for key in ("hidden_dropout_prob", "attention_probs_dropout_prob", "dropout", "attention_dropout", "seq_classif_dropout"):
        if key in cfg:
            cfg[key] = 0.0
    (out / "train-config.json").write_text(json.dumps(cfg, indent=2))
    return cfg, type(config)(**cfg)


def train_steps(out: Path, config, fast) -> dict:
    """make_train_fixture.py's recipe on this family, dropout 0 (train-config.json)."""
    cfg, config = training_config(out, config)
    model = AutoModelForSequenceClassification.from_pretrained(out, config=config)
    return {"recipe": RECIPE, "rows": [{"text": t, "label": l} for t, l in ROWS], "steps": run_recipe(model, cfg, fast)}


def lora_steps(out: Path, name: str, config, fast) -> dict:
    """The same recipe with PEFT's LoRA (the base frozen), from the adapter saved in lora-init/."""
    cfg, config = training_config(out, config)
    torch.manual_seed(1)
    base = AutoModelForSequenceClassification.from_pretrained(out, config=config)
    # copies: PEFT appends its own defaults to the modules_to_save list it is given
    lora = LoraConfig(task_type=TaskType.SEQ_CLS, r=4, lora_alpha=8, lora_dropout=0.0, **{k: list(v) for k, v in LORA[name].items()})
    model = get_peft_model(base, lora)
    model.save_pretrained(out / "lora-init")
    (out / "lora-init" / "README.md").unlink(missing_ok=True)
    return {"config": {"rank": 4, "alpha": 8, **LORA[name]}, "steps": run_recipe(model, cfg, fast)}


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    labels = dict(id2label=LABELS, label2id={v: int(k) for k, v in LABELS.items()})
    roberta_like = dict(**SMALL, **labels, max_position_embeddings=66, type_vocab_size=1, pad_token_id=1,
                        bos_token_id=0, eos_token_id=2, layer_norm_eps=1e-5)
    bpe = bpe_tokenizer()
    family("roberta", RobertaConfig(vocab_size=bpe.get_vocab_size(), **roberta_like), bpe, "<pad>")
    unigram = unigram_tokenizer()
    family("xlm-roberta", XLMRobertaConfig(vocab_size=unigram.get_vocab_size(), **roberta_like), unigram, "<pad>")
    wordpiece = Tokenizer.from_file(str(ROOT / "tests/fixtures/bert/tokenizer.json"))
    family("bert", BertConfig(vocab_size=wordpiece.get_vocab_size(), max_position_embeddings=64, **SMALL, **labels),
           wordpiece, "[PAD]")
    family("distilbert", DistilBertConfig(vocab_size=wordpiece.get_vocab_size(), dim=32, n_layers=2, n_heads=4,
                                          hidden_dim=37, max_position_embeddings=64, initializer_range=0.25,
                                          pad_token_id=0, **labels), wordpiece, "[PAD]")
    (OUT / "VERSIONS.json").write_text(json.dumps({
        "python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__, "sentencepiece": spm.__version__,
    }, indent=1))


if __name__ == "__main__":
    main()
