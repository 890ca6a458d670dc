"""Models the serving tests load, saved the way MLflow saves them (no tracking store needed)."""
from __future__ import annotations

import json
import time

from merlin_jupyter.serving.pyfunc import PyFuncModel

REQUIREMENTS = ["scikit-learn"]  # given, so MLflow does not spend seconds inferring them
COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def iris():
    import pandas as pd
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True, as_frame=True)
    X.columns = COLUMNS
    return pd.DataFrame(X), y


def save_column_model(path: str) -> None:
    """A DataFrame model: the signature names four double columns."""
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    X, y = iris()
    model = LogisticRegression(max_iter=500).fit(X, y)
    mlflow.sklearn.save_model(model, path, input_example=X[:3], pip_requirements=REQUIREMENTS,
                              signature=infer_signature(X[:3], model.predict(X[:3])))


def save_tensor_model(path: str) -> None:
    """A numpy model: the signature is a float64 tensor of shape (-1, 4)."""
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.naive_bayes import GaussianNB

    X, y = iris()
    values = X.to_numpy()
    model = GaussianNB().fit(values, y)
    mlflow.sklearn.save_model(model, path, input_example=values[:2], pip_requirements=REQUIREMENTS,
                              signature=infer_signature(values[:2], model.predict(values[:2])))


def save_unpredictable_model(path: str) -> None:
    """Loads fine, but its input example has a column the model was never fitted on."""
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    X, y = iris()
    model = LogisticRegression(max_iter=500).fit(X, y)
    example = X[:2].rename(columns={"petal_width": "wing_span"})
    mlflow.sklearn.save_model(model, path, input_example=example, pip_requirements=REQUIREMENTS,
                              signature=infer_signature(example))


class Echo(PyFuncModel):
    """A custom model with Merlin's hooks: a greeting read from an artifact, an optional delay."""

    def initialize(self, artifacts):
        with open(artifacts["config"]) as handle:
            self.greeting = json.load(handle)["greeting"]

    def infer(self, request):
        time.sleep(float(request.get("sleep", 0)))
        return {"greeting": self.greeting, "count": len(request.get("instances", []))}


def save_custom_model(path: str, tmp: str) -> None:
    import mlflow.pyfunc

    config = f"{tmp}/config.json"
    with open(config, "w") as handle:
        json.dump({"greeting": "hello"}, handle)
    mlflow.pyfunc.save_model(path, python_model=Echo(), artifacts={"config": config},
                             pip_requirements=["mlflow"])
