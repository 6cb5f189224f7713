"""A webtune run exported as a Hugging Face recipe (`webtune recipe`), run by transformers'
Trainer: its steps are the fixture webtune's own run of the same options must match
(tests/recipe.rs). Also checks that accelerate reads the recipe's multi-GPU configs.

Run from the repository root after building the CLI (cargo build --bin webtune):

    ~/.cache/webtune/refenv/bin/python tests/reference/make_recipe_fixture.py --webtune $CARGO_TARGET_DIR/debug/webtune

Writes tests/fixtures/recipe/:
  data.jsonl        the run's data (the 12 rows of the classifier training fixture, and 8 more)
  expected.json     for two runs of it, "full" (every weight) and "lora" (rank 4 on query and
                    value, starting from the recipe's initial_adapter/): the recipe webtune wrote
                    (each file's FNV-1a 64-bit hash: the test writes the recipe again and
                    compares), its options and validation split; per optimizer step of
                    `python train.py --webtune-order`: loss, gradient norm (before clipping),
                    learning rate; and the final evaluation. A third, "resumed": the full run
                    checkpointed at step 7 by `webtune train --checkpoint-every 7`, written by
                    `webtune recipe --resume` (its resume/ folder) and continued by train.py from
                    that checkpoint: the Trainer's steps 8 to 12. "lora-distilbert", "lora-xlm-roberta":
                    the LoRA run on those families' tiny classifiers (tests/fixtures/encoders/).
                    "resumed-lora": the same for the
                    LoRA run (PEFT continues its adapters and head with their moments)
The model: tests/fixtures/bert/tiny-cls3's weights with train-steps' dropout-0 config (both
sides then compute the same thing), copied into a folder named `model`.

Token classification, on tests/fixtures/token-classification/bert and roberta (their dropout-0
configs, the encoders' tokenizers; folders `ner-bert`, `ner-roberta`):
  ner.txt           the tagger fixture's 12 sentences and one more, as a CoNLL file
  expected.json     "ner-full" (every weight), "ner-lora" (rank 4 from initial_adapter/, every
                    sub-word labelled) and "ner-roberta" (the RoBERTa tagger, words read with a
                    prefix space): file hashes, options, the Trainer's steps and final
                    evaluation (seqeval's entity scores, webtune's way)
  ner-full-trained.safetensors, ner-lora-trained.safetensors   what the Trainer ended them with

Question answering, on tests/fixtures/question-answering/bert (its dropout-0 config, the fill-mask
fixture's tokenizer; folder `qa-model`), 64-token windows overlapping by 8:
  qa.jsonl          the QA fixture's questions as flat rows (long contexts, a short one, one unanswerable)
  expected.json     "qa-full" (every weight) and "qa-lora" (rank 4 from initial_adapter/, qa_outputs
                    trained in full): file hashes, options, the Trainer's steps and final evaluation
                    (the loss over windows, SQuAD exact match and F1 of run_qa's post-processing)
  qa-full-trained.safetensors, qa-lora-trained.safetensors   what the Trainer ended them with

Masked-LM domain adaptation, on tests/fixtures/fill-mask/bert (its dropout-0 config; folder
`mlm-model`):
  mlm.txt           13 texts, one per line
  expected.json     "mlm-full" (15 % of tokens) and "mlm-whole-words" (whole words, 30 %, 2 batches
                    accumulated per step), each with webtune's masks in the recipe: file hashes,
                    options, the Trainer's steps and final evaluation (on webtune's fixed masks)
  mlm-full-trained.safetensors   what the Trainer ended "mlm-full" with

Text generation, on tests/fixtures/gpt2 (train-steps' dropout-0 config; folder `lm-gpt2`, its
tokenizer_config.json kept as lm-gpt2.json) and on tests/fixtures/llama/tiny with train-steps' character tokenizer and a chat
template (folders `lm-model`: a template rendered turn by turn; `lm-marked`: one with
`{% generation %}` blocks; `lm-qwen2`: tests/fixtures/llama/tiny-qwen2 with the same tokenizer;
their tokenizer_config.json files are kept as lm-model.json, lm-marked.json and lm-qwen2.json):
  chat.jsonl, pairs.jsonl, corpus.txt   the runs' data (conversations, prompt/completion rows,
                    plain text, which is packed into blocks)
  expected.json     "lm-chat" (conversations, every assistant turn learned, accumulating 2
                    batches per step), "lm-chat-lora" (the same through the marked template, LoRA
                    rank 4 from the recipe's initial_adapter/), "lm-gpt2-lora" (the pairs on the
                    tiny GPT-2, LoRA on its Conv1D c_attn), "lm-qwen2-lora" (the pairs on the tiny Qwen 2, LoRA,
                    no chat template), "lm-pairs" (prompt/completion
                    without the chat template) and "lm-packed" (the text packed into blocks of 16):
                    as for the classifier, the recipe's file hashes, the options, the Trainer's
                    steps and final evaluation (eval_loss over every learned token).
  lm-chat-trained.safetensors, lm-chat-lora-trained.safetensors   the weights and the adapter the
                    Trainer ended "lm-chat" and "lm-chat-lora" with

SetFit, on tests/fixtures/setfit/body (folder `setfit-body`) and data.jsonl:
  expected.json     "setfit" (`--method setfit`, a quarter of the rows held out): file hashes,
                    options, the body's steps as setfit's Trainer took them in webtune's order of
                    setfit's pairs, and the evaluation of the head it fitted (webtune's metrics).
                    `--only setfit` runs this one alone and updates its entry.
"""
import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BERT = ROOT / "tests/fixtures/bert"
OUT = ROOT / "tests/fixtures/recipe"
EXTRA = [
    ("a joy to watch", "positive"), ("sharp and beautifully made", "positive"),
    ("a waste of time", "negative"), ("clumsy and loud", "negative"),
    ("the sequel opens in may", "neutral"), ("shot in two countries", "neutral"),
    ("funny , moving and smart", "positive"), ("nothing works here", "negative"),
]
OPTIONS = ["--epochs", "3", "--batch-size", "4", "--learning-rate", "1e-3", "--warmup-steps", "2", "--log-every", "1",
           "--validation-split", "0.25", "--seed", "7"]
