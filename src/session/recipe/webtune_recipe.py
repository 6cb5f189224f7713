"""What every webtune recipe's train.py shares: the command line, the Trainer fed webtune's batch
order, PEFT from the run's LoRA settings, the step log, continuing from webtune's checkpoint, and
writing the result. Written by webtune beside train.py; README.md says more."""
import argparse
import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file
from transformers import EarlyStoppingCallback, Trainer, TrainerCallback, TrainerState, TrainingArguments
from transformers.trainer_callback import ExportableState

HERE = Path(__file__).resolve().parent


def arguments(doc):
    """The command line every recipe takes."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="base model: hub id or folder (default: recipe.json's)")
    ap.add_argument("--train-file", default=str(HERE / "train.jsonl"))
    ap.add_argument("--validation-file", default=str(HERE / "validation.jsonl"))
    ap.add_argument("--output-dir", default=str(HERE / "out"))
    ap.add_argument("--webtune-order", action="store_true", help="feed webtune's batches (webtune_order.json) instead of shuffling: the same steps as webtune's run")
    ap.add_argument("--log-steps", help="write every optimizer step's loss and gradient norm to this JSON-lines file")
    ap.add_argument("--fresh-adapter", action="store_true", help="LoRA: let PEFT draw new adapters instead of starting from initial_adapter/ (needed for another base)")
    ap.add_argument("--bf16", action="store_true", help="bfloat16 mixed precision on GPUs that have it (webtune trains in float32: the steps then differ slightly)")
    args = ap.parse_args()
    recipe = json.loads((HERE / "recipe.json").read_text())
    return args, recipe, args.model or recipe["model"]


def read_rows(path):
    """A JSON-lines file's rows, each with its line number."""
    with open(path, encoding="utf-8") as f:
        return [(n, json.loads(line)) for n, line in enumerate(f, 1) if line.strip()]


def with_lora(model, recipe, args, model_name):
    """The model with the run's LoRA adapters (PEFT), starting where webtune's run started when the
    recipe carries those adapters (initial_adapter/); unchanged for a full fine-tune."""
    if not recipe["lora"]:
        return model
    from peft import LoraConfig, PeftModel, get_peft_model
    initial = recipe.get("initial_adapter")
    if initial and not args.fresh_adapter:
        try:
            model = PeftModel.from_pretrained(model, HERE / initial, is_trainable=True)
        except (RuntimeError, ValueError) as e:
            raise SystemExit(f"{initial}/ does not fit {model_name} ({e}); for another base pass --fresh-adapter")
    else:
        keys = ["r", "lora_alpha", "lora_dropout", "target_modules", "modules_to_save", "bias", "init_lora_weights", "use_rslora", "task_type", "fan_in_fan_out"]
        model = get_peft_model(model, LoraConfig(**{k: recipe["lora"][k] for k in keys if k in recipe["lora"]}))
    model.print_trainable_parameters()
    return model


def training_arguments(recipe, args, validation):
    """The Trainer's arguments: the run's, adjusted for this invocation."""
    training = dict(recipe["training_arguments"])
    if validation is None:
        training.update(eval_strategy="no", save_strategy="no", load_best_model_at_end=False)
    if args.log_steps:
        training["logging_steps"] = 1
    if args.bf16:
        training["bf16"] = True
    return TrainingArguments(output_dir=args.output_dir, **training)


def callbacks(recipe, args, validation):
    """Early stopping as the run did, and the step log when asked for."""
    out = []
    if recipe["early_stopping_patience"] is not None and validation is not None:
        out.append(EarlyStoppingCallback(early_stopping_patience=recipe["early_stopping_patience"]))
    if args.log_steps:
        out.append(StepLog(args.log_steps))
    return out


def webtune_order(args):
    """webtune's batches per epoch with --webtune-order, else None (the Trainer shuffles)."""
    if not args.webtune_order:
        return None
    if args.train_file != str(HERE / "train.jsonl"):
        raise SystemExit("--webtune-order orders the recipe's own train.jsonl; leave --train-file out")
    return json.loads((HERE / "webtune_order.json").read_text())["epochs"]


