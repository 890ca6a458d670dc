"""Every model a data scientist commonly trains logs, deploys and predicts as it does in the notebook.

Each case (``cells.py``) is trained by running its cell in a real IPython shell, logged twice —
``%merlin log model --sample X[:5]`` and ``merlin.log_model(model, input_example=X[:5])`` —
deployed to ``local`` with the pre-deploy check, and asked over V1 (rows and records), V2 and
``%merlin predict`` for the rows ``R``; every answer must equal ``model.predict(R)``. The
request bodies are written here by hand, as a client in another language would write them
(``null`` for a missing value, ISO strings for times), not by the product's own encoder.

``pytest tests/zoo -p no:cacheprovider -q`` prints the results as a table at the end.
"""
from __future__ import annotations

import math
import time
from typing import Any

import httpx
import pytest
from IPython.core.error import UsageError

import merlin_jupyter as merlin

from .cells import CASES
from .conftest import RESULTS, run_cell

pytestmark = pytest.mark.zoo


def plain(value: Any) -> Any:
    """A value as JSON carries it: NaN as None, times as ISO strings, numpy as Python."""
    import numpy as np
    import pandas as pd

    if isinstance(value, pd.DataFrame):
        return [{k: plain(v) for k, v in row.items()} for row in value.to_dict(orient="records")]
    if isinstance(value, (np.ndarray, pd.Series, pd.Index, list, tuple)):
        return [plain(v) for v in list(value)]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, (pd.Timestamp,)):
        return value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def own_predictions(model: Any, rows: Any) -> Any:
    """What the model itself answers, shaped as the model server answers it."""
    import mlflow
    import pandas as pd

    if isinstance(model, mlflow.pyfunc.PythonModel):
        result = model.predict(None, rows)
    else:
        result = model.predict(rows)
    if isinstance(result, pd.DataFrame) and len(result.columns) == 1:
        result = result.iloc[:, 0]
    return plain(result)


def rows_of(data: Any) -> list:
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return [[plain(v) for v in row] for row in data.astype(object).itertuples(index=False)]
    return plain(data)


def records_of(data: Any) -> list[dict]:
    return [dict(zip(data.columns, row)) for row in rows_of(data)]


def v2_body(data: Any) -> dict:
    import numpy as np
    import pandas as pd

    def datatype(dtype: Any) -> str:
        return {"float64": "FP64", "float32": "FP32", "int64": "INT64"}.get(str(dtype), "BYTES")

    if isinstance(data, pd.DataFrame):
        inputs = [{"name": str(c), "shape": [len(data)], "datatype": datatype(data[c].dtype),
                   "data": rows_of(data[[c]].astype(object).rename(columns=str))} for c in data.columns]
        for item in inputs:
            item["data"] = [v[0] for v in item["data"]]
        return {"inputs": inputs, "id": "zoo"}
    if isinstance(data, np.ndarray):
        return {"inputs": [{"name": "input-0", "shape": list(data.shape), "datatype": datatype(data.dtype),
                            "data": plain(data.ravel())}]}
    return {"inputs": [{"name": "input-0", "shape": [len(data)], "datatype": "BYTES", "data": list(data)}]}


def v2_predictions(answer: dict) -> Any:
    outputs = answer["outputs"]
    if len(outputs) == 1:
        data, shape = outputs[0]["data"], outputs[0]["shape"]
        if len(shape) == 2:
            return [data[i * shape[1]:(i + 1) * shape[1]] for i in range(shape[0])]
        return data
    names = [o["name"] for o in outputs]
    return [dict(zip(names, values)) for values in zip(*(o["data"] for o in outputs))]


def same(got: Any, want: Any) -> bool:
    if isinstance(want, float) or isinstance(got, float):
        return (isinstance(got, (int, float)) and isinstance(want, (int, float))
                and math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12))
    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and all(map(same, got, want))
    if isinstance(want, dict):
        return isinstance(got, dict) and got.keys() == want.keys() and all(same(got[k], want[k]) for k in want)
    return got == want


def post(url: str, body: dict) -> tuple[int, Any]:
    response = httpx.post(url, json=body, timeout=30)
    return response.status_code, response.json()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_model_trained_in_the_notebook_deploys_and_predicts_as_itself(case, ip, zoo):
    row: dict[str, Any] = {"model": case.name, "log": "failed"}
    RESULTS.append(row)
    run_cell(ip, case.cell)
    model, X, R = (ip.user_ns[name] for name in ("model", "X", "R"))
    expected = own_predictions(model, R)
    zoo(f"model {case.name} --type {case.type}")
    try:
        with merlin.new_model_version() as by_sdk:
            merlin.log_model(model, input_example=X[:5])
        version = zoo("log model --sample X[:5]")
    except Exception as exc:
        row["log"] = f"failed: {str(exc)[:60]}"
        raise
    row["log"] = "ok"
    assert [v.id for v in merlin.list_versions()] == [version.id, by_sdk.id]
    assert merlin.check_version(by_sdk).ok  # the SDK's version loads in a fresh process too

    started = time.monotonic()
    endpoint = zoo(f"deploy {version.id}")
    row["deploy s"] = f"{time.monotonic() - started:.1f}"
    assert endpoint.status == "running", endpoint.message
    name = endpoint.url.rsplit("/", 1)[-1].split(":")[0]
    v2_url = endpoint.url.split("/v1/", 1)[0] + f"/v2/models/{name}/infer"
    answers: dict[str, Any] = {}
    try:
        status, body = post(endpoint.url, {"instances": rows_of(R)})
        answers["V1 rows"] = body.get("predictions") if status == 200 else f"{status} {body}"
        if hasattr(R, "columns"):  # records need column names
            status, body = post(endpoint.url, {"instances": records_of(R)})
            answers["V1 records"] = body.get("predictions") if status == 200 else f"{status} {body}"
        status, body = post(v2_url, v2_body(R))
        answers["V2"] = v2_predictions(body) if status == 200 else f"{status} {body}"
        try:
            answers["%predict"] = zoo(f"predict R --version {version.id}")
        except Exception as exc:  # noqa: BLE001 - shown in the table, asserted below
            answers["%predict"] = f"{type(exc).__name__}: {exc}"
    finally:
        zoo(f"undeploy {version.id}")
    for key in ("V1 rows", "V1 records", "V2", "%predict"):
        if key in answers:
            row[key] = "ok" if same(answers[key], expected) else "differs"
        else:
            row[key] = "n/a"
    row["equal"] = "yes" if all(same(a, expected) for a in answers.values()) else "no"
    assert {k: a for k, a in answers.items() if not same(a, expected)} == {}, f"expected {expected}"


def test_a_model_that_would_not_serve_is_refused_in_words_before_a_version_exists(ip, zoo):
    run_cell(ip, '''
import threading
class Cached:
    """A hand-written estimator that holds a lock: nothing can save it."""
    def __init__(self):
        self.lock = threading.Lock()
    def fit(self, X, y=None):
        return self
    def get_params(self, deep=False):
        return {}
    def predict(self, X):
        return np.zeros(len(X))
cached = Cached()
''')
    zoo("model refused --type sklearn")
    with pytest.raises(UsageError, match=r"The Cached was not logged: MLflow could not save it \(.*cannot pickle "
                                         r"'_thread.lock' object\)\. Keep open files, locks and connections out"):
        zoo("log cached --sample X_num[:5]")
    with pytest.raises(merlin.MerlinError, match="The Cached was not logged"):
        merlin.log_version(ip.user_ns["cached"], ip.user_ns["X_num"][:5])
    assert list(merlin.list_versions()) == []  # nothing was left behind for a deploy to pick
