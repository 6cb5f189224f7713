"""Fine-tunes a decoder as a causal language model as a webtune run did, with transformers' Trainer
(and PEFT when the run trained LoRA adapters), on the CPU, one GPU or many. Written by webtune: the
run's settings are in recipe.json, its rows in train.jsonl / validation.jsonl; README.md says more.

    python train.py                                                     # one device
    accelerate launch --config_file accelerate_multi_gpu.yaml train.py  # every GPU of a machine
    python train.py --train-file all_rows.jsonl --model org/bigger      # other data, other base
    python train.py --webtune-order                                     # webtune's own batches

Rows are read as webtune reads them: {"text"} (every token learned, or packed into blocks of
max_length tokens when recipe.json says "packing"), {"prompt", "completion"} (only the completion
learned; through the model's chat template when "chat_template" is true) and {"messages"} (every
assistant turn learned, as TRL's assistant_only_loss). The loss of a batch is the mean over its
learned tokens, and accumulated batches count alike (as webtune, and transformers before 4.46).
"""
import math
import re
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerFast
from transformers.utils.chat_template_utils import render_jinja_template

from webtune_recipe import (RowEvaluation, arguments, callbacks, read_rows, token_losses, train_and_save, training_arguments,
                            webtune_order, with_lora)

GENERATION_BLOCK = re.compile(r"\{\%-?\s*generation\s*-?\%\}")


class RowEncoder:
    """Rows → token ids and the positions learned, as webtune's LmRowEncoder: the model's
    tokenizer.json (its Rust library, as webtune's), BOS and EOS as recipe.json "tokens" says, the
    chat template rendered by transformers."""

    def __init__(self, tokenizer, backend, recipe):
        self.tokenizer, self.backend = tokenizer, backend
        tokens = recipe["tokens"]
        self.bos, self.add_bos, self.eos = tokens["bos"], tokens["add_bos"], tokens["eos"]
        self.chat, self.max_length = recipe["chat_template"], recipe["max_length"]
        self.template = tokenizer.chat_template
        if self.chat and not self.template:
            raise SystemExit("recipe.json says the run used the model's chat template, but this tokenizer has none; use the run's base model")

    def ids(self, text, special):
        return self.backend.encode(text, add_special_tokens=special).ids

    def with_bos(self, ids):
        return [self.bos] + ids if self.add_bos and self.bos is not None and ids[:1] != [self.bos] else ids

    def render(self, messages, add_generation_prompt):
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)

    def encode(self, row, origin):
        """(ids, learned): the row's tokens, at most max_length, and whether each is learned."""
        if "messages" in row:
            if not self.chat:
                raise SystemExit(f"{origin}: conversation rows need the model's chat template")
            ids, learned = self.conversation(row["messages"], origin)
        elif "prompt" in row and self.chat:
            user = {"role": "user", "content": row["prompt"]}
            asked = self.render([user], True)
            answered = self.render([user, {"role": "assistant", "content": row["completion"]}], False)
            if not answered.startswith(asked):
                raise SystemExit(f"{origin}: this model's chat template does not write a reply after the prompt it renders")
            ids = self.ids(asked, False)
            prompt = len(ids)
            ids += self.ids(answered[len(asked):], False)
            learned = [j >= prompt for j in range(len(ids))]
        elif "prompt" in row:
            ids, learned = self.plain(row["prompt"], row["completion"])
        else:
            ids, learned = self.plain(None, row["text"])
        return ids[:self.max_length], learned[:self.max_length]

    def plain(self, prompt, text):
        """BOS (as the model expects), the prompt if any, then the text to learn and EOS."""
        ids = self.with_bos(self.ids(prompt or "", True))
        start = len(ids)
        ids += self.ids(text, False) + ([self.eos] if self.eos is not None else [])
        return ids, [j >= start for j in range(len(ids))]

    def conversation(self, messages, origin):
        """The rendered conversation, its assistant turns learned: the template's {% generation %}
        blocks when it has them (transformers' return_assistant_tokens_mask), else each assistant
        message's turn as the template renders it, trailing whitespace left out."""
        if GENERATION_BLOCK.search(self.template):
            rendered, spans = render_jinja_template([messages], chat_template=self.template, return_assistant_tokens_mask=True,
                                                    **self.tokenizer.special_tokens_map)
            text, spans = rendered[0], spans[0]
        else:
            text, spans = self.render(messages, False), []
            for i, m in enumerate(messages):
                if m["role"] != "assistant":
                    continue
                before = self.render(messages[:i], True) if i else ""
                through = self.render(messages[:i + 1], False)
                if not through.startswith(before) or not text.startswith(through):
                    raise SystemExit(f"{origin}: this model's chat template does not render a conversation turn by turn")
                turn = through[len(before):].rstrip()
                spans.append((len(before), len(before) + len(turn)))
        encoding = self.backend.encode(text, add_special_tokens=False)
        learned = [False] * len(encoding.ids)
        for start, end in spans:
            if end <= start:
                continue
            first = encoding.char_to_token(start)
            if first is None:
                break  # past the end, as transformers
            last = encoding.char_to_token(end - 1)
            for j in range(first, len(learned) if last is None else last + 1):
                learned[j] = True
        return encoding.ids, learned

    def pack(self, rows):
        """Plain texts as run_clm.py groups them: each tokenized (with its BOS) and followed by EOS,
        all concatenated and cut into blocks of max_length tokens, every token learned; the
        remainder shorter than a block is dropped."""
        stream = []
        for origin, row in rows:
            if "text" not in row:
                raise SystemExit(f"{origin}: packing joins plain texts ({{\"text\": …}} rows)")
            stream += self.with_bos(self.ids(row["text"], True)) + ([self.eos] if self.eos is not None else [])
        n = self.max_length
        return [(stream[i:i + n], [True] * n) for i in range(0, len(stream) - n + 1, n)]


