"""Metrics over time of version endpoints and model endpoints (per version behind a split).

Local environments answer from the scraped history (metrics_history.py); a Kubernetes
environment with ``prometheus_url`` from its Prometheus (prometheus.py). Rollouts and alerts
read the same numbers through :meth:`MetricsService.window`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..errors import Conflict
from ..store.db import Database
from ..store.models import VersionEndpointRow
from . import lookup, prometheus
from .metrics_history import MetricsHistory, Step, parse_duration
from .metrics_scraper import endpoint_key, route_key

MAX_POINTS = 2000


@dataclass
class Source:
    """Where one version's numbers come from."""

    version: int
    endpoint_id: str
    key: tuple  # history key (local)
    prometheus_url: str | None = None  # set for a Kubernetes environment
    namespace: str = ""
    name: str = ""


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class MetricsService:
    def __init__(self, db: Database, history: MetricsHistory):
        self.db, self.history = db, history

    # -- what to read ------------------------------------------------------------------------
    def version_sources(self, model_id: int, number: int, endpoint_id: str) -> list[Source]:
        with self.db.read() as session:
            row = lookup.version_endpoint(session, model_id, number, endpoint_id)
            return [self._source(session, row, endpoint_key(row.id))]

    def model_endpoint_sources(self, model_id: int, model_endpoint_id: int) -> list[Source]:
        """Each version in the rule (and, locally, any other the router counted)."""
        with self.db.read() as session:
            me = lookup.model_endpoint(session, model_id, model_endpoint_id)
            project, model = me.model.project.name, me.model.name
            sources = []
            for item in (me.rule or {}).get("destinations", []):
                row = session.get(VersionEndpointRow, item["version_endpoint_id"])
                if row is not None:
                    sources.append(self._source(session, row, route_key(project, model, row.version.number)))
        seen = {s.version for s in sources}
        for key in self.history.keys():
            if key[0] == "route" and key[1] == f"{project}/{model}" and key[2] not in seen:
                sources.append(Source(key[2], "", key))
        return sorted(sources, key=lambda s: s.version)

    def _source(self, session, row: VersionEndpointRow, key: tuple) -> Source:
        environment = lookup.environment(session, row.environment_name)
        source = Source(row.version.number, row.id, key)
        if environment.kind != "local":
            url = (environment.config or {}).get("prometheus_url")
            if not url:
                raise Conflict(
                    f"Environment {environment.name!r} names no Prometheus: set its prometheus_url "
                    "(MerlinApp.environments) to see metrics of its endpoints.", field="prometheus_url")
            handle = row.handle or {}
            source.prometheus_url = url
            source.namespace = handle.get("namespace", row.version.model.project.name)
            source.name = handle.get("name", f"{row.version.model.name}-{row.version.number}-r{row.revision}")
        return source

    # -- answers -------------------------------------------------------------------------------
    async def series(self, sources: list[Source], since_text: str | None, step_text: str | None) -> dict[str, Any]:
        since_seconds = parse_duration(since_text or "30m", "since")
        step = parse_duration(step_text, "step") if step_text else None
        now = time.time()
        since = now - since_seconds
        # More points than a chart can show are merged into wider steps rather than refused.
        if since_seconds / (step or max(self.history.interval, 0.1)) > MAX_POINTS:
            step = since_seconds / MAX_POINTS
        points: list[dict[str, Any]] = []
        remote = False
        for source in sources:
            if source.prometheus_url:
                remote = True
                found = await prometheus.query_series(source.prometheus_url, source.namespace, source.name,
                                                      since, now, step or 15.0)
            else:
                found = self.history.series(source.key, since, step)
            points += [{**p, "time": iso(p["time"]), "version": source.version} for p in found]
        points.sort(key=lambda p: (p["time"], p["version"]))
        return {
            "since": iso(since), "until": iso(now), "source": "prometheus" if remote else "local",
            "interval_seconds": step or self.history.interval,
            "versions": [{"version": s.version, "version_endpoint_id": s.endpoint_id or None} for s in sources],
            "points": points,
        }

    async def window(self, source: Source | None, since: float) -> dict[str, Any] | None:
        """One version's numbers since ``since`` as one point (None: nothing measured yet)."""
        if source is None:
            return None
        if source.prometheus_url:
            return await prometheus.query_window(source.prometheus_url, source.namespace, source.name,
                                                 since, time.time())
        total: Step | None = self.history.total(source.key, since)
        return total.point() if total is not None else None
