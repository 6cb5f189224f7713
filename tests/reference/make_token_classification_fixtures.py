"""Golden fixtures for token classification (NER) on every encoder family.

Tiny random *ForTokenClassification checkpoints saved by transformers, with CoNLL-2003's tags, and
what transformers, PyTorch and seqeval compute with them. Run from the repository root after
make_encoder_fixtures.py (its tokenizers are reused) with the reference environment
(tests/reference/setup.sh, plus seqeval):

    WEBTUNE_ASSETS=../shared/assets ~/.cache/webtune/refenv/bin/python tests/reference/make_token_classification_fixtures.py

Writes tests/fixtures/token-classification/:
  <family>/config.json, model.safetensors   the model (tokenizer: tests/fixtures/encoders/<family>/)
  <family>/train-config.json                 the same with dropout 0, for the step-by-step comparison
  <family>/expected.json  {"texts", "input_ids", "logits" (padded batch, flattened),
                           "pipeline": {strategy: [[{entity|entity_group, score, index?, word, start, end}]]},
                           "sentences": [{"words", "tags"}], "labels", "labels_all" (run_ner.py's
                           alignment, without and with label_all_tokens),
                           "recipe", "steps": [{"loss", "grad_norm", "learning_rate"}],
                           "lora": {"config", "steps"} (PEFT's TOKEN_CLS, r 4, alpha 8, default targets)}
  <family>/lora-init/                        PEFT's freshly initialised adapter, where the "lora" steps start
  seqeval.json            awkward tag sequences and seqeval's metrics of them
Versions used are recorded in tests/fixtures/token-classification/VERSIONS.json.
"""
import json
import os
import platform
import sys
from pathlib import Path

import seqeval
import torch
import transformers
from seqeval.metrics import accuracy_score, classification_report
from tokenizers import pre_tokenizers
from transformers import (AutoModelForTokenClassification, BertConfig, DistilBertConfig, PreTrainedTokenizerFast,
                          RobertaConfig, XLMRobertaConfig, pipeline)

sys.path.insert(0, str(Path(__file__).parent))
from make_train_fixture import RECIPE  # noqa: E402
from make_encoder_fixtures import SMALL  # noqa: E402
from transformers import get_linear_schedule_with_warmup  # noqa: E402
from peft import LoraConfig, TaskType, get_peft_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fixtures" / "token-classification"
ENCODERS = ROOT / "tests" / "fixtures" / "encoders"
ASSETS = Path(os.environ.get("WEBTUNE_ASSETS", ROOT.parent / "shared" / "assets"))
TAGS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
MAX_LENGTH = 64
TEXTS = [
    "Angela Merkel met the board of Siemens in Munich on Tuesday.",
    "the movie was a delight from start to finish",
    "café naïve ☃ Zürich-based startups, said  Dr. O'Neill",
    # longer than the model reads: the pipeline cuts it, as transformers does
    " ".join(["a delight from start to finish in Paris and London"] * 8),
]
STRATEGIES = ["none", "simple", "first", "average", "max"]
# PEFT's default LoRA targets per family (BERT, RoBERTa, XLM-RoBERTa: query, value)
LORA_TARGETS = {"distilbert": ["q_lin", "v_lin"]}


def conll_sentences(n: int):
    """The first n sentences of CoNLL-2003's training file: (words, tags)."""
    sentences, words, tags = [], [], []
    for line in (ASSETS / "data/conll2003/train.txt").read_text().splitlines():
        if not line.strip() or line.startswith("-DOCSTART-"):
            if words:
                sentences.append((words, tags))
                words, tags = [], []
            if len(sentences) == n:
                break
            continue
        cols = line.split()
        words.append(cols[0])
        tags.append(cols[-1])
    return sentences


def align(word_ids, tags, label_all_tokens):
    """run_ner.py's tokenize_and_align_labels for one sentence."""
    label2id = {t: i for i, t in enumerate(TAGS)}
    b_to_i = [label2id.get("I-" + t[2:], i) if t.startswith("B-") else i for i, t in enumerate(TAGS)]
    out, previous = [], None
    for w in word_ids:
        if w is None:
            out.append(-100)
        elif w != previous:
            out.append(label2id[tags[w]])
        else:
            out.append(b_to_i[label2id[tags[w]]] if label_all_tokens else -100)
        previous = w
    return out


