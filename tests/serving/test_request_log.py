"""Request/response logging in real model servers: what each mode writes, sampling, retention.

The files are read back the way the control plane reads them (DuckDB over ``readable_files``).
"""
from __future__ import annotations

import json
import os
import time

import httpx
import pytest

from merlin_jupyter.serving import request_log
from merlin_jupyter_server.services.request_logs import _io_errors, _run

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]


def logged(directory, condition: str = "", params=(), wait_for: int | None = None, timeout: float = 15):
    """The logged requests, newest first (waiting up to ``timeout`` for ``wait_for`` of them)."""
    deadline = time.monotonic() + timeout
    while True:
        files = request_log.readable_files(str(directory))
        try:
            rows = _run(files, condition, list(params), 10_000) if files else []
        except _io_errors():  # a writer merged the files listed meanwhile: list them again
            rows = []
        if wait_for is None or len(rows) >= wait_for or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def log_args(directory, mode: str, sample: float = 1.0, version: int = 3) -> list[str]:
    return ["--log-requests", mode, "--log-sample", str(sample), "--log-dir", str(directory),
            "--log-version", str(version)]


@pytest.fixture(scope="module")
def servers(model_dir, tmp_path_factory):
    """One server per mode and a sampling one, started together (their start-ups overlap)."""
    from .conftest import Server

    root = tmp_path_factory.mktemp("request-log")
    # Their metrics directories in a temporary directory of their own, which no other process
    # on this machine cleans up under them.
    (root / "tmp").mkdir()
    saved, os.environ["TMPDIR"] = os.environ.get("TMPDIR"), str(root / "tmp")
    started = {}
    # Three processes, not four: sampling is checked on the request-mode server.
    for name, mode, sample in (("all", "all", 1.0), ("request", "request", 0.25),
                               ("response", "response", 1.0)):
        started[name] = Server(str(model_dir / "iris"), "iris-3", root / f"{name}.log",
                               *log_args(root / name, mode, sample), workers=2 if name == "all" else 1)
        started[name].directory = root / name
    if saved is None:
        del os.environ["TMPDIR"]
    else:
        os.environ["TMPDIR"] = saved
    for server in started.values():
        server.wait_ready(240)
    yield started
    for server in started.values():
        server.stop()


def send(server, body, **headers) -> httpx.Response:
    return httpx.post(server.predict_url, json=body, headers=headers, timeout=10)


