"""Fine-tunes an extractive question-answering model as a webtune run did, with transformers'
Trainer (and PEFT when the run trained LoRA adapters), on the CPU, one GPU or many. Written by
webtune: the run's settings are in recipe.json, its questions in train.jsonl / validation.jsonl;
README.md says more.

    python train.py                                                     # one device
    accelerate launch --config_file accelerate_multi_gpu.yaml train.py  # every GPU of a machine
    python train.py --train-file all_rows.jsonl --model org/bigger      # other data, other base
    python train.py --webtune-order                                     # webtune's own batches

Rows are {"question", "context", "answers": {"text": [...], "answer_start": [...]}} (no answer:
unanswerable, SQuAD 2.0), prepared as run_qa.py (and webtune) prepare them: the question (leading
spaces stripped) first, the context cut into windows of max_length tokens that overlap by
doc_stride, in each window the first and last token of the first answer when the window holds all
of it (else the first token). Evaluation is webtune's: the mean loss over the windows, and the
official SQuAD exact match and F1 of the answers run_qa's post-processing reads from every
window's logits (the n_best starts and ends, answers of up to max_answer_length tokens; with
unanswerable questions, SQuAD 2.0's null answer).
"""
import collections
import string
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForQuestionAnswering, AutoTokenizer, DataCollatorWithPadding

from webtune_recipe import RowEvaluation, arguments, callbacks, read_rows, train_and_save, training_arguments, webtune_order, with_lora


def answer_tokens(answers, offsets, sequence):
    """The first and last token of the first answer in this window, when the window holds all of
    it; else (0, 0). run_qa's labelling, its walk stopped at the context's end."""
    if not answers["text"]:
        return 0, 0
    start_char = answers["answer_start"][0]
    end_char = start_char + len(answers["text"][0])
    context = [i for i, s in enumerate(sequence) if s == 1]
    if not context:
        return 0, 0
    first, last = context[0], context[-1]
    if not (offsets[first][0] <= start_char and offsets[last][1] >= end_char):
        return 0, 0
    s = first
    while s <= last and offsets[s][0] <= start_char:
        s += 1
    e = last
    while offsets[e][1] >= end_char and e > 0:
        e -= 1
    return s - 1, e + 1


class Windows(torch.utils.data.Dataset):
    """Every question's windows, in order (webtune's batches number them so)."""

    def __init__(self, path, tokenizer, recipe):
        self.examples, self.items, self.example_of, self.offsets = [], [], [], []
        for n, row in read_rows(path):
            answers = row.get("answers")
            if not all(isinstance(row.get(k), str) for k in ("question", "context")) or not isinstance(answers, dict):
                raise SystemExit(f"{path}:{n}: a row is {{\"question\", \"context\", \"answers\": {{\"text\": [...], \"answer_start\": [...]}}}}")
            e = len(self.examples)
            self.examples.append(row)
            encoded = tokenizer(row["question"].lstrip(), row["context"], truncation="only_second", max_length=recipe["max_length"],
                                stride=recipe["doc_stride"], return_overflowing_tokens=True, return_offsets_mapping=True)
            for w in range(len(encoded["input_ids"])):
                sequence, offsets = encoded.sequence_ids(w), encoded["offset_mapping"][w]
                start, end = answer_tokens(answers, offsets, sequence)
                item = {k: encoded[k][w] for k in ("input_ids", "token_type_ids", "attention_mask") if k in encoded}
                item.update(start_positions=start, end_positions=end)
                self.items.append(item)
                self.example_of.append(e)
                self.offsets.append([o if s == 1 else None for o, s in zip(offsets, sequence)])

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def best(values, n):
    """The indices of the n largest values, largest first (ties: the later index first, as numpy's reversed argsort)."""
    return sorted(range(len(values)), key=lambda i: (-values[i], -i))[:n]


def answer(example, windows, settings):
    """run_qa's post-processing of one question: `windows` are (start logits, end logits, offsets)."""
    null, prelim = None, []
    for s, e, offsets in windows:
        score = s[0] + e[0]
        if null is None or null[0] > score:
            null = (score, 0, 0, s[0], e[0])
        for si in best(s, settings["n_best"]):
            for ei in best(e, settings["n_best"]):
                if si >= len(offsets) or ei >= len(offsets) or offsets[si] is None or offsets[ei] is None:
                    continue
                if ei < si or ei - si + 1 > settings["max_answer_length"]:
                    continue
                prelim.append((s[si] + e[ei], offsets[si][0], offsets[ei][1], s[si], e[ei]))
    null_score = null[0] if null else None
    if settings["allow_no_answer"] and null:
        prelim.append(null)
    prelim = sorted(prelim, key=lambda c: -c[0])[:settings["n_best"]]
    if settings["allow_no_answer"] and null and not any(c[1] == 0 and c[2] == 0 for c in prelim):
        prelim.append(null)
    texts = [example["context"][c[1]:c[2]] for c in prelim]
    if not prelim or (len(prelim) == 1 and texts[0] == ""):
        prelim.insert(0, (np.float32(0), 0, 0, np.float32(0), np.float32(0)))
        texts.insert(0, "empty")
    if not settings["allow_no_answer"]:
        return texts[0]
    i = next((k for k, t in enumerate(texts) if t != ""), 0)
    diff = (null_score if null_score is not None else np.float32(0)) - prelim[i][3] - prelim[i][4]
    return "" if diff > settings["null_threshold"] else texts[i]