def plain(entity):
    return {k: (float(v) if k == "score" else int(v) if k in ("index", "start", "end") else v) for k, v in entity.items()}


def family(name: str, config, pad: str, unk: str):
    out = OUT / name
    out.mkdir(parents=True, exist_ok=True)
    tokenizer_file = str(ENCODERS / name / "tokenizer.json")
    fast = PreTrainedTokenizerFast(tokenizer_file=tokenizer_file, pad_token=pad, unk_token=unk, model_max_length=MAX_LENGTH)
    torch.manual_seed(0)
    model = AutoModelForTokenClassification.from_config(config)
    model.save_pretrained(out)
    (out / "README.md").unlink(missing_ok=True)
    model.eval()
    enc = fast(TEXTS, padding="longest", truncation=True, return_tensors="pt", return_token_type_ids=False)
    with torch.no_grad():
        logits = model(**enc).logits
    expected = {
        "texts": TEXTS, "input_ids": enc["input_ids"].tolist(),
        "logits": [round(float(x), 6) for x in logits.flatten()],
        "pipeline": {},
    }
    for strategy in STRATEGIES:
        tagger = pipeline("token-classification", model=model, tokenizer=fast, aggregation_strategy=strategy, device="cpu")
        expected["pipeline"][strategy] = [[plain(e) for e in tagger(t)] for t in TEXTS]

    # fine-tuning: run_ner.py's alignment, make_train_fixture.py's recipe, dropout 0
    cfg = json.loads((out / "config.json").read_text())
    for key in ("hidden_dropout_prob", "attention_probs_dropout_prob", "dropout", "attention_dropout", "classifier_dropout"):
        if key in cfg:
            cfg[key] = 0.0
    (out / "train-config.json").write_text(json.dumps(cfg, indent=2))
    words_fast = PreTrainedTokenizerFast(tokenizer_file=tokenizer_file, pad_token=pad, unk_token=unk, model_max_length=MAX_LENGTH)
    pre = words_fast.backend_tokenizer.pre_tokenizer
    if isinstance(pre, pre_tokenizers.ByteLevel):  # RoBERTa: words need a prefix space (add_prefix_space=True)
        words_fast.backend_tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)
    sentences = conll_sentences(12)
    batch = words_fast([w for w, _ in sentences], is_split_into_words=True, truncation=True, padding="longest",
                       return_tensors="pt", return_token_type_ids=False)
    labels = [align(batch.word_ids(i), tags, False) for i, (_, tags) in enumerate(sentences)]
    labels_all = [align(batch.word_ids(i), tags, True) for i, (_, tags) in enumerate(sentences)]
    expected.update(sentences=[{"words": w, "tags": t} for w, t in sentences], labels=labels, labels_all=labels_all,
                    recipe=RECIPE, steps=train_steps(out, type(config)(**cfg), batch, torch.tensor(labels)))
    targets = LORA_TARGETS.get(name, ["query", "value"])
    lora = LoraConfig(task_type=TaskType.TOKEN_CLS, r=4, lora_alpha=8, lora_dropout=0.0, target_modules=list(targets))
    expected["lora"] = {"config": {"rank": 4, "alpha": 8, "target_modules": targets, "modules_to_save": ["classifier"]},
                        "steps": train_steps(out, type(config)(**cfg), batch, torch.tensor(labels), lora)}
    (out / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False))
    print(f"{name}: simple entities {[len(x) for x in expected['pipeline']['simple']]}, "
          f"steps {[round(s['loss'], 5) for s in expected['steps']]}")


