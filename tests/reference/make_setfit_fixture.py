"""SetFit's reference (setfit 1.2.0 on sentence-transformers) on a tiny sentence-transformer, for
tests/setfit.rs: the contrastive pairs setfit draws, the body's optimizer steps with webtune's
batch order, the logistic-regression head scikit-learn fits on the trained body's embeddings, and
setfit's own predictions from the folder webtune saves.

Run from the repository root after building the CLI (cargo build --bin webtune):

    ~/.cache/webtune/refenv/bin/python tests/reference/make_setfit_fixture.py --webtune $CARGO_TARGET_DIR/debug/webtune

Writes tests/fixtures/setfit/:
  body/           the sentence-transformer both sides start from: tests/fixtures/bert/tiny-cls3's
                  encoder with train-steps' dropout-0 config, mean pooling, Normalize
  data.jsonl      the 20 rows of tests/fixtures/recipe/data.jsonl (3 classes)
  expected.json   numpy's legacy permutations; setfit's pairs for each sampling setting (row
                  indices and pair label); per optimizer step of the body: loss, gradient norm
                  (before clipping), learning rate; the trained body's embeddings of TEST; the
                  head (coef_, intercept_) as setfit fits it (LogisticRegression()) and as the
                  same problem solved to a tight tolerance; setfit's probabilities for TEST from
                  the folder `webtune train --method setfit` wrote, and that folder's head pickle
                  (its coefficients' bytes and its FNV-1a hash); setfit's differentiable head
                  trained on the untrained body in webtune's order of the rows (its start, every
                  step's loss, the result, the embeddings it saw, its probabilities for TEST); the
                  same head trained end to end with the body (`end_to_end=True`).
                  `--only differentiable-head` / `--only end-to-end` runs that part alone.
"""
import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_lora import webtune_order  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
BERT = ROOT / "tests/fixtures/bert"
OUT = ROOT / "tests/fixtures/setfit"
TEST = ["a joy", "nothing works", "opens in may", "sharp , funny and loud", "a waste"]
# The run both sides make (webtune's flags; the same settings as setfit's TrainingArguments below).
RUN = {"epochs": 2, "batch_size": 8, "learning_rate": 1e-3, "warmup_ratio": 0.1, "weight_decay": 0.01, "seed": 7, "max_length": 64}
WEBTUNE_FLAGS = ["--method", "setfit", "--epochs", "2", "--batch-size", "8", "--learning-rate", "1e-3", "--warmup-ratio", "0.1",
                 "--weight-decay", "0.01", "--seed", "7", "--max-length", "64", "--validation-split", "0", "--log-every", "1"]
SAMPLINGS = {
    "oversampling": dict(sampling_strategy="oversampling"),
    "undersampling": dict(sampling_strategy="undersampling"),
    "unique": dict(sampling_strategy="unique"),
    "iterations-2": dict(num_iterations=2),
    "max-pairs-10": dict(sampling_strategy="oversampling", max_pairs=10),
}


def fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def make_body():
    """The tiny BERT as a sentence-transformers folder (Transformer, mean Pooling, Normalize)."""
    from sentence_transformers import SentenceTransformer, models

    work = Path(tempfile.mkdtemp())
    config = json.loads((BERT / "train-steps/config.json").read_text())
    config["architectures"] = ["BertModel"]
    for key in ["id2label", "label2id"]:
        config.pop(key, None)
    (work / "config.json").write_text(json.dumps(config, indent=1))
    shutil.copy(BERT / "tiny-cls3/model.safetensors", work / "model.safetensors")
    shutil.copy(BERT / "tokenizer.json", work / "tokenizer.json")
    (work / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "BertTokenizer", "do_lower_case": True, "model_max_length": 64}))
    transformer = models.Transformer(str(work), max_seq_length=RUN["max_length"])
    body = SentenceTransformer(modules=[transformer, models.Pooling(config["hidden_size"], "mean"), models.Normalize()])
    if (OUT / "body").exists():
        shutil.rmtree(OUT / "body")
    body.save(str(OUT / "body"))
    # the body's weights as the encoder had them (sentence-transformers re-saves the same tensors)
    return OUT / "body"


def pairs_for(labels, **kwargs):
    from setfit.sampler import ContrastiveDataset

    ids = [str(i) for i in range(len(labels))]
    data = ContrastiveDataset(ids, labels, False, kwargs.get("num_iterations"), kwargs.get("sampling_strategy", "oversampling"),
                              max_pairs=kwargs.get("max_pairs", -1))
    return [[int(p["sentence_1"]), int(p["sentence_2"]), p["label"]] for p in data]


class WebtuneBatches(torch.utils.data.Sampler):
    """The body's batches in webtune's order (one list of epochs; each pass is the next epoch)."""

    def __init__(self, epochs):
        self.epochs, self.calls = epochs, 0

    def __len__(self):
        return len(self.epochs[0])

    def __iter__(self):
        epoch = self.epochs[self.calls]
        self.calls += 1
        return iter(epoch)


