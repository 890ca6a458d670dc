"""The router's own Prometheus metrics: what the clients of a model endpoint's stable URL saw,
per version behind its rule (``GET /-/metrics``).

A model server's ``/metrics`` counts every request it answered, also those sent to its own URL;
the router's count only the model endpoint's traffic, including the 502s of a version that did
not answer. A guarded rollout compares the versions on these. One process: no multiprocess mode,
a registry of its own (the router must not write into a model server's samples directory).
"""
from __future__ import annotations

from .metrics import LATENCY_BUCKETS


class RouterMetrics:
    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry()
        labels = ["route", "version", "status"]
        self.requests = Counter("merlin_router_requests", "Model endpoint requests by route, version "
                                "and status", labels, registry=self.registry)
        self.latency = Histogram("merlin_router_request_duration_seconds", "Model endpoint latency by "
                                 "route, version and status", labels, buckets=LATENCY_BUCKETS,
                                 registry=self.registry)
        self._children: dict[tuple[str, int, int], tuple] = {}

    def observe(self, route: str, version: int, status: int, seconds: float) -> None:
        key = (route, version, status)
        children = self._children.get(key)
        if children is None:
            values = (route, str(version), str(status))
            children = (self.requests.labels(*values), self.latency.labels(*values))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