@pytest.mark.parametrize("mode", ["all", "request", "response"])
def test_each_logged_prediction_is_one_row_with_what_its_mode_keeps(servers, mode):
    server = servers[mode]
    sent = 40 if mode == "request" else 4  # the request-mode server logs a sample of 25 %
    answers = [send(server, {"instances": ROWS}) for _ in range(sent)]
    bad = [send(server, {"instances": [[1, 2]]}, **{"X-Request-Id": f"bad-{mode}-{i}"}) for i in range(sent // 4)]
    assert {a.status_code for a in answers} == {200} and {b.status_code for b in bad} == {400}
    httpx.get(f"{server.url}/v2/health/ready")  # health checks and status reads are not logged
    named = {a.headers["X-Request-Id"] for a in answers + bad if "X-Request-Id" in a.headers}
    rows = logged(server.directory, " AND list_contains(?, id)", [sorted(named)], wait_for=len(named))
    assert {r["id"] for r in rows} == named
    if mode == "request":  # what the sample left out
        rows = [r for r in rows if r["id"] in named]
        answers = [a for a in answers if "X-Request-Id" in a.headers] or pytest.skip("none sampled")
        bad = [b for b in bad if "X-Request-Id" in b.headers] or pytest.skip("no failure sampled")
    else:
        assert len(rows) == sent + sent // 4
    by_id = {r["id"]: r for r in rows}
    failed = by_id[bad[0].headers["X-Request-Id"]]
    by_id = {r["id"]: r for r in rows}
    assert failed["status"] == 400 and failed["protocol"] == "v1" and failed["version"] == 3
    assert failed["route"] == "direct" and failed["latency_ms"] > 0
    ok = by_id[answers[0].headers["X-Request-Id"]]
    assert ok["status"] == 200
    if mode in ("all", "request"):
        assert json.loads(ok["request"]) == {"instances": ROWS}
    else:
        assert ok["request"] is None
    if mode in ("all", "response"):
        assert json.loads(ok["response"]) == answers[0].json()
        assert "expects" in json.loads(failed["response"])["error"]
    else:
        assert ok["response"] is None


def test_v2_requests_and_requests_through_a_router_are_told_apart(servers):
    server = servers["all"]
    body = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": ROWS[0]}]}
    v2 = httpx.post(f"{server.url}/v2/models/iris-3/infer", json=body)
    routed = send(server, {"instances": ROWS}, **{"X-Merlin-Via": "model_endpoint"})
    # Two workers, a file each: wait for both rows by id, not for a count older rows satisfy.
    ids = [v2.headers["X-Request-Id"], routed.headers["X-Request-Id"]]
    rows = {r["id"]: r for r in logged(server.directory, " AND list_contains(?, id)", [ids], wait_for=2, timeout=30)}
    assert rows[v2.headers["X-Request-Id"]]["protocol"] == "v2"
    assert rows[routed.headers["X-Request-Id"]]["route"] == "model_endpoint"


def test_sampling_logs_that_share_and_names_only_the_logged_requests(servers):
    server = servers["request"]
    with httpx.Client(timeout=10) as client:
        answers = [client.post(server.predict_url, json={"instances": ROWS}) for _ in range(200)]
    named = {a.headers["X-Request-Id"] for a in answers if "X-Request-Id" in a.headers}
    rows = logged(server.directory, " AND list_contains(?, id)", [sorted(named)], wait_for=len(named))
    assert {r["id"] for r in rows} == named
    assert 15 <= len(rows) <= 90  # 25 % of 200: 50 expected, far outside these by chance only


def test_a_server_asked_for_a_bad_sample_rate_says_so(model_dir, start_server, tmp_path):
    server = start_server(str(model_dir / "iris"), "iris-3", *log_args(tmp_path / "x", "all", 1.5), wait=False)
    server.proc.wait(60)
    assert server.proc.returncode != 0
    assert "--log-sample is 1.5: give a share above 0 and at most 1" in server.output()


# -- the writer in this process: bounded queue, merges, retention --------------------------
def record(i: int, status: int = 200) -> tuple:
    return (f"r{i}", time.time(), 0.001, status, "v1", None, b'{"instances": [[1]]}', b'{"predictions": [0]}')


def test_a_full_queue_drops_and_counts_instead_of_waiting(tmp_path, monkeypatch):
    monkeypatch.setattr(request_log, "MAX_QUEUED", 10)
    writer = request_log.Writer(request_log.Config("all", 1.0, str(tmp_path)))
    started = time.perf_counter()
    for i in range(1000):
        writer.add(record(i))
    assert time.perf_counter() - started < 1.0
    assert writer.dropped == 990
    path = writer.flush()
    assert len(logged(tmp_path)) == 10
    assert os.stat(path).st_mode & 0o777 == 0o600  # bodies are users' data: owner only


def test_merged_flushes_are_read_once(tmp_path, monkeypatch):
    monkeypatch.setattr(request_log, "MERGE_AFTER", 3)
    writer = request_log.Writer(request_log.Config("all", 1.0, str(tmp_path)))
    for i in range(7):
        writer.add(record(i))
        writer.flush()
    names = sorted(os.listdir(tmp_path))
    assert sum(n.startswith("s-") for n in names) == 2 and sum(n.startswith("b-") for n in names) == 1
    assert sorted(r["id"] for r in logged(tmp_path)) == [f"r{i}" for i in range(7)]


def test_retention_removes_old_files_then_the_oldest_past_the_size_cap(tmp_path):
    writer = request_log.Writer(request_log.Config("all", 1.0, str(tmp_path)))
    paths = []
    for i in range(4):
        writer.add(record(i))
        paths.append(writer.flush())
    now = time.time()
    for age, path in zip((90_000, 30, 20, 10), paths):
        os.utime(path, (now - age, now - age))
    assert request_log.prune(str(tmp_path), 86_400, 10**9, now) == 1
    size = os.path.getsize(paths[3])
    assert request_log.prune(str(tmp_path), 86_400, size * 2, now) == 1
    assert sorted(os.listdir(tmp_path)) == sorted(os.path.basename(p) for p in paths[2:])