def train_steps(out: Path, config, batch, labels, lora=None) -> list:
    """The recipe's steps from the checkpoint in `out`; with `lora` (a peft LoraConfig), PEFT's
    adapters on the frozen base, saved as they start in out/lora-init/."""
    model = AutoModelForTokenClassification.from_pretrained(out, config=config)
    if lora is not None:
        torch.manual_seed(1)
        model = get_peft_model(model, lora)
        model.save_pretrained(out / "lora-init")
        (out / "lora-init" / "README.md").unlink(missing_ok=True)
    model.train()
    no_decay = lambda n: n.endswith(".bias") or "LayerNorm.weight" in n or "layer_norm.weight" in n
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    params = [
        {"params": [p for n, p in named if not no_decay(n)], "weight_decay": RECIPE["weight_decay"]},
        {"params": [p for n, p in named if no_decay(n)], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(params, lr=RECIPE["learning_rate"], betas=(0.9, 0.999), eps=1e-8)
    sched = get_linear_schedule_with_warmup(opt, RECIPE["warmup_steps"], RECIPE["steps"])
    steps = []
    for _ in range(RECIPE["steps"]):
        lr = sched.get_last_lr()[0]
        loss = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels).loss
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_([p for _, p in named], RECIPE["max_grad_norm"])
        opt.step()
        sched.step()
        opt.zero_grad()
        steps.append({"loss": loss.item(), "grad_norm": norm.item(), "learning_rate": lr})
    return steps


# (true, predicted) tag sequences with the cases seqeval reads leniently: IOB1 (I- after O), a
# type change inside an entity, BIOES, B- after B-, a sentence with no entity
SEQEVAL_CASES = [
    ([["B-PER", "I-PER", "O", "B-LOC"], ["O", "O"]], [["B-PER", "I-PER", "O", "B-ORG"], ["O", "B-MISC"]]),
    ([["I-PER", "I-PER", "O", "I-LOC", "I-LOC"]], [["B-PER", "I-PER", "O", "I-LOC", "I-ORG"]]),
    ([["S-PER", "O", "B-LOC", "I-LOC", "E-LOC"]], [["S-PER", "O", "B-LOC", "E-LOC", "O"]]),
    ([["B-PER", "B-PER", "I-PER", "O"], ["B-ORG"]], [["B-PER", "I-PER", "I-PER", "O"], ["I-ORG"]]),
    ([["O", "O", "O"]], [["O", "B-LOC", "O"]]),
]


def seqeval_fixture():
    cases = []
    for truth, predicted in SEQEVAL_CASES:
        report = classification_report(truth, predicted, output_dict=True, zero_division=0)
        per_type = {k: {m: float(v[m]) for m in ("precision", "recall", "f1-score", "support")}
                    for k, v in report.items() if not k.endswith(" avg")}
        micro = report["micro avg"]
        cases.append({"truth": truth, "predicted": predicted, "per_type": per_type,
                      "precision": float(micro["precision"]), "recall": float(micro["recall"]),
                      "f1": float(micro["f1-score"]), "accuracy": float(accuracy_score(truth, predicted))})
    (OUT / "seqeval.json").write_text(json.dumps(cases, indent=1))


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    labels = dict(id2label=dict(enumerate(TAGS)), label2id={t: i for i, t in enumerate(TAGS)})
    wordpiece = json.loads((ENCODERS / "bert" / "tokenizer.json").read_text())
    vocab = len(wordpiece["model"]["vocab"])
    roberta_like = dict(**SMALL, **labels, max_position_embeddings=66, type_vocab_size=1, pad_token_id=1,
                        bos_token_id=0, eos_token_id=2, layer_norm_eps=1e-5)
    size = lambda name: PreTrainedTokenizerFast(tokenizer_file=str(ENCODERS / name / "tokenizer.json")).backend_tokenizer.get_vocab_size()
    family("bert", BertConfig(vocab_size=vocab, max_position_embeddings=64, **SMALL, **labels), "[PAD]", "[UNK]")
    family("distilbert", DistilBertConfig(vocab_size=vocab, dim=32, n_layers=2, n_heads=4, hidden_dim=37,
                                          max_position_embeddings=64, initializer_range=0.25, pad_token_id=0, **labels),
           "[PAD]", "[UNK]")
    family("roberta", RobertaConfig(vocab_size=size("roberta"), **roberta_like), "<pad>", "<unk>")
    family("xlm-roberta", XLMRobertaConfig(vocab_size=size("xlm-roberta"), **roberta_like), "<pad>", "<unk>")
    seqeval_fixture()
    (OUT / "VERSIONS.json").write_text(json.dumps({
        "python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
        "seqeval": seqeval.__version__ if hasattr(seqeval, "__version__") else "1.2.2",
    }, indent=1))


if __name__ == "__main__":
    main()
