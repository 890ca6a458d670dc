"""Prometheus metrics shared by all workers (prometheus_client's multiprocess mode).

``prepare(directory)`` must run before prometheus_client is first imported: it names the
directory where every worker writes its samples, so ``/metrics`` on any worker reports the sum.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile

PREFIX = "merlin-metrics-"
# merlin-metrics-<port>-<pid of the model server>-<random>; older servers left <port>-<random>.
_NAMED = re.compile(rf"^{PREFIX}(\d+)-(\d+)-[^-]+$")
_OLD = re.compile(rf"^{PREFIX}(\d+)-[^-]+$")
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


def prepare(directory: str) -> None:
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):  # samples of an earlier server on this directory
        os.unlink(os.path.join(directory, name))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory


def make_directory(port: int, owner: int | None = None) -> str:
    """A fresh samples directory named for the port and the process that owns it (its leader),
    so whoever finds it later can tell whether that process still runs."""
    return tempfile.mkdtemp(prefix=f"{PREFIX}{port}-{owner or os.getpid()}-")


def remove_directory(directory: str | None) -> None:
    if directory and os.path.basename(directory).startswith(PREFIX):
        shutil.rmtree(directory, ignore_errors=True)


def sweep(owner: int | None = None, root: str | None = None) -> list[str]:
    """Remove the samples directories of model servers that no longer run (or of ``owner``).

    Nothing else removes them when a server is killed: they piled up in the temp directory."""
    root = root or tempfile.gettempdir()
    removed = []
    try:
        names = os.listdir(root)
    except OSError:
        return removed
    for name in names:
        if not name.startswith(PREFIX):
            continue
        path = os.path.join(root, name)
        named, old = _NAMED.match(name), _OLD.match(name)
        if named:
            pid = int(named.group(2))
            if (owner is not None and pid != owner) or (owner is None and _running(pid)):
                continue
        elif old and owner is None:
            if not _port_free(int(old.group(1))):
                continue  # a server of an older release may still serve on that port
        else:
            continue
        try:
            if os.stat(path).st_uid != os.getuid():
                continue
        except OSError:
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return handle.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def _port_free(port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Metrics:
    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.requests = Counter("merlin_requests", "Prediction requests by protocol and status",
                                ["protocol", "status"])
        self.latency = Histogram("merlin_request_duration_seconds",
                                 "Prediction latency by protocol and status",
                                 ["protocol", "status"], buckets=LATENCY_BUCKETS)
        self.inflight = Gauge("merlin_inflight_requests", "Prediction requests being served",
                              multiprocess_mode="livesum")
        self.load_seconds = Gauge("merlin_model_load_seconds", "Time to load the model",
                                  multiprocess_mode="max")
        self._children: dict[tuple[str, int], tuple] = {}

    def observe(self, protocol: str, status: int, seconds: float) -> None:
        key = (protocol, status)
        children = self._children.get(key)
        if children is None:
            labels = (protocol, str(status))
            children = (self.requests.labels(*labels), self.latency.labels(*labels))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    @staticmethod
    def render() -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST

    @staticmethod
    def worker_died(pid: int) -> None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
