"""Fine-tunes a token classifier (named entities) as a webtune run did, with transformers' Trainer
(and PEFT when the run trained LoRA adapters), on the CPU, one GPU or many. Written by webtune: the
run's settings are in recipe.json, its sentences in train.jsonl / validation.jsonl; README.md says
more.

    python train.py                                                     # one device
    accelerate launch --config_file accelerate_multi_gpu.yaml train.py  # every GPU of a machine
    python train.py --train-file all_rows.jsonl --model org/bigger      # other data, other base
    python train.py --webtune-order                                     # webtune's own batches

Sentences are rows {"tokens": [...words], "tags": [...tags]}, aligned to sub-words as run_ner.py
(and webtune) align them: a word's first token learns its tag, its other tokens nothing (or, when
recipe.json says "label_all_tokens", the word's tag with B- turned into I-). Evaluation is
webtune's: seqeval's entity-level precision, recall and F1 (micro) and the tag accuracy over every
word of the validation sentences (a word cut off by max_length counts as predicted "O"), and the
loss over every word's first token.
"""
from pathlib import Path

import torch
from seqeval.metrics import accuracy_score, f1_score, precision_score, recall_score
from transformers import AutoModelForTokenClassification, AutoTokenizer, DataCollatorForTokenClassification

from webtune_recipe import (RowEvaluation, arguments, callbacks, read_rows, token_losses, train_and_save, training_arguments,
                            webtune_order, with_lora)

# tokenizers that need a space before each word to read it as a word (run_ner.py's list)
PREFIX_SPACE = {"bloom", "gpt2", "roberta", "deberta"}


class Sentences(torch.utils.data.Dataset):
    """JSON lines {tokens, tags}, tokenized as whole words and cut at max_length, one label per
    token (-100 where nothing is learned)."""

    def __init__(self, path, tokenizer, recipe, label_all_tokens):
        self.names = recipe["labels"]
        ids = {name: i for i, name in enumerate(self.names)}
        inside = [ids.get("I-" + n[2:], i) if n.startswith("B-") else i for i, n in enumerate(self.names)]
        self.items, self.tags, self.word_starts = [], [], []
        for n, row in read_rows(path):
            words, tags = row.get("tokens"), row.get("tags")
            if not isinstance(words, list) or not isinstance(tags, list) or len(words) != len(tags):
                raise SystemExit(f"{path}:{n}: a row is {{\"tokens\": [words], \"tags\": [one tag per word]}}")
            unknown = [t for t in tags if t not in ids]
            if unknown:
                raise SystemExit(f"{path}:{n}: tag {unknown[0]!r} is not one of the run's tags {self.names}")
            encoded = tokenizer(words, is_split_into_words=True, truncation=True, max_length=recipe["max_length"])
            labels, starts, previous = [], [None] * len(words), None
            for position, word in enumerate(encoded.word_ids()):
                if word is None:
                    labels.append(-100)
                elif word != previous:
                    starts[word] = position
                    labels.append(ids[tags[word]])
                else:
                    labels.append(inside[ids[tags[word]]] if label_all_tokens else -100)
                previous = word
            encoded["labels"] = labels
            self.items.append(dict(encoded))
            self.tags.append(tags)
            self.word_starts.append(starts)

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


class TaggerTrainer(RowEvaluation):
    """Evaluation as webtune's (see the module's text)."""

    def score_rows(self, rows, batch, logits):
        dataset, predicted = self.eval_dataset, logits.argmax(-1).tolist()
        out = []
        for (loss, count), row, guesses in zip(token_losses(logits, batch["labels"]), rows, predicted):
            tags = [dataset.names[guesses[p]] if p is not None else "O" for p in dataset.word_starts[row]]
            out.append((loss, count, dataset.tags[row], tags))
        return out

    def row_metrics(self, loss, scored):
        truth, predicted = [s[2] for s in scored], [s[3] for s in scored]
        return {"precision": precision_score(truth, predicted), "recall": recall_score(truth, predicted),
                "f1": f1_score(truth, predicted), "accuracy": accuracy_score(truth, predicted)}


def main():
    args, recipe, model_name = arguments(__doc__)
    labels = recipe["labels"]
    model = AutoModelForTokenClassification.from_pretrained(
        model_name, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)},
        ignore_mismatched_sizes=recipe["new_head"], dtype=torch.float32)  # webtune trains in float32
    prefix_space = {"add_prefix_space": True} if model.config.model_type in PREFIX_SPACE else {}
    tokenizer = AutoTokenizer.from_pretrained(model_name, **prefix_space)
    model = with_lora(model, recipe, args, model_name)
    train = Sentences(args.train_file, tokenizer, recipe, recipe["label_all_tokens"])
    # evaluation scores each word's first token, as webtune's does
    validation = Sentences(args.validation_file, tokenizer, recipe, False) if Path(args.validation_file).exists() else None
    trainer = TaggerTrainer(
        model=model, args=training_arguments(recipe, args, validation), train_dataset=train, eval_dataset=validation,
        data_collator=DataCollatorForTokenClassification(tokenizer), callbacks=callbacks(recipe, args, validation),
        webtune_order=webtune_order(args))
    train_and_save(trainer, tokenizer, recipe, args, validation)


if __name__ == "__main__":
    main()
