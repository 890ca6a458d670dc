"""Alerts on a model endpoint, Merlin's kinds: throughput (fires below the threshold), latency
percentile, error rate, CPU and memory (fire above it), each held for a duration before it fires.

Evaluated by the control plane's observer loop on the same metrics as the charts; firing and
resolving are events (``alert_firing``, ``alert_resolved``) that the panel turns into JupyterLab
notifications and ``%merlin status`` lists.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select

from ..errors import Conflict, InvalidInput, NotFound
from ..observe_entities import Alert
from ..store.db import Database
from ..store.models import AlertRow, ModelEndpointRow, utcnow
from . import events, lookup
from .metrics import MetricsService, Source
from .metrics_history import parse_duration
from .metrics_scraper import endpoint_key

log = logging.getLogger("merlin_jupyter_server.alerts")
METRICS = {  # metric -> (unit, fires when the value is below the threshold)
    "throughput": ("requests/s", True), "latency": ("ms", False), "error_rate": ("", False),
    "cpu": ("cores", False), "memory": ("MiB", False),
}
SEVERITIES = ("WARNING", "CRITICAL")
PERCENTILES = (50.0, 95.0, 99.0)
MAX_ALERTS = 20  # per model endpoint


class AlertService:
    def __init__(self, db: Database, metrics: MetricsService):
        self.db, self.metrics = db, metrics

    def list(self, model_id: int, model_endpoint_id: int | None = None) -> list[Alert]:
        with self.db.read() as session:
            lookup.model(session, model_id)
            query = select(AlertRow).where(AlertRow.model_id == model_id).order_by(AlertRow.id)
            if model_endpoint_id is not None:
                lookup.model_endpoint(session, model_id, model_endpoint_id)
                query = query.where(AlertRow.model_endpoint_id == model_endpoint_id)
            return [row.to_entity() for row in session.scalars(query)]

    def create(self, model_id: int, model_endpoint_id: int, body: dict[str, Any], actor: str) -> Alert:
        allowed = {"metric", "threshold", "duration", "percentile", "severity"}
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise InvalidInput(f"An alert has no field {unknown[0]!r}: give {', '.join(sorted(allowed))}.",
                               field=unknown[0])
        metric = body.get("metric")
        if not isinstance(metric, str) or metric not in METRICS:
            raise InvalidInput(f"metric must be one of {', '.join(METRICS)}, not {str(metric)[:40]!r}.", field="metric")
        threshold = body.get("threshold")
        if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or threshold < 0 or \
                (metric == "error_rate" and threshold > 1):
            raise InvalidInput(f"threshold must be a number of at least 0{' and at most 1 (0.05 is 5 %)' if metric == 'error_rate' else ''}.",
                               field="threshold")
        percentile = body.get("percentile")
        if metric == "latency":
            percentile = 99.0 if percentile is None else percentile
            if isinstance(percentile, bool) or not isinstance(percentile, (int, float)) or percentile not in PERCENTILES:
                raise InvalidInput("percentile must be 50, 95 or 99.", field="percentile")
        elif percentile is not None:
            raise InvalidInput("Only a latency alert takes a percentile.", field="percentile")
        severity = body.get("severity", "WARNING")
        if not isinstance(severity, str) or severity not in SEVERITIES:
            raise InvalidInput("severity must be WARNING or CRITICAL.", field="severity")
        duration = parse_duration(body.get("duration", "1m"), "duration")
        with self.db.session() as session:
            me = lookup.model_endpoint(session, model_id, model_endpoint_id)
            count = len(list(session.scalars(select(AlertRow.id).where(AlertRow.model_endpoint_id == me.id))))
            if count >= MAX_ALERTS:
                raise Conflict(f"This model endpoint has {count} alerts already, the most it may have: "
                                   "delete one first.")
            row = AlertRow(model_id=model_id, model_endpoint_id=me.id, metric=metric,
                           percentile=float(percentile) if percentile is not None else None,
                           threshold=float(threshold), duration_seconds=duration, severity=severity,
                           state="ok", actor=actor)
            session.add(row)
            session.flush()
            events.record(session, actor, "alert_created", "model_endpoint", me.id,
                          f"alert {row.id}: {describe(row)}", me.model.project_id, model_id)
            return row.to_entity()

    def delete(self, model_id: int, model_endpoint_id: int, alert_id: int, actor: str) -> None:
        with self.db.session() as session:
            me = lookup.model_endpoint(session, model_id, model_endpoint_id)
            row = session.get(AlertRow, alert_id)
            if row is None or row.model_endpoint_id != me.id:
                raise NotFound(f"Model endpoint {model_endpoint_id} has no alert {alert_id}.")
            events.record(session, actor, "alert_deleted", "model_endpoint", me.id,
                          f"alert {row.id} deleted: {describe(row)}", me.model.project_id, model_id)
            session.delete(row)

    # -- evaluation -----------------------------------------------------------------------------
    async def tick(self) -> None:
        alerts = await asyncio.to_thread(self._all)
        now = datetime.now(timezone.utc).timestamp()
        for alert in alerts:
            try:
                value = await self._value(alert, now)
                await asyncio.to_thread(self._judge, alert.id, value)
            except Exception:  # noqa: BLE001 - one alert's trouble must not stop the others
                log.exception("evaluating alert %s failed; will retry", alert.id)

    def _all(self) -> list[Alert]:
        with self.db.read() as session:
            return [row.to_entity() for row in session.scalars(select(AlertRow))]

    async def _value(self, alert: Alert, now: float) -> float | None:
        window = max(3 * self.metrics.history.interval, min(alert.duration_seconds, 60.0))
        since = now - window
        sources = await asyncio.to_thread(self.metrics.model_endpoint_sources, alert.model_id,
                                          alert.model_endpoint_id)
        points = [p for p in [await self.metrics.window(s, since) for s in sources] if p]
        if alert.metric in ("cpu", "memory"):
            local = [Source(s.version, s.endpoint_id, endpoint_key(s.endpoint_id)) for s in sources
                     if s.endpoint_id and not s.prometheus_url]
            points += [p for p in [await self.metrics.window(s, since) for s in local] if p]
        return combine(alert, points, window)

    def _judge(self, alert_id: int, value: float | None) -> None:
        with self.db.session() as session:
            row = session.get(AlertRow, alert_id, with_for_update=True)
            if row is None:
                return
            now = utcnow()
            row.value, row.evaluated_at = value, now
            below = METRICS[row.metric][1]
            breached = value is not None and (value < row.threshold if below else value > row.threshold)
            if not breached:
                row.breached_since = None
                if row.state == "firing":
                    row.state = "ok"
                    self._event(session, row, "alert_resolved", f"alert {row.id} resolved: {name(row)} is "
                                f"{_number(value)} {METRICS[row.metric][0]}".rstrip())
                return
            row.breached_since = row.breached_since or now
            held = (now - row.breached_since).total_seconds()
            if row.state != "firing" and held >= row.duration_seconds:
                row.state, row.fired_at = "firing", now
                self._event(session, row, "alert_firing", f"alert {row.id} firing ({row.severity}): {name(row)} "
                            f"is {_number(value)} {METRICS[row.metric][0]}, {'below' if below else 'above'} "
                            f"{row.threshold:g} for {held:.0f} s")

    @staticmethod
    def _event(session, row: AlertRow, action: str, message: str) -> None:
        me = session.get(ModelEndpointRow, row.model_endpoint_id)
        events.record(session, "alerts", action, "model_endpoint", row.model_endpoint_id, message,
                      me.model.project_id if me else None, row.model_id)


def combine(alert: Alert, points: list[dict[str, Any]], window: float) -> float | None:
    """The model endpoint's value over all its versions."""
    if alert.metric == "throughput":
        return round(sum(p.get("rps") or 0 for p in points), 4)
    if alert.metric == "error_rate":
        requests = sum(p.get("requests") or 0 for p in points)
        errors = sum((p.get("error_rate") or 0) * (p.get("requests") or 0) for p in points)
        return round(errors / requests, 6) if requests else None
    if alert.metric == "latency":
        values = [p.get(f"p{int(alert.percentile or 99)}_ms") for p in points]
        values = [v for v in values if v is not None]
        return max(values) if values else None  # the slowest version is what some callers see
    key = "cpu_cores" if alert.metric == "cpu" else "memory_mb"
    values = [p[key] for p in points if p.get(key) is not None]
    return round(sum(values), 4) if values else None


def name(row: AlertRow) -> str:
    return f"p{int(row.percentile)} latency" if row.metric == "latency" and row.percentile else row.metric


def describe(row: AlertRow) -> str:
    unit = METRICS[row.metric][0]
    side = "below" if METRICS[row.metric][1] else "above"
    return f"{name(row)} {side} {row.threshold:g} {unit} for {row.duration_seconds:g} s ({row.severity})".replace("  ", " ")


def _number(value: float | None) -> str:
    return "unknown" if value is None else f"{value:g}"
