"""Fine-tunes a text classifier as a webtune run did, with transformers' Trainer (and PEFT when
the run trained LoRA adapters), on the CPU, one GPU or many. Written by webtune: the run's
settings are in recipe.json, its rows in train.jsonl / validation.jsonl; README.md says more.

    python train.py                                                     # one device
    accelerate launch --config_file accelerate_multi_gpu.yaml train.py  # every GPU of a machine
    python train.py --train-file all_rows.jsonl --model org/bigger      # other data, other base
    python train.py --webtune-order                                     # webtune's own batches

When the recipe was written from a checkpoint of the run (recipe.json "resume", files in resume/),
training continues from it — weights, AdamW moments, step, best evaluation — instead of starting
again: resume/ becomes the Trainer's output-dir/checkpoint-N/, which the Trainer resumes from.
"""
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding

from webtune_recipe import (RecipeTrainer, arguments, callbacks, read_rows, train_and_save, training_arguments, webtune_order,
                            with_lora)


class Rows(torch.utils.data.Dataset):
    """JSON lines `{text, text_pair?, label}` (label: a class name), tokenized as webtune does:
    truncated to max_length, padded per batch."""

    def __init__(self, path, tokenizer, recipe):
        self.rows = [row for _, row in read_rows(path)]
        self.tokenizer, self.max_length, self.pair = tokenizer, recipe["max_length"], recipe["text_pair"]
        self.label_ids = {name: i for i, name in enumerate(recipe["labels"])}
        for n, row in read_rows(path):
            if row.get("label") not in self.label_ids:
                raise SystemExit(f"{path}:{n}: label {row.get('label')!r} is not one of the run's labels {recipe['labels']}")

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        row = self.rows[i]
        encoded = self.tokenizer(row["text"], row.get("text_pair") if self.pair else None, truncation=True, max_length=self.max_length)
        encoded["labels"] = self.label_ids[row["label"]]
        return encoded


def metrics(eval_pred):
    """accuracy and macro-averaged precision, recall and F1, as webtune's evaluation reports them."""
    logits, labels = eval_pred
    predicted = np.argmax(logits, axis=-1)
    classes = range(logits.shape[-1])
    precision, recall, f1 = [], [], []
    for c in classes:
        tp = np.sum((predicted == c) & (labels == c))
        p = tp / max(np.sum(predicted == c), 1)
        r = tp / max(np.sum(labels == c), 1)
        precision.append(p)
        recall.append(r)
        f1.append(0.0 if p + r == 0 else 2 * p * r / (p + r))
    return {"accuracy": float(np.mean(predicted == labels)), "macro_precision": float(np.mean(precision)),
            "macro_recall": float(np.mean(recall)), "macro_f1": float(np.mean(f1))}


def main():
    args, recipe, model_name = arguments(__doc__)
    labels = recipe["labels"]
    tokenizer = AutoTokenizer.from_pretrained(model_name)
    model = AutoModelForSequenceClassification.from_pretrained(
        model_name, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)},
        ignore_mismatched_sizes=recipe["new_head"], dtype=torch.float32)  # webtune trains in float32
    model = with_lora(model, recipe, args, model_name)
    train = Rows(args.train_file, tokenizer, recipe)
    validation = Rows(args.validation_file, tokenizer, recipe) if Path(args.validation_file).exists() else None
    resume = recipe.get("resume")
    trainer = RecipeTrainer(
        model=model, args=training_arguments(recipe, args, validation), train_dataset=train, eval_dataset=validation,
        data_collator=DataCollatorWithPadding(tokenizer), compute_metrics=metrics, callbacks=callbacks(recipe, args, validation),
        webtune_order=webtune_order(args), first_epoch=resume["epoch"] if resume else 0)
    train_and_save(trainer, tokenizer, recipe, args, validation)


if __name__ == "__main__":
    main()
