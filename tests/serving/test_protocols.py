"""V1 and V2 over real HTTP: shapes, dtypes, errors that name the problem, and metrics."""
from __future__ import annotations

import re

import httpx
import pytest

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
RECORDS = [dict(zip(["sepal_length", "sepal_width", "petal_length", "petal_width"], r)) for r in ROWS]


def post(server, body, path=None, **kwargs):
    url = server.url + path if path else server.predict_url
    return httpx.post(url, json=body, **kwargs) if not isinstance(body, (bytes, str)) \
        else httpx.post(url, content=body, **kwargs)


def test_v1_rows_records_and_dataframe_split_agree(iris_server):
    rows = post(iris_server, {"instances": ROWS})
    assert rows.status_code == 200
    assert rows.json() == {"predictions": [0, 2]}
    assert post(iris_server, {"instances": RECORDS}).json() == rows.json()
    assert post(iris_server, {"inputs": ROWS}).json() == rows.json()
    split = {"dataframe_split": {"columns": list(RECORDS[0]), "data": ROWS}}
    assert post(iris_server, split).json() == rows.json()


def test_v1_integers_are_read_as_the_signature_doubles(iris_server):
    assert post(iris_server, {"instances": [[5, 3, 1, 0]]}).json() == {"predictions": [0]}


def test_v2_infer_with_one_tensor_of_rows(iris_server):
    body = {"id": "r1", "inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP64",
                                    "data": ROWS[0] + ROWS[1]}]}
    answer = post(iris_server, body, f"/v2/models/{iris_server.name}/infer").json()
    assert answer["id"] == "r1"
    assert answer["model_name"] == "iris-1"
    assert answer["outputs"] == [{"name": "predict", "datatype": "INT64", "shape": [2], "data": [0, 2]}]


def test_v2_infer_with_one_input_per_column(iris_server):
    inputs = [{"name": name, "shape": [2], "datatype": "FP64", "data": [r[name] for r in RECORDS]}
              for name in RECORDS[0]]
    answer = post(iris_server, {"inputs": inputs}, f"/v2/models/{iris_server.name}/infer").json()
    assert answer["outputs"][0]["data"] == [0, 2]


def test_v2_metadata_health_and_v1_status(iris_server):
    meta = httpx.get(f"{iris_server.url}/v2/models/iris-1").json()
    assert [i["name"] for i in meta["inputs"]] == list(RECORDS[0])
    assert {i["datatype"] for i in meta["inputs"]} == {"FP64"}
    assert httpx.get(f"{iris_server.url}/v2/models/iris-1/ready").status_code == 200
    assert httpx.get(f"{iris_server.url}/v2/health/live").status_code == 200
    assert httpx.get(f"{iris_server.url}/v2/health/ready").json() == {"ready": True}
    assert httpx.get(f"{iris_server.url}/v1/models/iris-1").json() == {"name": "iris-1", "ready": True}


@pytest.mark.parametrize("body, words", [
    (b'{"instances": [[5.1, 3.5', "not valid JSON"),
    ({"rows": ROWS}, "found the keys ['rows']"),
    ([1, 2], "not a JSON list"),
    ({"instances": []}, "non-empty list"),
    ({"instances": [[5.1, 3.5, 1.4]]}, "row 0 has 3 values, expected 4"),
    ({"instances": [["tall", 3.5, 1.4, 0.2]]}, "column 'sepal_length' cannot be read as float64"),
    ({"instances": [{"sepal_length": 5.1}]}, "missing columns ['sepal_width'"),
])
def test_v1_bad_input_is_a_400_naming_the_problem_and_the_signature(iris_server, body, words):
    answer = post(iris_server, body)
    assert answer.status_code == 400
    message = answer.json()["error"]
    assert words in message
    assert "4 columns [sepal_length: float64, sepal_width: float64" in message


def test_v2_bad_input(iris_server):
    path = f"/v2/models/{iris_server.name}/infer"
    wrong_shape = {"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP64", "data": [1.0]}]}
    assert "has 1 values but shape [2, 4]" in post(iris_server, wrong_shape, path).json()["error"]
    narrow = {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP64", "data": [1.0, 2.0, 3.0]}]}
    answer = post(iris_server, narrow, path)  # numbers of the wrong width: the rows' diagnosis
    assert answer.status_code == 400 and "row 0 has 3 values, expected 4" in answer.json()["error"]
    wrong_names = {"inputs": [{"name": "a", "shape": [1], "data": [1]}, {"name": "b", "shape": [1], "data": [1]}]}
    answer = post(iris_server, wrong_names, path)
    assert answer.status_code == 400 and "the inputs are named ['a', 'b']" in answer.json()["error"]


def test_unknown_model_is_404_and_oversized_body_413_and_the_server_keeps_serving(iris_server):
    other = httpx.post(f"{iris_server.url}/v1/models/nope:predict", json={"instances": ROWS})
    assert other.status_code == 404 and "serves 'iris-1'" in other.json()["error"]
    big = b'{"instances": [' + b"[5.1, 3.5, 1.4, 0.2]," * 500_000 + b"[1,2,3,4]]}"
    too_large = httpx.post(iris_server.predict_url, content=big)
    assert too_large.status_code == 413
    assert "larger than this server accepts" in too_large.json()["error"]
    assert post(iris_server, {"instances": ROWS}).json() == {"predictions": [0, 2]}


def counter(text: str, protocol: str, status: int) -> float:
    pattern = rf'^merlin_requests_total{{protocol="{protocol}",status="{status}"}} ([0-9.e+]+)$'
    match = re.search(pattern, text, re.M)
    return float(match.group(1)) if match else 0.0


def test_metrics_count_what_was_sent_across_workers(iris_server):
    before = httpx.get(f"{iris_server.url}/metrics").text
    with httpx.Client() as client:  # several connections so both workers answer some
        for _ in range(20):
            httpx.post(iris_server.predict_url, json={"instances": ROWS})
        for _ in range(3):
            client.post(iris_server.predict_url, json={"instances": [[1]]})
    after = httpx.get(f"{iris_server.url}/metrics").text
    assert counter(after, "v1", 200) - counter(before, "v1", 200) == 20
    assert counter(after, "v1", 400) - counter(before, "v1", 400) == 3
    assert "merlin_request_duration_seconds_bucket" in after
    assert "merlin_model_load_seconds" in after
    assert re.search(r"^merlin_inflight_requests 0\.0$", after, re.M)
