"""Prometheus metrics shared by all workers (prometheus_client's multiprocess mode).

``prepare(directory)`` must run before prometheus_client is first imported: it names the
directory where every worker writes its samples, so ``/metrics`` on any worker reports the sum.
"""
from __future__ import annotations

import os

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


def prepare(directory: str) -> None:
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):  # samples of an earlier server on this directory
        os.unlink(os.path.join(directory, name))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory


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
