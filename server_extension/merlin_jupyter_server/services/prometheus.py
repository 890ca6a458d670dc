"""Metrics of a Kubernetes environment, from the Prometheus it names (``prometheus_url``).

The cluster's model servers run this project's model server (the KServe runtime), so their pods
expose the same ``merlin_requests_total`` and ``merlin_request_duration_seconds`` as local ones;
a cluster's Prometheus scrapes them (the pod annotations / a PodMonitor are the cluster's own
business). Queries go through Prometheus' HTTP API (``GET /api/v1/query_range``), one per
quantity, with the pods of one InferenceService revision selected by namespace and name prefix.

A rollout's guard and an alert judge one window (since its step began) with instant queries
(``GET /api/v1/query``) of ``increase()`` over exactly that window, so numbers from before the
step (the previous weight, or before the rollout) do not count. tests/k8s/test_rollout.py runs
these queries against Debian's real Prometheus scraping real model servers.
"""
from __future__ import annotations

import asyncio
import math
from typing import Any

import httpx

from ..errors import Unavailable

QUERIES = {
    "rps": 'sum(rate(merlin_requests_total{{{sel}}}[{window}]))',
    "error_rate": 'sum(rate(merlin_requests_total{{{sel},status=~"[45].."}}[{window}])) '
                  '/ sum(rate(merlin_requests_total{{{sel}}}[{window}]))',
    "p50_ms": '1000 * histogram_quantile(0.5, sum by (le) (rate(merlin_request_duration_seconds_bucket{{{sel}}}[{window}])))',
    "p95_ms": '1000 * histogram_quantile(0.95, sum by (le) (rate(merlin_request_duration_seconds_bucket{{{sel}}}[{window}])))',
    "p99_ms": '1000 * histogram_quantile(0.99, sum by (le) (rate(merlin_request_duration_seconds_bucket{{{sel}}}[{window}])))',
    "cpu_cores": 'sum(rate(container_cpu_usage_seconds_total{{{sel},container="kserve-container"}}[{window}]))',
    "memory_mb": 'sum(container_memory_working_set_bytes{{{sel},container="kserve-container"}}) / 1048576',
}


WINDOW = {
    "requests": 'sum(increase(merlin_requests_total{{{sel}}}[{window}]))',
    "errors": 'sum(increase(merlin_requests_total{{{sel},status=~"[45].."}}[{window}]))',
    "p50_ms": '1000 * histogram_quantile(0.5, sum by (le) (increase(merlin_request_duration_seconds_bucket{{{sel}}}[{window}])))',
    "p95_ms": '1000 * histogram_quantile(0.95, sum by (le) (increase(merlin_request_duration_seconds_bucket{{{sel}}}[{window}])))',
    "p99_ms": '1000 * histogram_quantile(0.99, sum by (le) (increase(merlin_request_duration_seconds_bucket{{{sel}}}[{window}])))',
    "cpu_cores": 'sum(rate(container_cpu_usage_seconds_total{{{sel},container="kserve-container"}}[{window}]))',
    "memory_mb": 'sum(container_memory_working_set_bytes{{{sel},container="kserve-container"}}) / 1048576',
}


def selector(namespace: str, name: str) -> str:
    # A KServe predictor's pods are named <inferenceservice>-predictor-...
    return f'namespace="{_quote(namespace)}",pod=~"{_quote(name)}-predictor-.*"'


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


async def query_series(url: str, namespace: str, name: str, start: float, end: float,
                       step: float) -> list[dict[str, Any]]:
    """Points ``{time, rps, error_rate, p50_ms, ...}`` of one revision between start and end."""
    step = max(step, 1.0)
    window = f"{max(int(step * 4), 60)}s"  # rate() needs at least two of the cluster's scrapes
    sel = selector(namespace, name)
    async with httpx.AsyncClient(timeout=10.0) as http:
        answers = await asyncio.gather(*(
            _range(http, url, query.format(sel=sel, window=window), start, end, step)
            for query in QUERIES.values()))
    points: dict[float, dict[str, Any]] = {}
    for metric, values in zip(QUERIES, answers):
        for ts, value in values:
            points.setdefault(ts, {"time": ts})[metric] = value
    return [points[ts] for ts in sorted(points)]


async def query_window(url: str, namespace: str, name: str, start: float, end: float) -> dict[str, Any] | None:
    """One revision's numbers between start and end as one point, or None (nothing scraped yet)."""
    seconds = max(int(math.ceil(end - start)), 1)
    sel = selector(namespace, name)
    async with httpx.AsyncClient(timeout=10.0) as http:
        answers = await asyncio.gather(*(
            _get(http, url, "/api/v1/query", {"query": query.format(sel=sel, window=f"{seconds}s"), "time": end})
            for query in WINDOW.values()))
    found = {metric: (values[0][1] if values else None) for metric, values in zip(WINDOW, answers)}
    requests = found.pop("requests")
    if requests is None:
        return None
    errors = found.pop("errors") or 0.0
    return {"time": end, "requests": int(round(requests)), "rps": round(requests / seconds, 4),
            "error_rate": round(errors / requests, 6) if requests else None, **found}


async def _range(http: httpx.AsyncClient, url: str, query: str, start: float, end: float,
                 step: float) -> list[tuple[float, float | None]]:
    return await _get(http, url, "/api/v1/query_range",
                      {"query": query, "start": start, "end": end, "step": step})


async def _get(http: httpx.AsyncClient, url: str, path: str,
               params: dict[str, Any]) -> list[tuple[float, float | None]]:
    """The first series of a matrix or vector answer as (time, value) pairs."""
    try:
        response = await http.get(url.rstrip("/") + path, params=params)
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise Unavailable(f"The environment's Prometheus at {url} did not answer ({exc}); "
                          "check prometheus_url and that it is reachable from this server.") from None
    if response.status_code != 200 or body.get("status") != "success":
        raise Unavailable(f"The environment's Prometheus at {url} refused a query "
                          f"({response.status_code}: {body.get('error', 'no reason given')}).")
    result = body.get("data", {}).get("result", [])
    if not result:
        return []
    values = []
    pairs = result[0].get("values") or ([result[0]["value"]] if "value" in result[0] else [])
    for ts, text in pairs:
        number = float(text)
        values.append((float(ts), None if math.isnan(number) or math.isinf(number) else round(number, 4)))
    return values