class WebtuneBatches(torch.utils.data.Sampler):
    """The batches of webtune's run (webtune_order.json: per epoch, lists of row numbers)."""

    def __init__(self, epochs, first_epoch=0):
        self.epochs, self.epoch = epochs, first_epoch

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __len__(self):
        return len(self.epochs[0])

    def __iter__(self):
        return iter(self.epochs[self.epoch % len(self.epochs)])


class RecipeTrainer(Trainer):
    """The Trainer, fed webtune's batches when given them. A batch's loss is the model's mean over
    it, and accumulated batches count alike, as webtune counts them (not summed over the
    accumulation's labels, as the Trainer does for models that take num_items_in_batch)."""

    def __init__(self, *args, webtune_order=None, first_epoch=0, **kwargs):
        super().__init__(*args, **kwargs)
        self.webtune_order, self.first_epoch = webtune_order, first_epoch
        self.model_accepts_loss_kwargs = False

    def get_train_dataloader(self):
        if self.webtune_order is None:
            return super().get_train_dataloader()
        loader = torch.utils.data.DataLoader(self.train_dataset, batch_sampler=WebtuneBatches(self.webtune_order, self.first_epoch),
                                             collate_fn=self.data_collator)
        return self.accelerator.prepare(loader)


class RowEvaluation(RecipeTrainer):
    """Evaluation as webtune's: every validation row scored once (the rows shared out among the
    processes), the loss summed over every scored token and divided by their number (not a mean
    of batch means). A task says how its rows score (`score_rows`) and what else they measure
    (`row_metrics`)."""

    model_inputs = ("input_ids", "attention_mask", "token_type_ids")

    def logits(self, output):
        """What `score_rows` reads of the model's output."""
        return output.logits.float()

    def score_rows(self, rows, batch, logits):
        """Per row of the batch (`rows`: their numbers in the dataset): (summed loss, tokens scored, …)."""
        raise NotImplementedError

    def row_metrics(self, loss, scored):
        return {}

    def eval_collate(self, items):
        """The batch of validation items."""
        return self.data_collator(items)

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix="eval"):
        dataset = eval_dataset if eval_dataset is not None else self.eval_dataset
        mine = list(range(len(dataset)))[self.args.process_index::self.args.world_size]
        size = self.args.per_device_eval_batch_size
        model, was_training = self.model, self.model.training
        model.eval()
        scored = []
        with torch.no_grad():
            for start in range(0, len(mine), size):
                rows = mine[start:start + size]
                batch = self._prepare_inputs(self.eval_collate([dataset[i] for i in rows]))
                logits = self.logits(model(**{k: batch[k] for k in self.model_inputs if k in batch}))
                scored += self.score_rows(rows, batch, logits)
        model.train(was_training)
        if self.args.world_size > 1:
            from accelerate.utils import gather_object
            scored = gather_object(scored)
        loss = sum(s[0] for s in scored) / max(sum(s[1] for s in scored), 1)
        metrics = {f"{metric_key_prefix}_{k}": v for k, v in {"loss": loss, **self.row_metrics(loss, scored)}.items()}
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics


def token_losses(logits, labels):
    """Per row: the summed cross-entropy of its labelled tokens (labels not -100), and their number."""
    nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), labels, ignore_index=-100, reduction="none").sum(1)
    return list(zip(nll.tolist(), labels.ne(-100).sum(1).tolist()))


class StepLog(TrainerCallback):
    """Writes each optimizer step's loss, gradient norm (before clipping) and learning rate as a
    JSON line, as webtune's step events report them (with logging_steps 1)."""

    def __init__(self, path):
        self.path = path
        open(path, "w").close()

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs and state.is_world_process_zero:
            with open(self.path, "a") as f:
                f.write(json.dumps({"step": state.global_step, "loss": logs["loss"], "grad_norm": logs.get("grad_norm"), "learning_rate": logs.get("learning_rate")}) + "\n")


