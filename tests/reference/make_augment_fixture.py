"""EDA's random swap and random deletion (Wei & Zou 2019) as the reference implementation draws
them, for tests/augment.rs: textaugment 3.0.0's `EDA.random_swap` / `EDA.random_deletion` (the
operations of the paper's eda.py, on whitespace-separated words) under Python's `random` seeded
with each seed, called one after another so that each call's draws follow the previous call's.

    ~/.cache/webtune/refenv/bin/python tests/reference/make_augment_fixture.py

textaugment's package __init__ imports its translation and word2vec helpers (network clients,
gensim); only eda.py is loaded, and its constructor (which downloads WordNet) is skipped: swap
and deletion use neither. Writes tests/fixtures/augment/expected.json.
"""
import importlib.util
import json
import random
from pathlib import Path

from importlib.metadata import version

ROOT = Path(__file__).resolve().parents[2]
SENTENCES = [
    "the film is a charming and often affecting journey",
    "a gorgeous , witty , seductive movie",
    "dull",
    "not good",
    "unflinchingly bleak and desperate",
    "it 's a lovely film with lovely performances by buy and accorsi",
    "the acting , costumes , music , cinematography and sound are all astounding given the production 's austere locales",
]
SEEDS = [0, 1, 7, 42, 2**40 + 3]


def load_eda():
    spec = importlib.util.find_spec("textaugment")  # located, not imported (see the docstring)
    path = Path(spec.submodule_search_locations[0]) / "eda.py"
    module_spec = importlib.util.spec_from_file_location("textaugment_eda", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    eda = module.EDA.__new__(module.EDA)  # no __init__: it downloads WordNet, which these operations do not use
    eda.stopwords = []
    return eda


def main():
    eda = load_eda()
    runs = []
    for seed in SEEDS:
        random.seed(seed)
        draws = {"random": [random.random() for _ in range(3)], "randint_0_9": [random.randint(0, 9) for _ in range(5)]}
        random.seed(seed)
        calls = []
        for sentence in SENTENCES:
            words = len(sentence.split())
            for n in sorted({max(1, int(0.1 * words)), 3}):
                calls.append({"op": "swap", "sentence": sentence, "n": n, "result": eda.random_swap(sentence, n)})
            for p in [0.1, 0.5, 1.0]:
                calls.append({"op": "delete", "sentence": sentence, "p": p, "result": eda.random_deletion(sentence, p)})
        runs.append({"seed": seed, "draws": draws, "calls": calls})
    out = ROOT / "tests/fixtures/augment"
    out.mkdir(parents=True, exist_ok=True)
    (out / "expected.json").write_text(json.dumps({"textaugment": version("textaugment"), "runs": runs}, indent=1) + "\n")
    print(f"{sum(len(r['calls']) for r in runs)} calls over {len(SEEDS)} seeds")


if __name__ == "__main__":
    main()