class Rows(torch.utils.data.Dataset):
    """A JSON-lines file's rows as token ids and labels (-100 where nothing is learned); rows with
    no token to learn within max_length are left out, as webtune leaves them out."""

    def __init__(self, path, encoder, packing):
        rows = [(f"{Path(path).name}:{n}", row) for n, row in read_rows(path)]
        encoded = encoder.pack(rows) if packing else [encoder.encode(row, origin) for origin, row in rows]
        # position 0 is never a target (nothing comes before it)
        self.rows = [(ids, [t if learn and j else -100 for j, (t, learn) in enumerate(zip(ids, learned))]) for ids, learned in encoded]
        self.rows = [(ids, labels) for ids, labels in self.rows if any(l != -100 for l in labels)]
        if not self.rows:
            raise SystemExit(f"{path}: no row has a token to learn within max_length {encoder.max_length}")

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        ids, labels = self.rows[i]
        return {"input_ids": ids, "labels": labels}


class PadRight:
    """A batch padded on the right with the run's pad id (labels with -100)."""

    def __init__(self, pad):
        self.pad = pad

    def __call__(self, rows):
        longest = max(len(r["input_ids"]) for r in rows)
        batch = {"input_ids": [], "attention_mask": [], "labels": []}
        for r in rows:
            padding = longest - len(r["input_ids"])
            batch["input_ids"].append(r["input_ids"] + [self.pad] * padding)
            batch["attention_mask"].append([1] * len(r["input_ids"]) + [0] * padding)
            batch["labels"].append(r["labels"] + [-100] * padding)
        return {k: torch.tensor(v) for k, v in batch.items()}


class LanguageModelTrainer(RowEvaluation):
    """Evaluation as webtune's: the mean next-token loss over every learned token of the
    validation rows, and its perplexity."""

    model_inputs = ("input_ids", "attention_mask")

    def score_rows(self, rows, batch, logits):
        return token_losses(logits[:, :-1], batch["labels"][:, 1:])

    def row_metrics(self, loss, scored):
        return {"perplexity": math.exp(min(loss, 700.0))}


def main():
    args, recipe, model_name = arguments(__doc__)
    if model_name.lower().endswith(".gguf"):
        raise SystemExit(f"{model_name} is a GGUF file (webtune's run started from it); transformers trains the Hugging Face model it was made "
                         "from: pass its hub id or folder with --model")
    tokenizer = AutoTokenizer.from_pretrained(model_name)
    model = AutoModelForCausalLM.from_pretrained(model_name, dtype=torch.float32)  # webtune trains in float32
    model = with_lora(model, recipe, args, model_name)
    # ids from tokenizer.json as it is, as webtune reads it: AutoTokenizer may instead rebuild a
    # model type's own pipeline from the vocabulary (transformers 5's Qwen2Tokenizer does)
    exact = PreTrainedTokenizerFast.from_pretrained(model_name).backend_tokenizer
    encoder = RowEncoder(tokenizer, exact, recipe)
    train = Rows(args.train_file, encoder, recipe["packing"])
    validation = Rows(args.validation_file, encoder, recipe["packing"]) if Path(args.validation_file).exists() else None
    trainer = LanguageModelTrainer(
        model=model, args=training_arguments(recipe, args, validation), train_dataset=train, eval_dataset=validation,
        data_collator=PadRight(recipe["tokens"]["pad"]), callbacks=callbacks(recipe, args, validation), webtune_order=webtune_order(args))
    train_and_save(trainer, tokenizer, recipe, args, validation)


if __name__ == "__main__":
    main()