def train_setfit(body_dir, texts, labels):
    """setfit's Trainer with webtune's batch order; returns the steps, the model and its pairs."""
    from sentence_transformers.losses import CosineSimilarityLoss
    from setfit import SetFitModel, Trainer, TrainingArguments
    from setfit.trainer import BCSentenceTransformersTrainer
    from transformers import TrainerCallback
    from datasets import Dataset

    pairs = pairs_for(labels)
    order = [webtune_order(len(pairs), RUN["batch_size"], RUN["seed"], e) for e in range(RUN["epochs"])]
    BCSentenceTransformersTrainer.get_batch_sampler = lambda self, *a, **k: WebtuneBatches(order)
    losses = []
    forward = CosineSimilarityLoss.forward

    def recorded(self, *a, **k):
        loss = forward(self, *a, **k)
        losses.append(loss.item())
        return loss

    CosineSimilarityLoss.forward = recorded
    logged = []

    class Logs(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "grad_norm" in logs:
                logged.append({"step": state.global_step, "grad_norm": float(logs["grad_norm"]), "learning_rate": logs["learning_rate"]})

    model = SetFitModel.from_pretrained(str(body_dir), labels=NAMES)
    args = TrainingArguments(batch_size=(RUN["batch_size"], 2), num_epochs=(RUN["epochs"], 1), body_learning_rate=(RUN["learning_rate"], 1e-5),
                             warmup_proportion=RUN["warmup_ratio"], l2_weight=RUN["weight_decay"], seed=RUN["seed"],
                             max_length=RUN["max_length"], logging_steps=1, show_progress_bar=False, report_to=[], save_strategy="no")
    trainer = Trainer(model=model, args=args, train_dataset=Dataset.from_dict({"text": texts, "label": labels}), callbacks=[Logs()])
    trainer.train()
    CosineSimilarityLoss.forward = forward
    assert len(losses) == len(logged) == sum(len(e) for e in order), (len(losses), len(logged))
    steps = [{"step": l["step"], "loss": loss, "grad_norm": l["grad_norm"], "learning_rate": l["learning_rate"]} for l, loss in zip(logged, losses)]
    return steps, model, order


# setfit's differentiable head (SetFitHead) on the fixture body, frozen: epochs, rows per step,
# head learning rate, l2_weight, and the seed of webtune's order of the rows
HEAD_RUN = {"epochs": 7, "batch_size": 4, "learning_rate": 1e-2, "weight_decay": 0.01, "seed": 7}
# the same trained end to end (the body at its own rate; 6 epochs: the rates halve after 5)
END_TO_END_RUN = {"epochs": 6, "batch_size": 4, "learning_rate": 1e-2, "weight_decay": 0.01, "seed": 7, "body_learning_rate": 1e-3}


def train_differentiable_head(body_dir, texts, labels, end_to_end=False):
    """setfit's SetFitModel.fit with a SetFitHead (use_differentiable_head=True) on the untrained
    fixture body (dropout 0), the rows in webtune's order: its start, every step's loss, the
    trained head, and the embeddings and probabilities it saw and gives. With end_to_end, the
    body trains with the head (end_to_end=True) and the embeddings are the trained body's."""
    run = END_TO_END_RUN if end_to_end else HEAD_RUN
    from setfit import SetFitModel

    torch.manual_seed(0)
    model = SetFitModel.from_pretrained(str(body_dir), labels=NAMES, use_differentiable_head=True, head_params={"out_features": len(NAMES)})
    linear = model.model_head.linear
    start = {"weight": linear.weight.tolist(), "bias": linear.bias.tolist()}
    order = [webtune_order(len(texts), run["batch_size"], run["seed"], e) for e in range(run["epochs"])]
    prepare = SetFitModel._prepare_dataloader

    class Ordered(torch.utils.data.Sampler):
        """Each epoch's batches, the epoch advanced when its batches are first drawn (torch's
        loader may ask for an iterator more than once per epoch)."""

        def __init__(self):
            self.epoch = 0

        def __len__(self):
            return len(order[0])

        def __iter__(self):
            def batches():
                self.epoch += 1
                yield from order[self.epoch - 1]
            return batches()

    def ordered(self, x, y, batch_size=None, max_length=None, shuffle=True):
        loader = prepare(self, x, y, batch_size, max_length, shuffle=False)
        return torch.utils.data.DataLoader(loader.dataset, batch_sampler=Ordered(), collate_fn=loader.collate_fn)

    losses = []
    forward = torch.nn.CrossEntropyLoss.forward

    def recorded(self, *a, **k):
        loss = forward(self, *a, **k)
        losses.append(loss.item())
        return loss

    SetFitModel._prepare_dataloader, torch.nn.CrossEntropyLoss.forward = ordered, recorded
    model.fit(texts, labels, num_epochs=run["epochs"], batch_size=run["batch_size"], head_learning_rate=run["learning_rate"],
              body_learning_rate=run.get("body_learning_rate"), end_to_end=end_to_end, l2_weight=run["weight_decay"],
              max_length=RUN["max_length"], show_progress_bar=False)
    SetFitModel._prepare_dataloader, torch.nn.CrossEntropyLoss.forward = prepare, forward
    model.model_body.eval()
    return {
        "run": run, "labels": labels, "start": start, "steps": losses, "weight": linear.weight.tolist(), "bias": linear.bias.tolist(),
        "embeddings": model.model_body.encode(texts, convert_to_numpy=True).tolist(),
        "test_embeddings": model.model_body.encode(TEST, convert_to_numpy=True).tolist(), "probabilities": model.predict_proba(TEST).tolist(),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--webtune", help="the CLI; without it the saved folder's part is left out")
    ap.add_argument("--only", choices=["differentiable-head", "end-to-end"], help="run this part alone and update its entry of expected.json")
    args = ap.parse_args()
    global NAMES
    if args.only:
        rows = [json.loads(l) for l in (OUT / "data.jsonl").read_text().splitlines()]
        NAMES = sorted({r["label"] for r in rows})
        expected = json.loads((OUT / "expected.json").read_text())
        texts, labels = [r["text"] for r in rows], [NAMES.index(r["label"]) for r in rows]
        if args.only == "differentiable-head":
            expected["differentiable_head"] = train_differentiable_head(OUT / "body", texts, labels)
        else:
            expected["end_to_end"] = train_differentiable_head(OUT / "body", texts, labels, end_to_end=True)
        (OUT / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
        return
    from sklearn.linear_model import LogisticRegression
    import joblib

    OUT.mkdir(parents=True, exist_ok=True)
    rows = [json.loads(l) for l in (ROOT / "tests/fixtures/recipe/data.jsonl").read_text().splitlines()]
    (OUT / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    NAMES = sorted({r["label"] for r in rows})
    texts, labels = [r["text"] for r in rows], [NAMES.index(r["label"]) for r in rows]
    body_dir = make_body()

    permutations = {str(n): np.random.RandomState(seed=42).permutation(n).tolist() for n in [1, 2, 7, 20, 210, 1000]}
    pairs = {name: pairs_for(labels, **kw) for name, kw in SAMPLINGS.items()}
    torch.manual_seed(0)
    steps, model, order = train_setfit(body_dir, texts, labels)
    embeddings = model.model_body.encode(TEST, convert_to_numpy=True)
    train_embeddings = model.model_body.encode(texts, convert_to_numpy=True)
    tight = LogisticRegression(tol=1e-12, max_iter=100000).fit(train_embeddings, labels)
    head = model.model_head
    expected = {
        "names": NAMES, "run": RUN, "test": TEST, "permutations": permutations, "pairs": pairs, "order": order, "steps": steps,
        "embeddings": embeddings.tolist(),
        "head": {"coef": head.coef_.tolist(), "intercept": head.intercept_.tolist(), "n_iter": head.n_iter_.tolist()},
        "head_tight": {"coef": tight.coef_.tolist(), "intercept": tight.intercept_.tolist()},
        "probabilities": model.predict_proba(TEST).tolist(),
    }
    print("steps")
    for s in steps:
        print(f"  {s['step']}: loss {s['loss']:.6f} grad_norm {s['grad_norm']:.6f} lr {s['learning_rate']:.2e}")
    print("setfit's head vs the tight fit:", np.abs(head.coef_ - tight.coef_).max())
    expected["differentiable_head"] = train_differentiable_head(body_dir, texts, labels)
    expected["end_to_end"] = train_differentiable_head(body_dir, texts, labels, end_to_end=True)

    if args.webtune is None:
        (OUT / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
        return
    # the folder webtune saves, as setfit loads it
    out = Path(tempfile.mkdtemp()) / "setfit-out"
    subprocess.run([args.webtune, "train", "--model", str(body_dir), "--data", str(OUT / "data.jsonl"), "--out", str(out), "--device", "cpu",
                    *WEBTUNE_FLAGS], check=True)
    from setfit import SetFitModel

    loaded = SetFitModel.from_pretrained(str(out))
    saved_head = joblib.load(out / "model_head.pkl")
    expected["saved"] = {
        "probabilities": loaded.predict_proba(TEST).tolist(),
        "predictions": [str(p) for p in loaded.predict(TEST)],
        "head": {"coef_f64le": saved_head.coef_.astype("<f8").tobytes().hex(), "shape": list(saved_head.coef_.shape),
                 "intercept_f64le": saved_head.intercept_.astype("<f8").tobytes().hex(), "n_iter": saved_head.n_iter_.tolist()},
        "head_pickle_fnv": f"{fnv1a64((out / 'model_head.pkl').read_bytes()):016x}",
        "files": sorted(str(f.relative_to(out)) for f in out.rglob("*") if f.is_file()),
    }
    print("setfit on webtune's folder:", expected["saved"]["predictions"])
    (OUT / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()
