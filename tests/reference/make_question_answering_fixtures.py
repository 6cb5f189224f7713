"""Golden fixtures for extractive question answering on every encoder family.

Tiny random *ForQuestionAnswering checkpoints saved by transformers, and what transformers'
`run_qa.py` recipe computes with them: features (question first, only the context truncated, a
document stride, offsets), start/end labels, logits, PyTorch training steps, the post-processing of
`utils_qa.postprocess_qa_predictions` (SQuAD v1 and v2) and the official SQuAD v1.1 / v2.0 metrics.
The two last live in the transformers repository's examples and the SQuAD site, not in a wheel:
they are transcribed below, unchanged in what they compute. Run from the repository root after
make_fill_mask_fixtures.py (its tokenizers, special tokens declared, are reused):

    WEBTUNE_ASSETS=../shared/assets ~/.cache/webtune/refenv/bin/python tests/reference/make_question_answering_fixtures.py

Writes tests/fixtures/question-answering/:
  <family>/config.json, model.safetensors, train-config.json (dropout 0)
  <family>/expected.json  {"settings", "examples", "features": [{"example", "input_ids", "offsets"
                           (null outside the context), "start", "end"}], "start_logits", "end_logits",
                           "v1": {id: {"text", "start", "end", "nbest": [{text, start, end, probability}]}},
                           "v2": {id: text}, "recipe", "steps",
                           "lora": {"config", "steps"} (PEFT's QUESTION_ANS, r 4, alpha 8, default targets)}
  <family>/lora-init/     PEFT's freshly initialised adapter, where the "lora" steps start
  metrics.json            predictions and references with the official scripts' v1.1 and v2.0 metrics
Versions used are recorded in tests/fixtures/question-answering/VERSIONS.json.
"""
import collections
import json
import os
import platform
import re
import string
import sys
from pathlib import Path

import numpy as np
import torch
import transformers
from peft import LoraConfig, TaskType, get_peft_model
from transformers import (AutoModelForQuestionAnswering, BertConfig, DistilBertConfig, PreTrainedTokenizerFast,
                          RobertaConfig, XLMRobertaConfig, get_linear_schedule_with_warmup)

sys.path.insert(0, str(Path(__file__).parent))
from make_train_fixture import RECIPE  # noqa: E402
from make_encoder_fixtures import SMALL  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fixtures" / "question-answering"
TOKENIZERS = ROOT / "tests" / "fixtures" / "fill-mask"
ASSETS = Path(os.environ.get("WEBTUNE_ASSETS", ROOT.parent / "shared" / "assets"))
SETTINGS = {"max_length": 64, "doc_stride": 8, "n_best": 20, "max_answer_length": 30, "null_score_diff_threshold": 0.0}


def examples():
    """Three questions on SQuAD's first training paragraph (a long context: many windows), one on a
    short one whose answer starts at 0, and one unanswerable (SQuAD 2.0's empty answers)."""
    squad = json.loads((ASSETS / "data/squad/train.json").read_text())
    p = squad["data"][0]["paragraphs"][0]
    out = [{"id": q["id"], "question": q["question"], "context": p["context"],
            "answers": {"text": [a["text"] for a in q["answers"]], "answer_start": [a["answer_start"] for a in q["answers"]]}}
           for q in p["qas"][:3]]
    out.append({"id": "short", "question": "  Who wrote it?", "context": "Zoë Brandt wrote the café review.",
                "answers": {"text": ["Zoë Brandt"], "answer_start": [0]}})
    out.append({"id": "none", "question": "When did it rain?", "context": "The report says nothing about the weather.",
                "answers": {"text": [], "answer_start": []}})
    return out


def features(tok, exs):
    """run_qa.py's prepare_train_features and prepare_validation_features, together."""
    pad_right = tok.padding_side == "right"
    enc = tok([e["question"].lstrip() for e in exs], [e["context"] for e in exs], truncation="only_second",
              max_length=SETTINGS["max_length"], stride=SETTINGS["doc_stride"], return_overflowing_tokens=True,
              return_offsets_mapping=True, padding="longest", return_token_type_ids=True)
    assert pad_right
    out = []
    for i, offsets in enumerate(enc["offset_mapping"]):
        ex = exs[enc["overflow_to_sample_mapping"][i]]
        seq = enc.sequence_ids(i)
        cls = enc["input_ids"][i].index(tok.cls_token_id) if tok.cls_token_id in enc["input_ids"][i] else 0
        if len(ex["answers"]["answer_start"]) == 0:
            start, end = cls, cls
        else:
            start_char = ex["answers"]["answer_start"][0]
            end_char = start_char + len(ex["answers"]["text"][0])
            ts = 0
            while seq[ts] != 1:
                ts += 1
            te = len(enc["input_ids"][i]) - 1
            while seq[te] != 1:
                te -= 1
            if not (offsets[ts][0] <= start_char and offsets[te][1] >= end_char):
                start, end = cls, cls
            else:
                while ts < len(offsets) and offsets[ts][0] <= start_char:
                    ts += 1
                start = ts - 1
                while offsets[te][1] >= end_char:
                    te -= 1
                end = te + 1
        out.append({"example": enc["overflow_to_sample_mapping"][i], "input_ids": enc["input_ids"][i],
                    "attention_mask": enc["attention_mask"][i], "token_type_ids": enc["token_type_ids"][i], "start": start, "end": end,
                    "offsets": [list(o) if seq[k] == 1 else None for k, o in enumerate(offsets)]})
    return out


