"""Debian's real Prometheus on 127.0.0.1, scraping real model servers as a cluster's would.

A cluster's Prometheus finds a KServe predictor's pods and labels their samples with
``namespace`` and ``pod``; here static targets carry those labels, so the control plane's
queries (services/prometheus.py) select them exactly as they would in a cluster.
"""
from __future__ import annotations

import os
import pathlib
import shutil
import signal
import socket
import subprocess
import time
from typing import Any

import httpx
import pytest
import yaml

from tests.observe.conftest import FAILS_AFTER
from tests.serving.conftest import Server

SCRAPE = 1  # second


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def require_prometheus() -> str:
    found = shutil.which("prometheus")
    if not found:
        pytest.skip("Debian's prometheus package is not installed (make system-deps installs it)")
    return found


class Prometheus:
    def __init__(self, home: pathlib.Path, targets: list[tuple[str, dict[str, str]]]):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {"global": {"scrape_interval": f"{SCRAPE}s", "evaluation_interval": f"{SCRAPE}s"},
                  "scrape_configs": [{"job_name": "model-servers", "static_configs": [
                      {"targets": [address], "labels": labels} for address, labels in targets]}]}
        (home / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log = home / "prometheus.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [require_prometheus(), f"--config.file={home / 'prometheus.yml'}",
                 f"--storage.tsdb.path={home / 'tsdb'}", f"--web.listen-address=127.0.0.1:{self.port}",
                 "--storage.tsdb.retention.time=1h"],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 60) -> "Prometheus":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-2000:]
            try:
                if httpx.get(self.url + "/-/ready", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"prometheus not ready:\n{self.log.read_text()[-2000:]}")

    def wait_scraped(self, pod: str, timeout: float = 30) -> None:
        """Until a target's first scrape is in (its ``up`` is 1)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            answer = httpx.get(self.url + "/api/v1/query", params={"query": f'up{{pod="{pod}"}}'}).json()
            if any(r["value"][1] == "1" for r in answer["data"]["result"]):
                return
            time.sleep(0.2)
        raise AssertionError(f"prometheus never scraped {pod}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def save_model(root: pathlib.Path, name: str) -> str:
    """A pyfunc model that answers errors after FAIL_AFTER predictions (when that is set)."""
    import mlflow

    code = root / f"{name}.py"
    code.write_text(FAILS_AFTER)
    path = root / name
    mlflow.pyfunc.save_model(str(path), python_model=str(code), pip_requirements=["mlflow"])
    return str(path)


def start_server(model_uri: str, name: str, log: pathlib.Path, env: dict[str, str] | None = None) -> Server:
    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})  # Server passes this process's environment on
    try:
        return Server(model_uri, name, log)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def pod_labels(namespace: str, isvc: str) -> dict[str, Any]:
    return {"namespace": namespace, "pod": f"{isvc}-predictor-00001-deployment-7d9f8-x2k4q"}
