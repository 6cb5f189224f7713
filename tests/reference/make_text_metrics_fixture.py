"""Golden fixture for the generated-text scores, from sacreBLEU and rouge-score themselves.

    py=$(tests/reference/setup.sh)
    $py tests/reference/make_text_metrics_fixture.py

Writes tests/fixtures/text-metrics.json: hypothesis/reference pairs (punctuation, numbers with
decimal points and dashes, HTML entities, casing, accents, empty and repeated answers), for the whole
set and for subsets: sacrebleu.corpus_bleu(hyps, [refs]).score (defaults: 13a, exp smoothing) and the
mean of rouge_score.RougeScorer(["rougeL"]).score(ref, hyp)["rougeL"].fmeasure; and per-line 13a
tokenisations.
"""
import json
from pathlib import Path

import sacrebleu
from rouge_score import rouge_scorer

ROOT = Path(__file__).resolve().parents[2]

PAIRS = [
    ("The capital of France is Paris.", "Paris is the capital of France."),
    ("Standard delivery takes 2 to 4 working days.", "Standard delivery takes 2-4 working days within the EU."),
    ("It costs 4.95 EUR, or free over 50,00 EUR!", "Shipping costs 4.95 EUR; it's free on orders over 50 EUR."),
    ("You can return items within 30 days &amp; get a refund.", "You can return any unused item within 30 days for a full refund."),
    ("Ja, wir liefern nach Österreich und in die Schweiz.", "Ja, wir liefern nach Österreich, in die Schweiz und nach Liechtenstein."),
    ("", "An empty answer scores nothing."),
    ("yes yes yes yes yes", "Yes."),
    ("Call us at +49 (0)30 1234-5678 (Mon-Fri).", "Call +49 30 1234-5678, Monday to Friday."),
    ("\"Quoted\" words -- and dashes... done?", "Quoted words and dashes, done."),
    ("Refunds are issued within 5 working days.", "Refunds are issued within 5 working days."),
]


def scores(pairs):
    hyps, refs = [p[0] for p in pairs], [p[1] for p in pairs]
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    rouge = sum(scorer.score(r, h)["rougeL"].fmeasure for h, r in pairs) / len(pairs)
    return {"bleu": sacrebleu.corpus_bleu(hyps, [refs]).score, "rouge_l": rouge}


def main() -> None:
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a
    tok = Tokenizer13a()
    sets = {"all": list(range(len(PAIRS))), "first3": [0, 1, 2], "exact": [9], "no_match": [5, 6], "numbers": [1, 2, 7]}
    out = {
        "pairs": PAIRS,
        "sets": {name: {"rows": rows, **scores([PAIRS[i] for i in rows])} for name, rows in sets.items()},
        "tokenized_13a": [[tok(h), tok(r)] for h, r in PAIRS],
        "versions": {"sacrebleu": sacrebleu.__version__, "rouge_score": "0.1.2"},
    }
    (ROOT / "tests/fixtures/text-metrics.json").write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    for name, s in out["sets"].items():
        print(name, round(s["bleu"], 4), round(s["rouge_l"], 4))


if __name__ == "__main__":
    main()