def postprocess(exs, feats, all_start, all_end, v2):
    """utils_qa.postprocess_qa_predictions, as transformers' examples/pytorch/question-answering has it."""
    n_best, max_len = SETTINGS["n_best"], SETTINGS["max_answer_length"]
    by_example = collections.defaultdict(list)
    for i, f in enumerate(feats):
        by_example[f["example"]].append(i)
    predictions, nbest_out = {}, {}
    for ei, ex in enumerate(exs):
        min_null = None
        prelim = []
        for fi in by_example[ei]:
            start_logits, end_logits = all_start[fi], all_end[fi]
            offsets = feats[fi]["offsets"]
            null = start_logits[0] + end_logits[0]
            if min_null is None or min_null["score"] > null:
                min_null = {"offsets": (0, 0), "score": null, "start_logit": start_logits[0], "end_logit": end_logits[0]}
            start_idx = np.argsort(start_logits)[-1:-n_best - 1:-1].tolist()
            end_idx = np.argsort(end_logits)[-1:-n_best - 1:-1].tolist()
            for s in start_idx:
                for e in end_idx:
                    if s >= len(offsets) or e >= len(offsets) or offsets[s] is None or len(offsets[s]) < 2 \
                            or offsets[e] is None or len(offsets[e]) < 2:
                        continue
                    if e < s or e - s + 1 > max_len:
                        continue
                    prelim.append({"offsets": (offsets[s][0], offsets[e][1]), "score": start_logits[s] + end_logits[e],
                                   "start_logit": start_logits[s], "end_logit": end_logits[e]})
        if v2 and min_null is not None:
            prelim.append(min_null)
            null_score = min_null["score"]
        preds = sorted(prelim, key=lambda x: x["score"], reverse=True)[:n_best]
        if v2 and min_null is not None and not any(p["offsets"] == (0, 0) for p in preds):
            preds.append(min_null)
        for p in preds:
            p["text"] = ex["context"][p["offsets"][0]:p["offsets"][1]]
        if len(preds) == 0 or (len(preds) == 1 and preds[0]["text"] == ""):
            preds.insert(0, {"text": "empty", "start_logit": 0.0, "end_logit": 0.0, "score": 0.0, "offsets": (0, 0)})
        scores = np.array([p.pop("score") for p in preds])
        exp = np.exp(scores - np.max(scores))
        probs = exp / exp.sum()
        for prob, p in zip(probs, preds):
            p["probability"] = prob
        if not v2:
            predictions[ex["id"]] = preds[0]
        else:
            i = 0
            while preds[i]["text"] == "":
                i += 1
            best = preds[i]
            diff = null_score - best["start_logit"] - best["end_logit"]
            predictions[ex["id"]] = {"text": "" if diff > SETTINGS["null_score_diff_threshold"] else best["text"]}
        nbest_out[ex["id"]] = [{"text": p["text"], "start": int(p["offsets"][0]), "end": int(p["offsets"][1]),
                                "probability": float(p["probability"])} for p in preds]
    return predictions, nbest_out


# The official evaluation scripts (SQuAD v1.1 evaluate-v1.1.py, v2.0 evaluate-v2.0.py)
def normalize_answer(s):
    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    return white_space_fix(remove_articles(remove_punc(s.lower())))


def f1_v1(prediction, truth):
    p, t = normalize_answer(prediction).split(), normalize_answer(truth).split()
    common = collections.Counter(p) & collections.Counter(t)
    same = sum(common.values())
    if same == 0:
        return 0
    precision, recall = same / len(p), same / len(t)
    return 2 * precision * recall / (precision + recall)


def squad_v1(predictions, references):
    em = f1 = 0
    for r in references:
        truths, pred = r["answers"]["text"], predictions[r["id"]]
        em += max(float(normalize_answer(pred) == normalize_answer(t)) for t in truths)
        f1 += max(f1_v1(pred, t) for t in truths)
    return {"exact_match": 100.0 * em / len(references), "f1": 100.0 * f1 / len(references)}


