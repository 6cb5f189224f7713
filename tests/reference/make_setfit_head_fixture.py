"""Heads as setfit saves them (`joblib.dump(model.model_head, "model_head.pkl")`, SetFitModel's
save_pretrained): scikit-learn LogisticRegressions fitted on fixed random embeddings — three
classes with integer ids (setfit's own labels), two classes named by strings — with the
probabilities scikit-learn's predict_proba gives on other rows; and setfit's differentiable heads
(`SetFitHead`, a torch module pickled with its tensors): three classes, and two classes at
temperature 0.7 whose weight is stored transposed (a strided tensor), with the probabilities
`predict_proba` gives. tests/setfit.rs reads the pickles back (formats/pickle.rs,
formats/torch_pickle.rs) and must give the same coefficients and probabilities.

Run: $(tests/reference/setup.sh) tests/reference/make_setfit_head_fixture.py
"""
import json
from pathlib import Path

import joblib
import numpy as np
import sklearn
import torch
from setfit.modeling import SetFitHead
from sklearn.linear_model import LogisticRegression

OUT = Path(__file__).resolve().parents[1] / "fixtures/setfit/heads"


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.RandomState(7)
    width = 32  # the fixture body's hidden size (tests/fixtures/setfit/body)
    expected = {"sklearn": sklearn.__version__, "joblib": joblib.__version__, "heads": {}}
    for name, labels in {"ids3": [0, 1, 2] * 6, "strings2": ["negative", "positive"] * 6}.items():
        x = rng.normal(size=(len(labels), width)).astype(np.float32)
        y = np.array(labels)
        head = LogisticRegression().fit(x, y)
        test = rng.normal(size=(4, width)).astype(np.float32)
        joblib.dump(head, OUT / f"{name}.pkl")
        expected["heads"][name] = {
            "coef": head.coef_.tolist(), "intercept": head.intercept_.tolist(), "classes": [str(c) for c in head.classes_],
            "test": test.tolist(), "probabilities": head.predict_proba(test).tolist(),
        }
    expected["torch"] = torch.__version__
    expected["differentiable"] = {}
    for name, (classes, temperature, transposed) in {"differentiable3": (3, 1.0, False), "differentiable2": (2, 0.7, True)}.items():
        torch.manual_seed(len(expected["differentiable"]))
        head = SetFitHead(in_features=width, out_features=classes, temperature=temperature, device="cpu")
        with torch.no_grad():
            head.linear.bias.normal_()
            if transposed:  # the same values, stored column by column
                head.linear.weight = torch.nn.Parameter(head.linear.weight.detach().t().contiguous().t())
        test = rng.normal(size=(4, width)).astype(np.float32)
        joblib.dump(head, OUT / f"{name}.pkl")
        expected["differentiable"][name] = {
            "weight": head.linear.weight.tolist(), "bias": head.linear.bias.tolist(), "temperature": temperature, "eps": head.eps,
            "test": test.tolist(), "probabilities": head.predict_proba(torch.tensor(test)).tolist(),
        }
    (OUT / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()