def continue_from(trainer, resume, output_dir):
    """webtune's checkpoint (resume/: the weights — a LoRA run's adapters and head —, the AdamW
    moments by parameter name, the position and best evaluation) as the Trainer's
    output_dir/checkpoint-N/, for train(resume_from_checkpoint)."""
    folder, step = HERE / resume["folder"], resume["step"]
    checkpoint = Path(output_dir) / f"checkpoint-{step}"
    checkpoint.mkdir(parents=True, exist_ok=True)
    lora = (folder / "adapter_model.safetensors").exists()  # a LoRA run's: its adapters and head, PEFT's files
    for name in ("adapter_config.json", "adapter_model.safetensors") if lora else ("config.json", "model.safetensors"):
        shutil.copy(folder / name, checkpoint / name)
    steps_per_epoch = len(trainer.get_train_dataloader()) // trainer.args.gradient_accumulation_steps
    max_steps = steps_per_epoch * int(trainer.args.num_train_epochs)
    trainer.create_optimizer_and_scheduler(num_training_steps=max_steps)
    first, second = load_file(folder / "exp_avg.safetensors"), load_file(folder / "exp_avg_sq.safetensors")
    names = {id(p): peft_key(n) if lora else n for n, p in trainer.model.named_parameters()}
    for group in trainer.optimizer.param_groups:
        for p in group["params"]:
            name = names[id(p)]
            if name not in first or first[name].shape != p.shape:
                raise SystemExit(f"{folder}: no moments for {name} of shape {tuple(p.shape)}; the checkpoint belongs to another model")
            trainer.optimizer.state[p] = {"step": torch.tensor(float(step)), "exp_avg": first[name].to(p.dtype).clone(),
                                          "exp_avg_sq": second[name].to(p.dtype).clone()}
    for _ in range(step):
        trainer.lr_scheduler.step()
    torch.save(trainer.optimizer.state_dict(), checkpoint / "optimizer.pt")
    torch.save(trainer.lr_scheduler.state_dict(), checkpoint / "scheduler.pt")
    trainer.optimizer, trainer.lr_scheduler = None, None  # train() builds them again, then loads these
    args = trainer.args
    stateful = [cb for cb in trainer.callback_handler.callbacks + [trainer.control] if isinstance(cb, ExportableState)]
    state = TrainerState(global_step=step, epoch=step / steps_per_epoch, max_steps=max_steps, num_train_epochs=int(args.num_train_epochs),
                         logging_steps=args.logging_steps, eval_steps=args.eval_steps, save_steps=args.save_steps,
                         train_batch_size=args.per_device_train_batch_size, stateful_callbacks=stateful)
    best = resume.get("best")
    if best and (folder / "best").is_dir():
        # the weights of the best evaluation so far, where load_best_model_at_end finds them
        best_checkpoint = Path(output_dir) / f"checkpoint-{best['step']}"
        if best_checkpoint != checkpoint:
            shutil.copytree(folder / "best", best_checkpoint, dirs_exist_ok=True)
        state.best_metric, state.best_global_step, state.best_model_checkpoint = best["value"], best["step"], str(best_checkpoint)
    state.save_to_json(str(checkpoint / "trainer_state.json"))
    return str(checkpoint)


def peft_key(name):
    """The key of a PeftModel's trainable parameter in PEFT's adapter_model.safetensors (the
    adapter's name left out, as PEFT saves it)."""
    return name.replace(".modules_to_save.default.", ".").replace(".lora_A.default.", ".lora_A.").replace(".lora_B.default.", ".lora_B.")


def train_and_save(trainer, tokenizer, recipe, args, validation):
    """Trains (from resume/ when the recipe continues a run), prints the final evaluation as one
    JSON line and writes out/final/: a Hugging Face folder, or PEFT's adapter files for LoRA."""
    resume = recipe.get("resume")
    if resume and recipe["lora"] and args.fresh_adapter:
        raise SystemExit("resume/ continues the run's own adapters; leave --fresh-adapter out")
    if resume and args.train_file != str(HERE / "train.jsonl"):
        raise SystemExit("resume/ continues the run on its own rows (train.jsonl); leave --train-file out")
    trainer.train(resume_from_checkpoint=continue_from(trainer, resume, args.output_dir) if resume else None)
    if validation is not None:
        print(json.dumps(trainer.evaluate()))
    final = Path(args.output_dir) / "final"
    trainer.save_model(final)  # LoRA: PEFT's adapter files, which webtune and PeftModel load
    tokenizer.save_pretrained(final)
    print(f"wrote {final}")