def f1_v2(prediction, truth):
    p, t = normalize_answer(prediction).split(), normalize_answer(truth).split()
    if len(p) == 0 or len(t) == 0:
        return int(p == t)
    common = collections.Counter(p) & collections.Counter(t)
    same = sum(common.values())
    if same == 0:
        return 0
    precision, recall = same / len(p), same / len(t)
    return 2 * precision * recall / (precision + recall)


def squad_v2(predictions, references):
    exact, f1, has = {}, {}, {}
    for r in references:
        truths = [a for a in r["answers"]["text"] if normalize_answer(a)] or [""]
        pred = predictions[r["id"]]
        exact[r["id"]] = max(int(normalize_answer(a) == normalize_answer(pred)) for a in truths)
        f1[r["id"]] = max(f1_v2(pred, a) for a in truths)
        has[r["id"]] = bool(r["answers"]["text"])
    total = len(references)
    out = {"exact": 100.0 * sum(exact.values()) / total, "f1": 100.0 * sum(f1.values()) / total, "total": total}
    for name, ids in (("HasAns", [k for k in has if has[k]]), ("NoAns", [k for k in has if not has[k]])):
        if ids:
            out[f"{name}_exact"] = 100.0 * sum(exact[k] for k in ids) / len(ids)
            out[f"{name}_f1"] = 100.0 * sum(f1[k] for k in ids) / len(ids)
            out[f"{name}_total"] = len(ids)
    return out


def model_inputs(config, feats):
    """The features as model inputs: token types for BERT only (DistilBERT has none; RoBERTa's and
    XLM-RoBERTa's tokenizers do not give them to the model, whose one type row every token uses)."""
    inputs = {"input_ids": torch.tensor([f["input_ids"] for f in feats]), "attention_mask": torch.tensor([f["attention_mask"] for f in feats])}
    if config.model_type == "bert":
        inputs["token_type_ids"] = torch.tensor([f["token_type_ids"] for f in feats])
    return inputs


