"""Merlin's standard layout (what merlin-sdk's ``log_model(model_dir)`` uploads)."""
from __future__ import annotations

import sys

import httpx
import joblib
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from merlin_jupyter.serving import formats, loader
from merlin_jupyter.serving.errors import LoadFailed


def _fitted():
    X = np.random.default_rng(1).random((40, 3))
    return LogisticRegression().fit(X, (X[:, 1] > 0.5).astype(int)), X[:4]


def test_joblib_model_predicts_rows_and_frames(tmp_path):
    clf, X = _fitted()
    joblib.dump(clf, tmp_path / "model.joblib")
    served = loader.load(str(tmp_path))
    assert served.flavor == "standard"
    assert served.predict(X.tolist()).tolist() == clf.predict(X).tolist()
    # Without a signature the data plane hands rows over as a DataFrame.
    assert served.predict(served.signature.convert(X.tolist())).tolist() == clf.predict(X).tolist()


@pytest.mark.parametrize("file,package", [("model.bst", "xgboost"), ("model.onnx", "onnxruntime")])
def test_missing_library_is_named(tmp_path, monkeypatch, file, package):
    (tmp_path / file).write_bytes(b"not read")
    # None in sys.modules makes every import of it fail, as if it were not installed (xgboost is,
    # in the test extras).
    monkeypatch.setitem(sys.modules, package, None)
    with pytest.raises(LoadFailed, match=f"pip install {package}"):
        formats.load_standard_layout(str(tmp_path))


def test_unreadable_file_is_said_in_words(tmp_path):
    (tmp_path / "model.joblib").write_bytes(b"garbage")
    with pytest.raises(LoadFailed, match="could not load .*model.joblib"):
        formats.load_standard_layout(str(tmp_path))


def test_served_over_http(tmp_path, start_server):
    clf, X = _fitted()
    joblib.dump(clf, tmp_path / "model.joblib")
    server = start_server(str(tmp_path), "standard")
    answer = httpx.post(server.predict_url, json={"instances": X.tolist()}, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"predictions": clf.predict(X).tolist()}
