"""Workers follow the load between --min-workers and --max-workers, and scale to zero when idle."""
from __future__ import annotations

import json
import os
import tempfile
import threading

import httpx
import psutil

from merlin_jupyter.serving import metrics
from merlin_jupyter.serving.autoscale import TICK, Policy, Scaler
from tests.waiting import wait_until

from .conftest import FAILED, Server

IRIS = {"instances": [[5.1, 3.5, 1.4, 0.2]]}


def state(path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def live_workers(server: Server) -> int:
    return sum(1 for child in psutil.Process(server.proc.pid).children()
               if child.status() != psutil.STATUS_ZOMBIE)


def test_workers_grow_under_load_and_shrink_after_it(model_dir, tmp_path):
    path = tmp_path / "scale.json"
    server = Server(str(model_dir / "iris"), "iris-1", tmp_path / "log", "--min-workers", "1",
                    "--max-workers", "2", "--scale-metric", "rps", "--scale-target", "5",
                    "--scale-window", "3", "--state-file", str(path), workers=0)
    server.wait_ready()
    try:
        assert state(path)["workers"] == 1 and live_workers(server) == 1
        stop = threading.Event()

        def load() -> None:
            with httpx.Client() as client:
                while not stop.is_set():
                    client.post(server.predict_url, json=IRIS)

        threads = [threading.Thread(target=load) for _ in range(3)]
        for thread in threads:
            thread.start()
        try:
            wait_until(lambda: state(path).get("workers") == 2, 30, "a second worker under load")
            assert live_workers(server) == 2
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        wait_until(lambda: state(path).get("workers") == 1 and live_workers(server) == 1, 30,
                   "back to one worker after the load")
        assert httpx.post(server.predict_url, json=IRIS).json() == {"predictions": [0]}
    finally:
        assert server.stop() == 0


def test_an_idle_endpoint_scales_to_zero_and_answers_its_next_request(model_dir, tmp_path):
    path = tmp_path / "scale.json"
    server = Server(str(model_dir / "iris"), "iris-1", tmp_path / "log", "--min-workers", "0",
                    "--max-workers", "1", "--idle-seconds", "1", "--state-file", str(path), workers=0)
    server.wait_ready()
    try:
        assert httpx.post(server.predict_url, json=IRIS).json() == {"predictions": [0]}
        wait_until(lambda: state(path).get("scaled_to_zero") and live_workers(server) == 0, 30,
                   "scaled to zero after 1 s without a request")
        assert state(path)["last_wake"] is None
        # Nothing of the model is left running; the supervisor holds the port, so the request
        # waits for a worker instead of being refused.
        answer = httpx.post(server.predict_url, json=IRIS, timeout=30)
        assert answer.status_code == 200 and answer.json() == {"predictions": [0]}
        woke = state(path)
        assert woke["wakes"] == 1 and woke["last_wake"] and not woke["scaled_to_zero"]
    finally:
        assert server.stop() == 0
    # Its metrics samples directory went with it.
    assert not [n for n in os.listdir(tempfile.gettempdir())
                if n.startswith(f"{metrics.PREFIX}{server.port}-")]


def test_a_scale_to_zero_model_that_cannot_load_fails_in_words(tmp_path):
    server = Server(str(tmp_path / "missing"), "x-1", tmp_path / "log", "--min-workers", "0", workers=0)
    assert server.proc.wait(60) != 0
    assert server.output().strip().splitlines()[-1].startswith(f"{FAILED} there is no model at")


def test_samples_of_servers_that_are_gone_are_swept(tmp_path):
    dead = tmp_path / f"{metrics.PREFIX}8080-{2 ** 22 + 12345}-abc"
    mine = tmp_path / f"{metrics.PREFIX}8081-{os.getpid()}-def"
    for directory in (dead, mine):
        directory.mkdir()
        (directory / "counter_1.db").write_bytes(b"x")
    assert metrics.sweep(root=str(tmp_path)) == [str(dead)]
    assert mine.exists()
    assert metrics.sweep(owner=os.getpid(), root=str(tmp_path)) == [str(mine)]


def simulate(policy, inflight_per_tick, serving=1):
    """Drive the autoscaler's decisions with a made-up clock (no processes, no sleeping): the
    worker count after each tick, for the given requests in flight at each tick."""
    scaler, now, counts = Scaler(policy, 0.0), 0.0, []
    for inflight in inflight_per_tick:
        now += TICK
        count = scaler.step(now, inflight, 0, 0.0, serving)
        serving = serving if count is None else count
        counts.append(serving)
    return counts


def test_a_load_around_the_target_keeps_its_workers_instead_of_flapping():
    # Client-limited load: on average under one request in flight (the stable window wants one
    # worker), with moments of two (a panic window wants two).
    policy = Policy(low=1, high=2, metric="concurrency", target=1.0, window=6.0)
    load = [1, 0, 2, 1, 1, 0, 1, 1] * 30  # 120 s of ticks
    counts = simulate(policy, load + [0] * 60)  # then 30 s without requests
    during = counts[:len(load)]
    first_two = during.index(2)
    assert min(during[first_two:]) == 2, f"workers went back down under a steady load: {during}"
    assert counts[-1] == 1, "no return to one worker after the load ended"


def test_a_load_that_ends_is_scaled_down_after_the_window():
    policy = Policy(low=1, high=3, metric="concurrency", target=1.0, window=6.0)
    counts = simulate(policy, [3] * 20 + [0] * 60)
    assert max(counts) == 3 and counts[-1] == 1
    # Not at once: the stable window (12 ticks) passes without a request first.
    assert counts[20 + 12 - 1] == 3


def test_a_request_waiting_for_a_loading_worker_keeps_the_endpoint_awake():
    # Woken from zero, the worker takes longer than the idle time to load the model; the
    # request that woke it waits in the socket's queue and must be answered, not scaled away.
    policy = Policy(low=0, high=1, metric="concurrency", target=1.0, window=6.0, idle=1.0)
    scaler, now = Scaler(policy, 0.0), 0.0
    for _ in range(20):  # 10 s of loading
        now += TICK
        assert scaler.step(now, 0, 0, 0.0, 1, waiting=True) is None
    now += TICK
    assert scaler.step(now, 0, 0, 0.0, 1) is None  # taken: the idle time starts now
    for _ in range(2):
        now += TICK
        count = scaler.step(now, 0, 0, 0.0, 1)
    assert count == 0