def train_steps(out: Path, config, feats, lora=None) -> list:
    """The recipe's steps from the checkpoint in `out`; with `lora` (a peft LoraConfig), PEFT's
    adapters on the frozen base, saved as they start in out/lora-init/."""
    model = AutoModelForQuestionAnswering.from_pretrained(out, config=config)
    if lora is not None:
        torch.manual_seed(1)
        model = get_peft_model(model, lora)
        model.save_pretrained(out / "lora-init")
        (out / "lora-init" / "README.md").unlink(missing_ok=True)
    # PeftModelForQuestionAnswering.forward (peft 0.18) takes token_type_ids but does not pass them
    # on, so BERT would see every token as segment A; its LoraModel passes every input, as
    # transformers does for the merged model
    forward = model.base_model if lora is not None else model
    model.train()
    no_decay = lambda n: n.endswith(".bias") or "LayerNorm.weight" in n or "layer_norm.weight" in n
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    params = [
        {"params": [p for n, p in named if not no_decay(n)], "weight_decay": RECIPE["weight_decay"]},
        {"params": [p for n, p in named if no_decay(n)], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(params, lr=RECIPE["learning_rate"], betas=(0.9, 0.999), eps=1e-8)
    sched = get_linear_schedule_with_warmup(opt, RECIPE["warmup_steps"], RECIPE["steps"])
    batch = dict(model_inputs(config, feats), start_positions=torch.tensor([f["start"] for f in feats]), end_positions=torch.tensor([f["end"] for f in feats]))
    steps = []
    for _ in range(RECIPE["steps"]):
        lr = sched.get_last_lr()[0]
        loss = forward(**batch).loss
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_([p for _, p in named], RECIPE["max_grad_norm"])
        opt.step()
        sched.step()
        opt.zero_grad()
        steps.append({"loss": loss.item(), "grad_norm": norm.item(), "learning_rate": lr})
    return steps


def family(name: str, config, pad: str, unk: str):
    out = OUT / name
    out.mkdir(parents=True, exist_ok=True)
    fast = PreTrainedTokenizerFast(tokenizer_file=str(TOKENIZERS / name / "tokenizer.json"), pad_token=pad, unk_token=unk)
    fast.cls_token = {"bert": "[CLS]", "distilbert": "[CLS]"}.get(name, "<s>")
    torch.manual_seed(0)
    model = AutoModelForQuestionAnswering.from_config(config)
    model.save_pretrained(out)
    (out / "README.md").unlink(missing_ok=True)
    model.eval()
    exs = examples()
    feats = features(fast, exs)
    with torch.no_grad():
        o = model(**model_inputs(config, feats))
    # each feature's own tokens: run_qa pads to max_length, and its padding can take n-best slots
    # without ever being an answer; webtune reads candidates from the real tokens only
    lengths = [sum(f["attention_mask"]) for f in feats]
    start = [row[:n] for row, n in zip(o.start_logits.numpy(), lengths)]
    end = [row[:n] for row, n in zip(o.end_logits.numpy(), lengths)]
    v1, nbest = postprocess(exs, feats, start, end, v2=False)
    v2, _ = postprocess(exs, feats, start, end, v2=True)
    cfg = json.loads((out / "config.json").read_text())
    for key in ("hidden_dropout_prob", "attention_probs_dropout_prob", "dropout", "attention_dropout", "qa_dropout"):
        if key in cfg:
            cfg[key] = 0.0
    (out / "train-config.json").write_text(json.dumps(cfg, indent=2))
    expected = {
        "settings": SETTINGS, "examples": exs,
        "features": [{"example": f["example"], "input_ids": f["input_ids"][:n], "offsets": f["offsets"][:n], "start": f["start"], "end": f["end"]}
                     for f, n in zip(feats, lengths)],
        "start_logits": [[round(float(x), 6) for x in row] for row in start],
        "end_logits": [[round(float(x), 6) for x in row] for row in end],
        "v1": {k: {"text": p["text"], "start": int(p["offsets"][0]), "end": int(p["offsets"][1]), "nbest": nbest[k]} for k, p in v1.items()},
        "v2": {k: p["text"] for k, p in v2.items()},
        "recipe": RECIPE,
        "steps": train_steps(out, type(config)(**cfg), feats),
    }
    targets = ["q_lin", "v_lin"] if name == "distilbert" else ["query", "value"]  # PEFT's defaults
    lora = LoraConfig(task_type=TaskType.QUESTION_ANS, r=4, lora_alpha=8, lora_dropout=0.0, target_modules=list(targets))
    expected["lora"] = {"config": {"rank": 4, "alpha": 8, "target_modules": targets, "modules_to_save": ["qa_outputs"]},
                        "steps": train_steps(out, type(config)(**cfg), feats, lora)}
    (out / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False))
    print(f"{name}: {len(feats)} features, v1 {[p['text'][:20] for p in v1.values()]}, steps {[round(s['loss'], 4) for s in expected['steps']]}")


def metrics_fixture():
    """The official metrics on predictions that exercise normalisation (case, articles, punctuation),
    partial overlaps, several reference answers, and SQuAD 2.0's unanswerable questions."""
    refs = [
        {"id": "a", "answers": {"text": ["Saint Bernadette Soubirous"], "answer_start": [0]}},
        {"id": "b", "answers": {"text": ["a copper statue of Christ", "copper statue"], "answer_start": [0, 2]}},
        {"id": "c", "answers": {"text": ["the Main Building"], "answer_start": [0]}},
        {"id": "d", "answers": {"text": ["1858"], "answer_start": [0]}},
    ]
    preds = {"a": "saint bernadette soubirous.", "b": "The copper statue of", "c": "Building", "d": "in 1857"}
    refs2 = refs + [{"id": "e", "answers": {"text": [], "answer_start": []}}, {"id": "f", "answers": {"text": [], "answer_start": []}}]
    preds2 = dict(preds, e="", f="a lake", d="")
    (OUT / "metrics.json").write_text(json.dumps({
        "v1": {"predictions": preds, "references": refs, "metrics": squad_v1(preds, refs)},
        "v2": {"predictions": preds2, "references": refs2, "metrics": squad_v2(preds2, refs2)},
    }, indent=1))


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    vocab = len(json.loads((TOKENIZERS / "bert" / "tokenizer.json").read_text())["model"]["vocab"])
    roberta_like = dict(**SMALL, max_position_embeddings=66, type_vocab_size=1, pad_token_id=1,
                        bos_token_id=0, eos_token_id=2, layer_norm_eps=1e-5)
    size = lambda name: PreTrainedTokenizerFast(tokenizer_file=str(TOKENIZERS / name / "tokenizer.json")).backend_tokenizer.get_vocab_size()
    family("bert", BertConfig(vocab_size=vocab, max_position_embeddings=64, **SMALL), "[PAD]", "[UNK]")
    family("distilbert", DistilBertConfig(vocab_size=vocab, dim=32, n_layers=2, n_heads=4, hidden_dim=37,
                                          max_position_embeddings=64, initializer_range=0.25, pad_token_id=0), "[PAD]", "[UNK]")
    family("roberta", RobertaConfig(vocab_size=size("roberta"), **roberta_like), "<pad>", "<unk>")
    family("xlm-roberta", XLMRobertaConfig(vocab_size=size("xlm-roberta"), **roberta_like), "<pad>", "<unk>")
    metrics_fixture()
    (OUT / "VERSIONS.json").write_text(json.dumps({
        "python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
    }, indent=1))


if __name__ == "__main__":
    main()
