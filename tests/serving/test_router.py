"""The local router in front of real model servers: weights, mirrors, atomic rule changes."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import httpx
import pytest

from .conftest import ROOT, free_port

TOKEN = "router-test-token"
ROW = {"instances": [[5.1, 3.5, 1.4, 0.2]]}


def destination(server, version: int, weight: int = 0) -> dict:
    return {"base": server.url, "model_name": server.name, "version": version,
            "endpoint_id": f"ep-{version}", "weight": weight}


class Router:
    def __init__(self, tmp_path, port: int | None = None, args: tuple[str, ...] = ()):
        self.rules, self.args = tmp_path / "routes.json", args
        if not self.rules.exists():
            self.write({})
        self._start(port or free_port())
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{self.url}/-/health")
                break
            except httpx.HTTPError:
                if self.proc.poll() is not None and port is None:
                    self._start(free_port())  # the picked free port was taken before it listened
                assert time.monotonic() < deadline and self.proc.poll() is None, "router did not start"
                time.sleep(0.05)

    def _start(self, port: int) -> None:
        self.port, self.url = port, f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "merlin_jupyter.serving.router", "--rules", str(self.rules),
             "--port", str(port), *self.args], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=dict(os.environ, MERLIN_ROUTER_TOKEN=TOKEN))

    def write(self, routes: dict) -> None:
        tmp = self.rules.with_suffix(".tmp")
        tmp.write_text(json.dumps({"routes": routes}))
        os.replace(tmp, self.rules)

    def apply(self, routes: dict) -> None:
        self.write(routes)
        answer = httpx.post(f"{self.url}/-/reload", headers={"X-Merlin-Router-Token": TOKEN})
        assert answer.status_code == 200, answer.text

    def predict(self, key: str = "shop/iris", **kw) -> httpx.Response:
        return httpx.post(f"{self.url}/{key}/v1/predict", json=ROW, **kw)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture(scope="module")
def servers(model_dir, tmp_path_factory):
    from .conftest import Server

    logs = tmp_path_factory.mktemp("router-logs")
    started = [Server(str(model_dir / "iris"), f"iris-{n}", logs / f"{n}.log") for n in (1, 2)]
    try:  # both stopped even when one never got ready (a setup error skips the teardown)
        yield [server.wait_ready() for server in started]
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def router(tmp_path):
    router = Router(tmp_path)
    yield router
    router.stop()


def requests_of(server) -> float:
    text = httpx.get(f"{server.url}/metrics").text
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if line.startswith("merlin_requests_total{") and 'status="200"' in line)


def test_weights_split_traffic_and_each_answer_names_its_version(servers, router):
    v1, v2 = servers
    router.apply({"shop/iris": {"destinations": [destination(v1, 1, 80), destination(v2, 2, 20)]}})
    seen = Counter()
    with httpx.Client() as client:  # the router picks a destination per request, not per connection
        for _ in range(500):
            answer = client.post(f"{router.url}/shop/iris/v1/predict", json=ROW)
            assert answer.status_code == 200 and answer.json() == {"predictions": [0]}
            seen[answer.headers["X-Merlin-Version"]] += 1
    assert 364 <= seen["1"] <= 436 and seen["1"] + seen["2"] == 500, seen  # 80/20 within 7 points (4 sigma)


def test_a_mirror_gets_a_copy_and_a_dead_mirror_changes_nothing(servers, router):
    v1, v2 = servers
    router.apply({"shop/iris": {"destinations": [destination(v1, 1, 100)],
                                "mirror": destination(v2, 2)}})
    before = requests_of(v2)
    assert all(router.predict().headers["X-Merlin-Version"] == "1" for _ in range(20))
    deadline = time.monotonic() + 30  # copies are sent off the request path, late on a loaded machine
    while (mirrored := requests_of(v2)) < before + 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert mirrored == before + 20, (mirrored, before)

    dead = {"base": f"http://127.0.0.1:{free_port()}", "model_name": "iris-3", "version": 3,
            "endpoint_id": "ep-3", "weight": 0}
    router.apply({"shop/iris": {"destinations": [destination(v1, 1, 100)], "mirror": dead}})
    assert all(router.predict().status_code == 200 for _ in range(20))


def test_replacing_the_rule_under_load_fails_no_request(servers, router):
    v1, v2 = servers
    only = {n: {"shop/iris": {"destinations": [destination(s, n, 100)]}} for n, s in ((1, v1), (2, v2))}
    router.apply(only[1])
    failures, answered, stop = [], Counter(), threading.Event()

    def load():
        with httpx.Client() as client:
            while not stop.is_set():
                answer = client.post(f"{router.url}/shop/iris/v1/predict", json=ROW)
                if answer.status_code != 200:
                    failures.append(answer.text)
                answered[answer.headers.get("X-Merlin-Version")] += 1

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    for flip in range(20):
        router.apply(only[2 if flip % 2 == 0 else 1])
        time.sleep(0.02)
    stop.set()
    for thread in threads:
        thread.join()
    assert failures == [] and answered["1"] and answered["2"], (failures[:3], answered)


def test_unknown_models_dead_destinations_and_strangers_get_words(servers, router):
    missing = router.predict("shop/nothing")
    assert missing.status_code == 404 and "serve_traffic" in missing.json()["error"]
    dead = {"base": f"http://127.0.0.1:{free_port()}", "model_name": "iris-9", "version": 9,
            "endpoint_id": "ep-9", "weight": 100}
    router.apply({"shop/iris": {"destinations": [dead]}})
    down = router.predict()
    assert down.status_code == 502 and "Version 9 of shop/iris did not answer" in down.json()["error"]
    stranger = httpx.post(f"{router.url}/-/reload", headers={"X-Merlin-Router-Token": "guess"})
    assert stranger.status_code == 403


def test_a_restarted_router_serves_the_rules_it_had(servers, tmp_path):
    v1, _ = servers
    first = Router(tmp_path)
    first.apply({"shop/iris": {"destinations": [destination(v1, 1, 100)]}})
    first.stop()
    again = Router(tmp_path, port=first.port)  # reads the rule file; nobody tells it anything
    try:
        answer = again.predict()
        assert answer.status_code == 200 and answer.headers["X-Merlin-Version"] == "1"
    finally:
        again.stop()


class Upstream:
    """A model server stand-in that records what reaches it: the headers of each request, and how
    many times a body arrived. ``hang_up`` makes it read a request and close the connection
    without answering, as a model server whose worker dies in the middle of a prediction.
    ``answer``: "length" (Content-Length, kept alive), "chunked", or "close" (then hang up).
    ``delay``: seconds before answering, as a slow prediction."""

    def __init__(self, hang_up: bool = False, answer: str = "length", delay: float = 0):
        import http.server

        self.seen: list[dict] = []
        self.bodies: list[bytes] = []
        upstream = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                upstream.bodies.append(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                upstream.seen.append({k.lower(): v for k, v in self.headers.items()})
                time.sleep(delay)
                if hang_up:
                    self.close_connection = True
                    return
                body = json.dumps({"predictions": [0]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                if answer == "chunked":
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    half = len(body) // 2
                    for part in (body[:half], body[half:]):
                        self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")
                    return
                self.send_header("Content-Length", str(len(body)))
                if answer == "close":
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def route(self) -> dict:
        return {"shop/iris": {"destinations": [{"base": self.url, "model_name": "iris-1", "version": 1,
                                                "endpoint_id": "ep-1", "weight": 100}]}}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_the_model_server_gets_the_callers_headers_but_not_the_hop_by_hop_ones(router):
    upstream = Upstream()
    try:
        router.apply(upstream.route())
        answer = router.predict(headers={
            "X-Tenant": "acme", "Authorization": "Bearer model-key", "traceparent": "00-abc-def-01",
            "Connection": "keep-alive, X-Hop", "X-Hop": "this hop only", "Keep-Alive": "timeout=5"})
        assert answer.status_code == 200
        got = upstream.seen[-1]
        assert got["x-tenant"] == "acme" and got["authorization"] == "Bearer model-key"
        assert got["traceparent"] == "00-abc-def-01" and got["content-type"] == "application/json"
        assert "x-hop" not in got and "keep-alive" not in got, got
    finally:
        upstream.close()


def test_chunked_answers_and_answers_that_close_the_connection_are_relayed_whole(router):
    for answer_kind in ("chunked", "close"):
        upstream = Upstream(answer=answer_kind)
        try:
            router.apply(upstream.route())
            for _ in range(3):  # each next request finds a connection it can use, never a spent one
                answer = router.predict()
                assert answer.status_code == 200 and answer.json() == {"predictions": [0]}, (answer_kind, answer.text)
        finally:
            upstream.close()


def test_a_prediction_is_never_sent_twice(router):
    upstream = Upstream(hang_up=True)
    try:
        router.apply(upstream.route())
        answer = router.predict()
        assert answer.status_code == 502 and "did not answer" in answer.json()["error"]
        time.sleep(0.2)  # a second copy, if any, would arrive now
        assert len(upstream.seen) == 1, upstream.seen
    finally:
        upstream.close()


def test_a_draining_model_server_answers_on_open_connections_until_the_client_hangs_up(model_dir, tmp_path):
    """What a redeploy's handover rests on, now that the router sends each request once: the old
    revision does not close a keep-alive connection under a request that is on its way."""
    import socket

    from .conftest import Server

    server = Server(str(model_dir / "iris"), "iris-1", tmp_path / "old.log").wait_ready()
    body = json.dumps(ROW).encode()
    request = (f"POST /v1/models/iris-1:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
               f"\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
            conn.sendall(request)
            assert b" 200 " in conn.recv(65536).split(b"\r\n")[0]
            server.proc.send_signal(signal.SIGTERM)
            time.sleep(0.5)  # long past the end of the in-flight requests
            conn.sendall(request)
            answer = conn.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200 "), answer
            assert b"connection: close" in answer.lower()
        assert server.proc.wait(10) == 0
    finally:
        server.stop()
