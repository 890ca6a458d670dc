"""What JSON cannot carry, restored by the signature and the input description logged beside it.

Models saved with MLflow in ``tmp_path`` and loaded by the model server's loader; no process.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from merlin_jupyter.flavors import input_description
from merlin_jupyter.resources import snippets
from merlin_jupyter.serving.dataplane import DataPlane
from merlin_jupyter.serving.errors import InvalidInput
from merlin_jupyter.serving.instances import to_instances
from merlin_jupyter.serving.loader import load
from merlin_jupyter.serving.signature import METADATA_KEY


def save(tmp_path, model, example, describe: bool = True):
    import mlflow.sklearn
    from mlflow.models import infer_signature

    path = str(tmp_path / "model")
    metadata = {METADATA_KEY: input_description(example)} if describe else None
    mlflow.sklearn.save_model(model, path, input_example=example, pip_requirements=["scikit-learn"],
                              signature=infer_signature(example, model.predict(example)),
                              serialization_format="cloudpickle", metadata=metadata)
    plane = DataPlane(load(path), "m")
    plane.check_ready()
    return plane


class Echo:
    """Predicts what it was given, to see what the conversion made of a request."""

    seen: list = []

    def fit(self, X, y=None):
        return self

    def get_params(self, deep=False):
        return {}

    def predict(self, X):
        Echo.seen.append(X)
        return np.zeros(len(X))


def test_a_category_column_comes_back_as_the_same_categories(tmp_path):
    frame = pd.DataFrame({"city": pd.Categorical(["b", "a", "b"], categories=["b", "a", "z"]), "n": [1, 2, 3]})
    plane = save(tmp_path, Echo(), frame)
    # readiness predicted the example as a request sends it: converted, categories restored
    assert plane.model.input_example["city"].dtype != "category"  # MLflow's copy lost them
    assert list(Echo.seen[-1]["city"].cat.categories) == ["b", "a", "z"]
    plane.predict_instances([{"city": "a", "n": 4}, {"city": "q", "n": 5}])
    seen = Echo.seen[-1]
    assert list(seen["city"].cat.categories) == ["b", "a", "z"]
    assert seen["city"].tolist()[0] == "a" and pd.isna(seen["city"].tolist()[1])  # unknown: missing
    assert "city: category of ['b', 'a', 'z']" in plane.model.signature.describe()


def test_nulls_times_and_float32_are_read_back_as_trained(tmp_path):
    frame = pd.DataFrame({"when": pd.to_datetime(["2024-01-01T10:00:00", "2024-02-01T00:00:00"]),
                          "x": np.array([1.5, np.nan], dtype="float32"), "s": ["u", None]})
    plane = save(tmp_path, Echo(), frame)
    plane.predict_instances([["2024-03-01T12:30:00", None, None]])
    seen = Echo.seen[-1]
    assert {c: seen[c].dtype for c in ("when", "x")} == {"when": frame["when"].dtype, "x": "float32"}
    assert seen["when"].iloc[0] == pd.Timestamp("2024-03-01T12:30:00")
    assert np.isnan(seen["x"].iloc[0]) and pd.isna(seen["s"].iloc[0]) and seen["s"].iloc[0] is not None


def test_a_list_of_strings_is_given_to_the_model_as_a_list(tmp_path):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    texts = ["good", "bad", "very good", "very bad"]
    model = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(texts, [1, 0, 1, 0])
    plane = save(tmp_path, model, texts[:2], describe=False)  # what plain MLflow logs, too
    assert plane.predict_instances(["good", "bad"]) == model.predict(["good", "bad"]).tolist()
    assert plane.model.signature.describe() == "a list of string values, one per instance"
    with pytest.raises(InvalidInput, match="3 is not a string"):
        plane.predict_instances(["good", 3])


def test_instances_are_plain_json():
    frame = pd.DataFrame({"t": pd.to_datetime(["2024-01-01", None]), "x": [np.nan, 1.0],
                          "c": pd.Categorical(["a", None])})
    assert to_instances(frame) == [{"t": "2024-01-01T00:00:00", "x": None, "c": "a"},
                                   {"t": None, "x": 1.0, "c": None}]
    assert to_instances(np.array([[np.nan, 2.0]])) == [[None, 2.0]]
    assert to_instances(pd.Series([np.float32(1.5), np.nan])) == [1.5, None]
    curl, python = snippets("http://h/v1/models/m:predict", to_instances(frame))
    assert "NaN" not in curl and "NaN" not in python and "null" in curl and "'x': None" in python
    json.loads(curl.split("-d '", 1)[1].rstrip("'"))  # the curl body is valid JSON