RUNS = {"full": [], "lora": ["--lora-rank", "4", "--lora-alpha", "8"]}
RESUMED = ["--checkpoint-every", "7"]
# the LoRA run on the other encoder families (their tiny classifiers; the head starts from the recipe's initial_adapter/)
FAMILY_RUNS = {"lora-distilbert": "distilbert", "lora-xlm-roberta": "xlm-roberta"}
LLAMA = ROOT / "tests/fixtures/llama"
TURNS = "{% for m in messages %}{{ m['role'] | upper }}: {{ m['content'] }}; {% endfor %}{% if add_generation_prompt %}ASSISTANT:{% endif %}"
MARKED = ("{% for m in messages %}{% if m['role'] == 'assistant' %}ASSISTANT: {% generation %}{{ m['content'] }};{% endgeneration %} "
          "{% else %}{{ m['role'] | upper }}: {{ m['content'] }}; {% endif %}{% endfor %}{% if add_generation_prompt %}ASSISTANT:{% endif %}")
CHATS = [
    [("user", "two plus two?"), ("assistant", "four.")],
    [("system", "answer in one word."), ("user", "capital of France?"), ("assistant", "Paris.")],
    [("user", "color of the sky?"), ("assistant", "blue."), ("user", "and grass?"), ("assistant", "green.")],
    [("user", "say hi"), ("assistant", "hi!")],
    [("user", "opposite of up?"), ("assistant", "down.")],
    [("user", "count to three"), ("assistant", "1 2 3")],
    [("system", "be brief."), ("user", "is ice cold?"), ("assistant", "yes.")],
    [("user", "first letter?"), ("assistant", "a."), ("user", "last one?"), ("assistant", "z.")],
    [("user", "ten minus one?"), ("assistant", "nine.")],
    [("user", "name a fruit"), ("assistant", "apple.")],
]
PAIRS = [("Q: two plus two? A:", " four."), ("Q: capital of France? A:", " Paris."), ("Q: color of the sky? A:", " blue."),
         ("Say hi:", " hi!"), ("Q: opposite of up? A:", " down."), ("Count: 1 2 3", " 4 5 6"), ("Q: ten minus one? A:", " nine."),
         ("Name a fruit:", " apple."), ("Q: is ice cold? A:", " yes."), ("Spell cat:", " c a t.")]
