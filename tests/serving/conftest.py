"""Real model-server processes on 127.0.0.1, and the models they serve."""
from __future__ import annotations

import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
from typing import Iterator

import httpx
import pytest

from . import models

FAILED = "merlin-serving: failed:"
ROOT = pathlib.Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``python -m merlin_jupyter.serving`` as a child process, output kept in a file."""

    def __init__(self, model_uri: str, name: str, log: pathlib.Path, *extra: str, workers: int = 1):
        self.name, self.log = name, log
        self._args = ["--model-uri", model_uri, "--model-name", name, "--workers", str(workers), *extra]
        self._launch(free_port())

    def _launch(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.predict_url = f"{self.url}/v1/models/{self.name}:predict"
        cmd = [sys.executable, "-m", "merlin_jupyter.serving", "--port", str(port), *self._args]
        with open(self.log, "wb") as out:  # run from the repository, where tests.serving.models imports
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                         env=dict(os.environ, PYTHONUNBUFFERED="1"))

    def _lost_its_port(self) -> bool:
        """The free port picked for it was taken before it listened (a client connection can
        get it as its own end); not when the test gave a port of its own."""
        return "--port" not in self._args and \
            f"{FAILED} cannot listen on 127.0.0.1:{self.port}" in self.output()

    def wait_ready(self, timeout: float = 180) -> "Server":  # a model load can take a minute on a loaded machine
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                if self._lost_its_port():
                    self._launch(free_port())
                    continue
                raise AssertionError(f"server exited {self.proc.returncode}:\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/v2/health/ready", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()  # the fixture that asked never gets it to stop: it would outlive the tests
        raise AssertionError(f"server not ready after {timeout}s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def workers(self) -> list[int]:
        import psutil

        return [child.pid for child in psutil.Process(self.proc.pid).children()]

    def wait_for_workers(self, count: int, timeout: float = 30) -> list[int]:
        """The worker pids once ``count`` run (ready means one worker answered, not all)."""
        deadline = time.monotonic() + timeout
        workers = self.workers()
        while len(workers) < count and time.monotonic() < deadline:
            time.sleep(0.05)
            workers = self.workers()
        return workers

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> pathlib.Path:
    root = tmp_path_factory.mktemp("models")
    models.save_column_model(str(root / "iris"))
    models.save_tensor_model(str(root / "tensor"))
    models.save_unpredictable_model(str(root / "unpredictable"))
    models.save_custom_model(str(root / "custom"), str(root))
    return root


@pytest.fixture
def start_server(tmp_path) -> Iterator:
    started: list[Server] = []

    def start(model_uri: str, name: str = "iris-1", *extra: str, workers: int = 1, wait: bool = True):
        server = Server(model_uri, name, tmp_path / f"server-{len(started)}.log", *extra, workers=workers)
        started.append(server)
        return server.wait_ready() if wait else server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def iris_server(model_dir, tmp_path_factory) -> Iterator[Server]:
    server = Server(str(model_dir / "iris"), "iris-1", tmp_path_factory.mktemp("log") / "iris.log",
                    workers=2).wait_ready()
    yield server
    server.stop()
