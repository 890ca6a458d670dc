"""The process around the model: failing with a reason, custom models, draining, respawning."""
from __future__ import annotations

import os
import signal
import socket
import threading
import time

import httpx
import psutil

from tests.waiting import wait_until

from .conftest import FAILED

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]


def established(pid: int, port: int) -> int:
    """Connections to ``port`` that the process ``pid`` has accepted."""
    return sum(1 for c in psutil.Process(pid).net_connections(kind="tcp")
               if c.laddr and c.laddr.port == port and c.status == psutil.CONN_ESTABLISHED)


def last_line(server) -> str:
    return server.output().strip().splitlines()[-1]


def test_a_missing_model_fails_with_the_reason_as_the_last_line(start_server, tmp_path):
    server = start_server(str(tmp_path / "nowhere"), wait=False)
    assert server.proc.wait(60) != 0
    assert last_line(server).startswith(f"{FAILED} there is no model at ")


def test_a_directory_that_is_no_model_says_what_it_looked_for(start_server, tmp_path):
    server = start_server(f"file://{tmp_path}", wait=False)
    assert server.proc.wait(60) != 0
    assert "neither an MLflow model (no MLmodel file) nor a directory with one of model.joblib" \
        in last_line(server)


def test_a_model_that_cannot_predict_its_example_fails_after_the_traceback(start_server, model_dir):
    server = start_server(str(model_dir / "unpredictable"), wait=False)
    assert server.proc.wait(90) != 0
    output = server.output()
    assert "Traceback" in output
    assert last_line(server).startswith(f"{FAILED} the model loaded but could not predict its own input example")
    assert "wing_span" in last_line(server)


def test_a_taken_port_is_refused_in_words(start_server, model_dir):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        server = start_server(str(model_dir / "iris"), "iris-1", "--port", port, wait=False)
        assert server.proc.wait(60) != 0
        assert last_line(server).startswith(f"{FAILED} cannot listen on 127.0.0.1:{port}")


def test_a_tensor_model_takes_rows_and_checks_their_shape(start_server, model_dir):
    server = start_server(str(model_dir / "tensor"), "tensor-1")
    assert httpx.post(server.predict_url, json={"instances": ROWS}).json() == {"predictions": [0, 2]}
    bad = httpx.post(server.predict_url, json={"instances": [[1.0, 2.0]]})
    assert bad.status_code == 400
    assert "shape [1, 2]" in bad.json()["error"] and "float64 with shape [-1, 4]" in bad.json()["error"]


def test_a_custom_model_initializes_from_artifacts_and_infers_the_body_as_sent(start_server, model_dir):
    server = start_server(str(model_dir / "custom"), "echo-1")
    answer = httpx.post(server.predict_url, json={"instances": [1, 2, 3]})
    assert answer.json() == {"greeting": "hello", "count": 3}


def test_sigterm_lets_an_in_flight_request_finish(start_server, model_dir):
    server = start_server(str(model_dir / "custom"), "echo-1")
    result = {}
    slow = threading.Thread(target=lambda: result.update(
        answer=httpx.post(server.predict_url, json={"sleep": 1.5, "instances": [1]}, timeout=30)))
    slow.start()
    # Until the worker holds the connection: a fixed sleep could end before the request was
    # even sent on a loaded machine, and the SIGTERM would then refuse it, not drain it.
    [worker] = server.workers()
    wait_until(lambda: established(worker, server.port), 30, "the slow request never reached the worker")
    server.proc.send_signal(signal.SIGTERM)
    slow.join()
    assert result["answer"].status_code == 200
    assert result["answer"].json()["count"] == 1
    assert server.proc.wait(30) == 0


def test_a_killed_worker_is_replaced_and_the_server_keeps_answering(start_server, model_dir):
    server = start_server(str(model_dir / "iris"), workers=2)

    def workers_but(killed: int | None = None):  # one snapshot per look
        workers = server.workers()
        return workers if len(workers) == 2 and killed not in workers else None

    first = wait_until(workers_but, 30, "two workers")
    outcomes, stop = [], threading.Event()  # (when the request was sent, its status or error)

    def load():  # a new connection per request, spread over both workers
        while not stop.is_set():
            sent = time.monotonic()
            try:
                outcomes.append((sent, httpx.post(server.predict_url, json={"instances": ROWS}).status_code))
            except httpx.HTTPError as exc:
                outcomes.append((sent, repr(exc)))

    def sent_after(moment: float) -> list:
        return [o for sent, o in list(outcomes) if sent > moment]

    clients = [threading.Thread(target=load) for _ in range(2)]
    for client in clients:
        client.start()
    try:
        wait_until(lambda: len(outcomes) >= 4, 30, "the load never got answers")
        os.kill(first[0], signal.SIGKILL)  # under load
        # one snapshot per look: two reads could see the zombie, then neither it nor its successor
        workers = wait_until(lambda: workers_but(first[0]), 30, f"no successor of {first[0]}")
        respawned = time.monotonic()
        # By when a request was sent, not where its answer landed in the list: a thread slow to
        # record the error of a request the killed worker held would otherwise look like a loss
        # after the respawn.
        wait_until(lambda: len(sent_after(respawned)) >= 12, 30, "too few answers after the respawn")
    finally:
        stop.set()
        for client in clients:
            client.join()
    lost = [o for _, o in outcomes if o != 200]
    # only requests the killed worker held at that moment (one per client) may be lost; after
    # the respawn, none
    assert len(lost) <= 4, lost
    assert all(o == 200 for o in sent_after(respawned)), (workers, sent_after(respawned))
    for _ in range(50):  # new connections each time, spread over both workers
        assert httpx.post(server.predict_url, json={"instances": ROWS}).status_code == 200
    assert "starting a new one" in server.output()


def test_the_log_keeps_every_failure_but_not_a_line_per_prediction(start_server, model_dir):
    server = start_server(str(model_dir / "iris"))
    url = f"http://127.0.0.1:{server.port}/v1/models/iris-1:predict"
    with httpx.Client() as client:
        for _ in range(200):
            assert client.post(url, json={"instances": [[5.1, 3.5, 1.4, 0.2]]}).status_code == 200
            client.get(f"http://127.0.0.1:{server.port}/v2/health/ready")
        assert client.post(url, content=b"{not json").status_code == 400
    # The line is written just after the answer is sent: wait for it, not for a fixed time.
    wait_until(lambda: "400 POST /v1/models/iris-1:predict" in server.output(), 30, "no line for the 400")
    log = server.output()
    logged = log.count("200 POST /v1/models/iris-1:predict")
    assert 1 <= logged < 20, log[-2000:]
    assert "GET /v2/health/ready" not in log


def test_a_model_with_an_openmp_pool_answers_from_forked_workers(start_server, tmp_path):
    """HistGradientBoosting predicts with OpenMP threads; the example is predicted before the
    workers fork, and OpenMP's pool does not survive fork: without care, workers hang."""
    import mlflow.sklearn
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(0)
    X = rng.random((300, 4))
    model = HistGradientBoostingClassifier(max_iter=10).fit(X, (X[:, 0] > 0.5).astype(int))
    mlflow.sklearn.save_model(model, str(tmp_path / "hgb"), input_example=X[:3],
                              serialization_format="cloudpickle")
    server = start_server(str(tmp_path / "hgb"), "hgb-1", workers=2)
    for _ in range(6):  # new connections, so both workers answer
        answer = httpx.post(server.predict_url, json={"instances": X[:4].tolist()}, timeout=10)
        assert answer.json() == {"predictions": model.predict(X[:4]).tolist()}