CORPUS = ["once upon a time there was a cat.", "the cat sat on the mat, and the dog sat on the log.",
          "ROMEO: what light through yonder window breaks?", "a b c d e f g h i j k l m n o p.",
          "it was the best of times, it was the worst of times.", "call me Ishmael.", "all happy families are alike."]
NER = ROOT / "tests/fixtures/token-classification/bert"
NER_OPTIONS = ["--task", "token-classification", "--epochs", "3", "--batch-size", "3", "--learning-rate", "1e-3", "--warmup-steps", "2",
               "--log-every", "1", "--validation-split", "0.25", "--seed", "5"]
NER_RUNS = {"ner-full": ("bert", []), "ner-lora": ("bert", ["--lora-rank", "4", "--lora-alpha", "8", "--label-all-tokens"]),
            "ner-roberta": ("roberta", [])}
LM_OPTIONS = ["--task", "text-generation", "--epochs", "2", "--batch-size", "3", "--learning-rate", "1e-2", "--warmup-steps", "1",
              "--log-every", "1", "--validation-split", "0.25", "--seed", "3"]
QA = ROOT / "tests/fixtures/question-answering/bert"
QA_OPTIONS = ["--task", "question-answering", "--epochs", "2", "--batch-size", "4", "--learning-rate", "1e-3", "--warmup-steps", "1",
              "--log-every", "1", "--validation-split", "0.4", "--seed", "11", "--max-length", "64", "--doc-stride", "8"]
QA_RUNS = {"qa-full": [], "qa-lora": ["--lora-rank", "4", "--lora-alpha", "8"]}
MLM = ROOT / "tests/fixtures/fill-mask/bert"
MLM_OPTIONS = ["--task", "fill-mask", "--epochs", "2", "--batch-size", "3", "--learning-rate", "1e-3", "--warmup-steps", "1",
               "--log-every", "1", "--validation-split", "0.25", "--seed", "9"]
MLM_RUNS = {"mlm-full": [], "mlm-whole-words": ["--whole-word-mask", "--mlm-probability", "0.3", "--grad-accum", "2"]}
GPT2 = ROOT / "tests/fixtures/gpt2"
LM_RUNS = {
    "lm-chat": ("lm-model", "chat.jsonl", ["--grad-accum", "2"]),
    "lm-gpt2-lora": ("lm-gpt2", "pairs.jsonl", ["--lora-rank", "4", "--lora-alpha", "8"]),
    # Qwen 2 with the character tokenizer: transformers 5's AutoTokenizer gives a Qwen2Tokenizer
    # whose pipeline drops this tokenizer.json's spaces; the recipe encodes with tokenizer.json as is
    "lm-qwen2-lora": ("lm-qwen2", "pairs.jsonl", ["--lora-rank", "4", "--lora-alpha", "8", "--chat-template", "false"]),
    "lm-chat-lora": ("lm-marked", "chat.jsonl", ["--lora-rank", "4", "--lora-alpha", "8"]),
    "lm-pairs": ("lm-model", "pairs.jsonl", ["--chat-template", "false"]),
    "lm-packed": ("lm-model", "corpus.txt", ["--max-length", "16"]),
}


SETFIT_OPTIONS = ["--task", "text-classification", "--method", "setfit", "--epochs", "2", "--batch-size", "8", "--learning-rate", "1e-3",
                  "--warmup-ratio", "0.1", "--weight-decay", "0.01", "--seed", "7", "--max-length", "64", "--validation-split", "0.25",
                  "--log-every", "1"]


def fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--webtune", required=True)
    ap.add_argument("--only", choices=["setfit"], help="run this run alone and update its entry of expected.json")
    args = ap.parse_args()
    if args.only == "setfit":
        expected = json.loads((OUT / "expected.json").read_text())
        expected["setfit"] = setfit_run(args.webtune, Path(tempfile.mkdtemp()))
        (OUT / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
        return
    rows = json.loads((BERT / "train-steps/expected.json").read_text())["rows"] + [{"text": t, "label": l} for t, l in EXTRA]
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    work = Path(tempfile.mkdtemp())
    model = work / "model"
    model.mkdir()
    shutil.copy(BERT / "train-steps/config.json", model / "config.json")
    shutil.copy(BERT / "tiny-cls3/model.safetensors", model / "model.safetensors")
    shutil.copy(BERT / "tokenizer.json", model / "tokenizer.json")
    expected = {name: run_recipe(args.webtune, work, model, name, extra) for name, extra in RUNS.items()}
    for name, family in FAMILY_RUNS.items():
        folder = work / f"cls-{family}"
        folder.mkdir()
        for source, target in (("train-config.json", "config.json"), ("model.safetensors", "model.safetensors"), ("tokenizer.json", "tokenizer.json")):
            shutil.copy(ROOT / "tests/fixtures/encoders" / family / source, folder / target)
        expected[name] = run_recipe(args.webtune, work, folder, name, ["--task", "text-classification", *OPTIONS, *RUNS["lora"]], model_name=folder.name)
    # the full run, stopped by its checkpoint at step 7 and continued by the recipe
    subprocess.run([args.webtune, "train", "--model", "model", "--data", str(OUT / "data.jsonl"), "--out", str(work / "run-resumed"),
                    *OPTIONS, *RESUMED, "--device", "cpu"], cwd=work, check=True, capture_output=True)
    expected["resumed"] = run_recipe(args.webtune, work, model, "resumed", [*RESUMED, "--resume", str(work / "run-resumed/checkpoints")])
    # the LoRA run, likewise: its adapters, head and their moments continued by PEFT in the Trainer
    subprocess.run([args.webtune, "train", "--model", "model", "--data", str(OUT / "data.jsonl"), "--out", str(work / "run-resumed-lora"),
                    *OPTIONS, *RUNS["lora"], *RESUMED, "--device", "cpu"], cwd=work, check=True, capture_output=True)
    expected["resumed-lora"] = run_recipe(args.webtune, work, model, "resumed-lora",
                                          [*RUNS["lora"], *RESUMED, "--resume", str(work / "run-resumed-lora/checkpoints")])
    ner_models(work)
    for name, (family, extra) in NER_RUNS.items():
        shutil.copy(OUT / "ner.txt", work / "ner.txt")
        folder = f"ner-{family}"
        expected[name] = run_recipe(args.webtune, work, work / folder, name, [*NER_OPTIONS, *extra], data="ner.txt", model_name=folder)
    shutil.copy(work / "out-ner-full/final/model.safetensors", OUT / "ner-full-trained.safetensors")
    shutil.copy(work / "out-ner-lora/final/adapter_model.safetensors", OUT / "ner-lora-trained.safetensors")
    qa_model(work)
    for name, extra in QA_RUNS.items():
        shutil.copy(OUT / "qa.jsonl", work / "qa.jsonl")
        expected[name] = run_recipe(args.webtune, work, work / "qa-model", name, [*QA_OPTIONS, *extra], data="qa.jsonl", model_name="qa-model")
    shutil.copy(work / "out-qa-full/final/model.safetensors", OUT / "qa-full-trained.safetensors")
    shutil.copy(work / "out-qa-lora/final/adapter_model.safetensors", OUT / "qa-lora-trained.safetensors")
    mlm_model(work)
    for name, extra in MLM_RUNS.items():
        shutil.copy(OUT / "mlm.txt", work / "mlm.txt")
        expected[name] = run_recipe(args.webtune, work, work / "mlm-model", name, [*MLM_OPTIONS, *extra], data="mlm.txt", model_name="mlm-model")
    shutil.copy(work / "out-mlm-full/final/model.safetensors", OUT / "mlm-full-trained.safetensors")
    language_models(work)
    for name, (folder, data, extra) in LM_RUNS.items():
        shutil.copy(OUT / data, work / data)  # named as the test names it (warnings cite rows as FILE:LINE)
        expected[name] = run_recipe(args.webtune, work, work / folder, name, [*LM_OPTIONS, *extra], data=data, model_name=folder)
    # the trained weights and adapter, which webtune's runs must end at
    shutil.copy(work / "out-lm-chat/final/model.safetensors", OUT / "lm-chat-trained.safetensors")
    shutil.copy(work / "out-lm-chat-lora/final/adapter_model.safetensors", OUT / "lm-chat-lora-trained.safetensors")
    expected["setfit"] = setfit_run(args.webtune, work)
    (OUT / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


def setfit_run(webtune, work):
    """The SetFit run's recipe on the setfit fixture's sentence-transformer, run by setfit's Trainer."""
    shutil.copytree(ROOT / "tests/fixtures/setfit/body", work / "setfit-body")
    return run_recipe(webtune, work, work / "setfit-body", "setfit", SETFIT_OPTIONS, model_name="setfit-body")


def ner_models(work):
    """The token-classification runs' data (the sentences of the tagger's fixture, as a CoNLL file)
    and model folders (its tiny BERT and RoBERTa taggers with their dropout-0 configs)."""
    # and one with I-LOC, so that the data has every tag of the checkpoint's head (which then stays)
    sentences = json.loads((NER / "expected.json").read_text())["sentences"]
    sentences.append({"words": ["He", "flew", "to", "New", "York", "."], "tags": ["O", "O", "O", "B-LOC", "I-LOC", "O"]})
    (OUT / "ner.txt").write_text("".join("".join(f"{w} {t}\n" for w, t in zip(s["words"], s["tags"])) + "\n" for s in sentences))
    for family in ("bert", "roberta"):
        model = work / f"ner-{family}"
        model.mkdir()
        shutil.copy(NER.parent / family / "train-config.json", model / "config.json")
        shutil.copy(NER.parent / family / "model.safetensors", model / "model.safetensors")
        shutil.copy(ROOT / f"tests/fixtures/encoders/{family}/tokenizer.json", model / "tokenizer.json")


def qa_model(work):
    """The question-answering runs' rows (the QA fixture's questions — long SQuAD contexts, a short
    one, an unanswerable one — as flat rows) and model folder (its tiny BertForQuestionAnswering
    with the dropout-0 config, the fill-mask fixture's tokenizer)."""
    examples = json.loads((QA / "expected.json").read_text())["examples"]
    rows = [{k: e[k] for k in ("id", "question", "context", "answers")} for e in examples]
    (OUT / "qa.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    model = work / "qa-model"
    model.mkdir()
    shutil.copy(QA / "train-config.json", model / "config.json")
    shutil.copy(QA / "model.safetensors", model / "model.safetensors")
    shutil.copy(MLM / "tokenizer.json", model / "tokenizer.json")


def mlm_model(work):
    """The fill-mask runs' texts (the language models' corpus and more, one per line) and model
    folder (the tiny BertForMaskedLM with its dropout-0 config)."""
    more = ["the dog barked at the cat", "a cold wind came from the north", "she read the letter twice", "we walked home in the rain",
            "the market opens at nine", "time flies like an arrow"]
    (OUT / "mlm.txt").write_text("".join(line + "\n" for line in CORPUS + more))
    model = work / "mlm-model"
    model.mkdir()
    shutil.copy(MLM / "train-config.json", model / "config.json")
    shutil.copy(MLM / "model.safetensors", model / "model.safetensors")
    shutil.copy(MLM / "tokenizer.json", model / "tokenizer.json")


def language_models(work):
    """The text-generation runs' data and model folders (the tiny Llama, the character tokenizer,
    a chat template)."""
    (OUT / "chat.jsonl").write_text("".join(json.dumps({"messages": [{"role": r, "content": c} for r, c in chat]}) + "\n" for chat in CHATS))
    (OUT / "pairs.jsonl").write_text("".join(json.dumps({"prompt": p, "completion": c}) + "\n" for p, c in PAIRS))
    (OUT / "corpus.txt").write_text("".join(line + "\n" for line in CORPUS))
    gpt2 = work / "lm-gpt2"
    gpt2.mkdir()
    shutil.copy(GPT2 / "train-steps/config.json", gpt2 / "config.json")
    shutil.copy(GPT2 / "tiny/model.safetensors", gpt2 / "model.safetensors")
    shutil.copy(GPT2 / "tiny/tokenizer.json", gpt2 / "tokenizer.json")
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>"}
    (OUT / "lm-gpt2.json").write_text(json.dumps(config, indent=1) + "\n")
    shutil.copy(OUT / "lm-gpt2.json", gpt2 / "tokenizer_config.json")
    for folder, template, tiny in [("lm-model", TURNS, "tiny"), ("lm-marked", MARKED, "tiny"), ("lm-qwen2", TURNS, "tiny-qwen2")]:
        model = work / folder
        model.mkdir()
        shutil.copy(LLAMA / tiny / "config.json", model / "config.json")
        shutil.copy(LLAMA / tiny / "model.safetensors", model / "model.safetensors")
        shutil.copy(LLAMA / "train-steps/tokenizer.json", model / "tokenizer.json")
        config = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "chat_template": template}
        (OUT / f"{folder}.json").write_text(json.dumps(config, indent=1) + "\n")
        shutil.copy(OUT / f"{folder}.json", model / "tokenizer_config.json")


def run_recipe(webtune, work, model, name, extra, data=OUT / "data.jsonl", model_name="model"):
    """`webtune recipe` with `extra` (after OPTIONS for the classifier runs), then its train.py
    with webtune's batch order."""
    recipe = work / f"recipe-{name}"
    options = extra if model_name != "model" else ["--task", "text-classification", *OPTIONS, *extra]
    subprocess.run([webtune, "recipe", "--model", model_name, "--data", str(data), "--out", str(recipe), *options], cwd=work, check=True)
    steps = work / f"steps-{name}.jsonl"
    run = subprocess.run([sys.executable, str(recipe / "train.py"), "--model", str(model), "--webtune-order", "--log-steps", str(steps),
                          "--output-dir", str(work / f"out-{name}")], check=True, capture_output=True, text=True)
    evaluation = json.loads([l for l in run.stdout.splitlines() if l.startswith("{")][-1])
    # accelerate's own loader reads both launch configs
    from accelerate.commands.config.config_args import load_config_from_file
    for config_name in ["accelerate_multi_gpu.yaml", "accelerate_deepspeed.yaml"]:
        config = load_config_from_file(str(recipe / config_name))
        print(config_name, config.distributed_type, config.num_processes)
    written = json.loads((recipe / "recipe.json").read_text())
    expected = {
        "webtune_options": written["webtune_options"], "validation_split": written["validation_split"],
        "recipe_files": {str(f.relative_to(recipe)): f"{fnv1a64(f.read_bytes()):016x}" for f in sorted(recipe.rglob("*")) if f.is_file()},
        "steps": [json.loads(l) for l in steps.read_text().splitlines()], "evaluation": evaluation,
    }
    print(name)
    for s in expected["steps"]:
        print(f"  step {s['step']}: loss {s['loss']:.6f} grad_norm {s['grad_norm']:.6f} lr {s['learning_rate']:.2e}")
    print("  evaluation", evaluation)
    return expected

if __name__ == "__main__":
    main()
