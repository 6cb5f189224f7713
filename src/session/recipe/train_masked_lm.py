"""Continues the masked-LM pretraining of an encoder on one's own texts (domain adaptation) as a
webtune run did, with transformers' Trainer, on the CPU, one GPU or many. Written by webtune: the
run's settings are in recipe.json, its texts in train.jsonl / validation.jsonl; README.md says more.

    python train.py                                                     # one device
    accelerate launch --config_file accelerate_multi_gpu.yaml train.py  # every GPU of a machine
    python train.py --train-file all_texts.jsonl --model org/bigger     # other data, other base
    python train.py --webtune-order                                     # webtune's own batches and masks

Each text ({"text": …} rows) is one example cut at max_length, masked as
DataCollatorForLanguageModeling masks (run_mlm.py's line_by_line). With --webtune-order the batches
are webtune's and so are their masks (webtune_masks.json: per epoch, per batch, per row, the
[position, label, input] of each masked token). The validation texts keep one fixed draw of masks
(validation_masks.json, webtune's), so that evaluations compare; the loss is over every masked
token of them.
"""
import json
import math
from pathlib import Path

import torch
from transformers import AutoModelForMaskedLM, AutoTokenizer, DataCollatorForLanguageModeling, DataCollatorForTokenClassification

from webtune_recipe import HERE, RowEvaluation, WebtuneBatches, arguments, callbacks, read_rows, token_losses, train_and_save, training_arguments, webtune_order


class Texts(torch.utils.data.Dataset):
    """Texts tokenized (special tokens added, cut at max_length); with `masks`, an item is the
    text masked by them: item (epoch, batch, k, row) of a training run in webtune's order, or the
    row number of a validation text."""

    def __init__(self, path, tokenizer, recipe, masks=None):
        rows = read_rows(path)
        if not rows:
            raise SystemExit(f"{path} holds no texts")
        for n, row in rows:
            if not isinstance(row.get("text"), str):
                raise SystemExit(f"{path}:{n}: a row is {{\"text\": \"…\"}}")
        # whole-word masking finds the words from the offsets
        encode = dict(truncation=True, max_length=recipe["max_length"], return_special_tokens_mask=True, return_offsets_mapping=recipe["whole_word_mask"])
        self.items = [dict(tokenizer(row["text"], **encode)) for _, row in rows]
        self.masks = masks

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        if isinstance(index, tuple):  # a batch of webtune's run: its masks
            epoch, batch, k, row = index
            return masked(self.items[row], self.masks[epoch][batch][k])
        if self.masks is not None:  # a validation text: its fixed masks
            return masked(self.items[index], self.masks[index])
        return self.items[index]


def masked(item, masks):
    """The item with its masked tokens replaced and learned: `masks` are [position, label, input]."""
    inputs, labels = list(item["input_ids"]), [-100] * len(item["input_ids"])
    for position, label, replacement in masks:
        if position >= len(inputs) or inputs[position] != label:
            raise SystemExit("webtune's masks do not fit this tokenization; use the run's base model (or leave --webtune-order out)")
        inputs[position], labels[position] = replacement, label
    out = {k: v for k, v in item.items() if k not in ("special_tokens_mask", "offset_mapping")}
    out.update(input_ids=inputs, labels=labels)
    return out


def drawing_masks(tokenizer, recipe, seed=None):
    """DataCollatorForLanguageModeling with the run's masking; each item's offsets (whole-word
    masking reads them) padded to the batch's longest, which tokenizer.pad leaves undone."""
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=recipe["mlm_probability"], whole_word_mask=recipe["whole_word_mask"], seed=seed)

    def collate(items):
        longest = max(len(i["input_ids"]) for i in items)
        return collator([{**i, "offset_mapping": list(i["offset_mapping"]) + [(0, 0)] * (longest - len(i["offset_mapping"]))}
                         if "offset_mapping" in i else i for i in items])
    return collate


class MaskedBatches(WebtuneBatches):
    """webtune's batches, each row named with its place so that the dataset applies its masks."""

    def __iter__(self):
        epoch = self.epoch % len(self.epochs)
        return iter([[(epoch, b, k, row) for k, row in enumerate(batch)] for b, batch in enumerate(self.epochs[epoch])])


class MaskedLmTrainer(RowEvaluation):
    """The Trainer with webtune's masks when it feeds webtune's batches, and webtune's evaluation."""

    def __init__(self, *args, masks=None, premasked=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.masks, self.premasked = masks, premasked

    def get_train_dataloader(self):
        if self.webtune_order is None or self.masks is None:
            return super().get_train_dataloader()
        loader = torch.utils.data.DataLoader(self.train_dataset, batch_sampler=MaskedBatches(self.webtune_order), collate_fn=self.premasked)
        return self.accelerator.prepare(loader)

    def eval_collate(self, items):
        if self.eval_dataset.masks is not None:
            return self.premasked(items)
        # texts without webtune's masks: the same draw at every evaluation
        return drawing_masks(self.processing_class, self.recipe, seed=self.args.seed)(items)

    def score_rows(self, rows, batch, logits):
        return token_losses(logits, batch["labels"])

    def row_metrics(self, loss, scored):
        return {"perplexity": math.exp(min(loss, 700.0))}


def main():
    args, recipe, model_name = arguments(__doc__)
    tokenizer = AutoTokenizer.from_pretrained(model_name)
    model = AutoModelForMaskedLM.from_pretrained(model_name, dtype=torch.float32)  # webtune trains in float32
    order = webtune_order(args)
    masks_file = HERE / "webtune_masks.json"
    masks = json.loads(masks_file.read_text())["epochs"] if order is not None and masks_file.exists() else None
    train = Texts(args.train_file, tokenizer, recipe, masks)
    validation = None
    if Path(args.validation_file).exists():
        own = Path(args.validation_file) == HERE / "validation.jsonl" and (HERE / "validation_masks.json").exists()
        fixed = json.loads((HERE / "validation_masks.json").read_text())["rows"] if own else None
        validation = Texts(args.validation_file, tokenizer, recipe, fixed)
    # the collator draws the masks, unless they are webtune's
    collator = drawing_masks(tokenizer, recipe)
    training = training_arguments(recipe, args, validation)
    training.remove_unused_columns = False  # the collator reads the offsets (whole words) and drops them
    trainer = MaskedLmTrainer(
        model=model, args=training, train_dataset=train, eval_dataset=validation,
        data_collator=collator, processing_class=tokenizer, callbacks=callbacks(recipe, args, validation), webtune_order=order,
        masks=masks, premasked=DataCollatorForTokenClassification(tokenizer))
    trainer.recipe = recipe
    train_and_save(trainer, tokenizer, recipe, args, validation)


if __name__ == "__main__":
    main()
