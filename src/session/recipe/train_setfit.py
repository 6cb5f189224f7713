"""Trains a SetFit model as a webtune run did (method "setfit"), with the setfit library's Trainer:
the sentence-transformer body learns from pairs of the rows (sentence-transformers' Trainer), then
scikit-learn's LogisticRegression head is fitted on its embeddings (or, with recipe.json's "head"
"differentiable", setfit's SetFitHead trains on them with the body frozen, or with the body when
"end_to_end" is true). Written by webtune: the run's settings are in recipe.json, its rows in
train.jsonl / validation.jsonl; README.md says more.

    python train.py                                                  # the run
    python train.py --train-file all_rows.jsonl --model org/bigger   # other data, other base
    python train.py --webtune-order                                  # webtune's batches of pairs

setfit draws the same pairs as webtune from the same rows and settings; with --webtune-order the
body's batches of them come in webtune's order (webtune_order.json), which gives webtune's steps.
"""
import json
from pathlib import Path

import numpy as np
import torch
from datasets import Dataset
from setfit import SetFitModel, Trainer, TrainingArguments
from setfit.trainer import BCSentenceTransformersTrainer

from webtune_recipe import StepLog, arguments, read_rows, webtune_order

# The run's Trainer arguments (recipe.json "training_arguments") that setfit's TrainingArguments
# do not carry, set on the sentence-transformers Trainer that trains the body.
BODY_ARGUMENTS = ["gradient_accumulation_steps", "adam_beta1", "adam_beta2", "adam_epsilon", "optim", "lr_scheduler_type",
                  "warmup_steps", "max_grad_norm", "gradient_checkpointing"]


def labelled(path, labels):
    """The texts and class ids (the label's position in `labels`) of `{text, label}` JSON lines."""
    ids = {name: i for i, name in enumerate(labels)}
    texts, classes = [], []
    for n, row in read_rows(path):
        if row.get("label") not in ids:
            raise SystemExit(f"{path}:{n}: label {row.get('label')!r} is not one of the run's labels {labels}")
        texts.append(row["text"])
        classes.append(ids[row["label"]])
    return texts, classes


class WebtuneBatches(torch.utils.data.Sampler):
    """webtune's batches of pairs (per epoch, lists of pair numbers), one epoch per pass."""

    def __init__(self, epochs):
        self.epochs, self.passes = epochs, 0

    def __len__(self):
        return len(self.epochs[0])

    def __iter__(self):
        epoch = self.epochs[self.passes % len(self.epochs)]
        self.passes += 1
        return iter(epoch)


class BodyStepLog(StepLog):
    """The step log, reading the body's loss under setfit's name for it."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "embedding_loss" in logs:
            logs = {**logs, "loss": logs["embedding_loss"]}
        super().on_log(args, state, control, logs=logs, **kwargs)


def evaluation(model, texts, classes):
    """webtune's metrics of the head's probabilities: log loss, accuracy, macro precision/recall/F1."""
    probabilities = np.asarray(model.predict_proba(texts, as_numpy=True), dtype=np.float64)
    truth, predicted = np.asarray(classes), probabilities.argmax(1)
    loss = float(np.mean(-np.log(np.maximum(probabilities[np.arange(len(truth)), truth], 1e-15))))
    per_class = []
    for c in range(probabilities.shape[1]):
        tp = np.sum((predicted == c) & (truth == c))
        p, r = tp / max(np.sum(predicted == c), 1), tp / max(np.sum(truth == c), 1)
        per_class.append((p, r, 0.0 if p + r == 0 else 2 * p * r / (p + r)))
    p, r, f1 = (float(np.mean(v)) for v in zip(*per_class))
    return {"eval_loss": loss, "eval_accuracy": float(np.mean(predicted == truth)), "eval_macro_precision": p, "eval_macro_recall": r,
            "eval_macro_f1": f1}


def main():
    args, recipe, model_name = arguments(__doc__)
    labels, training = recipe["labels"], recipe["training_arguments"]
    texts, classes = labelled(args.train_file, labels)
    validation = labelled(args.validation_file, labels) if Path(args.validation_file).exists() else None
    order = webtune_order(args)
    if order is not None:
        BCSentenceTransformersTrainer.get_batch_sampler = lambda self, *a, **k: WebtuneBatches(order)
    setfit_applies = BCSentenceTransformersTrainer._apply_training_arguments

    def with_the_run(self, setfit_args):
        setfit_applies(self, setfit_args)
        for key in BODY_ARGUMENTS:
            setattr(self.args, key, training[key])
        self.args.bf16 = args.bf16

    BCSentenceTransformersTrainer._apply_training_arguments = with_the_run
    batch, lr = training["per_device_train_batch_size"], training["learning_rate"]
    # the head's phase: only a differentiable head (SetFitHead) has one; its body stays frozen
    # unless it trains end to end, at its own rate
    setfit_args = TrainingArguments(
        output_dir=args.output_dir, batch_size=(batch, recipe["head_batch_size"]), num_epochs=(training["num_train_epochs"], recipe["head_epochs"]),
        body_learning_rate=(lr, recipe["head_body_learning_rate"] or lr), head_learning_rate=recipe["head_learning_rate"],
        end_to_end=recipe["end_to_end"],
        l2_weight=training["weight_decay"], warmup_proportion=0.0,  # the run's warmup is training_arguments' warmup_steps, set above
        seed=training["seed"], max_length=recipe["max_length"], sampling_strategy=recipe["sampling_strategy"],
        num_iterations=recipe["num_iterations"], logging_steps=1 if args.log_steps else training["logging_steps"], report_to=[],
        save_strategy="no", show_progress_bar=False)
    differentiable = recipe["head"] == "differentiable"
    model = SetFitModel.from_pretrained(model_name, labels=labels, use_differentiable_head=differentiable,
                                        head_params={"out_features": len(labels)} if differentiable else {})
    trainer = Trainer(model=model, args=setfit_args, train_dataset=Dataset.from_dict({"text": texts, "label": classes}),
                      callbacks=[BodyStepLog(args.log_steps)] if args.log_steps else [])
    trainer.train()
    if validation is not None:
        print(json.dumps(evaluation(model, *validation)))
    final = Path(args.output_dir) / "final"
    model.save_pretrained(str(final))  # the folder setfit saves: the body, config_setfit.json, model_head.pkl
    print(f"wrote {final}")


if __name__ == "__main__":
    main()