def normalize(text):
    """SQuAD's answer normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(c for c in text.lower() if c not in string.punctuation)
    return " ".join(w for w in text.split() if w not in ("a", "an", "the"))


def f1(prediction, truth, v2):
    p, t = normalize(prediction).split(), normalize(truth).split()
    if v2 and (not p or not t):
        return float(p == t)
    same = sum((collections.Counter(p) & collections.Counter(t)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(t)
    return 2 * precision * recall / (precision + recall)


def squad(examples, predictions, v2):
    """The official exact match and F1 (percent), the best over each question's answers; v2.0's
    rules with unanswerable questions, and their HasAns/NoAns breakdown."""
    scores = []
    for example, prediction in zip(examples, predictions):
        truths = [t for t in example["answers"]["text"] if not v2 or normalize(t)] or [""]
        exact = max(float(normalize(t) == normalize(prediction)) for t in truths)
        scores.append((exact, max(f1(prediction, t, v2) for t in truths), bool(example["answers"]["text"])))
    mean = lambda chosen: (100 * sum(s[0] for s in chosen) / len(chosen), 100 * sum(s[1] for s in chosen) / len(chosen))
    out = dict(zip(("exact_match", "f1"), mean(scores)))
    for name, kind in (("HasAns", True), ("NoAns", False)):
        chosen = [s for s in scores if s[2] == kind]
        if v2 and chosen:
            out.update(zip((f"{name}_exact", f"{name}_f1"), mean(chosen)))
    return out


class AnswerTrainer(RowEvaluation):
    """Evaluation as webtune's (see the module's text)."""

    def logits(self, output):
        return output.start_logits.float(), output.end_logits.float()

    def score_rows(self, rows, batch, logits):
        starts, ends = logits
        loss = torch.nn.functional.cross_entropy
        out = []
        for k, row in enumerate(rows):
            n = int(batch["attention_mask"][k].sum())
            window = (loss(starts[k], batch["start_positions"][k]).item() + loss(ends[k], batch["end_positions"][k]).item()) / 2
            out.append((window, 1, row, starts[k, :n].cpu().numpy(), ends[k, :n].cpu().numpy()))
        return out

    def row_metrics(self, loss, scored):
        data = self.eval_dataset
        by_example = collections.defaultdict(list)
        for _, _, row, s, e in sorted(scored, key=lambda x: x[2]):
            by_example[data.example_of[row]].append((s, e, data.offsets[row]))
        v2 = any(not x["answers"]["text"] for x in data.examples)
        settings = dict(self.recipe["answers"], allow_no_answer=self.recipe["answers"]["allow_no_answer"] or v2)
        predictions = [answer(x, by_example[i], settings) for i, x in enumerate(data.examples)]
        return squad(data.examples, predictions, settings["allow_no_answer"])


def main():
    args, recipe, model_name = arguments(__doc__)
    tokenizer = AutoTokenizer.from_pretrained(model_name)
    model = AutoModelForQuestionAnswering.from_pretrained(model_name, dtype=torch.float32)  # webtune trains in float32
    model = with_lora(model, recipe, args, model_name)
    if recipe["lora"]:
        # PEFT's question-answering model does not pass token_type_ids on (BERT would read the
        # context as the question's segment): the adapted model is called with every input instead
        wrapped = model.base_model
        model.forward = lambda **inputs: wrapped(**inputs)
    train = Windows(args.train_file, tokenizer, recipe)
    validation = Windows(args.validation_file, tokenizer, recipe) if Path(args.validation_file).exists() else None
    training_args = training_arguments(recipe, args, validation)
    training_args.remove_unused_columns = False  # the windows hold only the model's inputs and labels
    trainer = AnswerTrainer(
        model=model, args=training_args, train_dataset=train, eval_dataset=validation,
        data_collator=DataCollatorWithPadding(tokenizer), callbacks=callbacks(recipe, args, validation), webtune_order=webtune_order(args))
    trainer.recipe = recipe
    train_and_save(trainer, tokenizer, recipe, args, validation)


if __name__ == "__main__":
    main()
