"""Schemathesis hooks: cross-field rules that JSON Schema cannot state, applied to valid data only.

The document says them in words (min_replica <= max_replica; weights add up to 100, each
version endpoint once, the mirror not a destination; locally, replicas and workers within this
machine's cores and no GPU request without a GPU). Without these, "valid" cases that break
them would be refused, rightly, and counted as a valid request refused. Invalid (negative)
cases are sent as generated.
"""
from __future__ import annotations

from typing import Any

import schemathesis


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    meta = getattr(case, "meta", None)
    if meta is None or not meta.generation.mode.is_positive or not isinstance(case.body, dict):
        return
    body = case.body
    for key in ("resource_request", "default_resource_request"):
        _order_replicas(body.get(key))
    if isinstance(body.get("rule"), dict):
        _fix_rule(body["rule"])
    _fix_observability(body)


def _fix_observability(body: dict[str, Any]) -> None:
    # A rollout's steps rise strictly; only a latency alert takes a percentile; an error-rate
    # threshold is a share (0 to 1).
    steps = body.get("steps")
    if isinstance(steps, list) and steps and all(
            isinstance(s, (int, float)) and not isinstance(s, bool) and float(s).is_integer() for s in steps):
        body["steps"] = sorted({int(s) for s in steps})
    if "metric" in body and "threshold" in body:
        if body.get("metric") != "latency":
            body.pop("percentile", None)
        if body.get("metric") == "error_rate" and isinstance(body.get("threshold"), (int, float)):
            body["threshold"] = min(body["threshold"], 1)


def _order_replicas(request: Any) -> None:
    # Both are set, so neither is merged with a default or current value that breaks the order.
    if not isinstance(request, dict):
        return
    from merlin_jupyter_server.deployers import local_limits

    cap = local_limits.usable_cores()
    low, high = request.get("min_replica"), request.get("max_replica")
    low = min(low if isinstance(low, int) else 1, cap)
    high = min(high if isinstance(high, int) else max(low, 1), cap)
    request["min_replica"], request["max_replica"] = min(low, high), max(low, high, 1)
    if isinstance(request.get("workers"), int):
        request["workers"] = min(request["workers"], cap)
    if not local_limits.gpus():
        request["gpu_request"] = None


def _fix_rule(rule: dict[str, Any]) -> None:
    destinations = rule.get("destinations")
    if not isinstance(destinations, list) or not destinations:
        return
    seen: set[str] = set()
    unique = []
    for item in destinations:
        if isinstance(item, dict) and item.get("version_endpoint_id") not in seen:
            seen.add(item.get("version_endpoint_id"))
            unique.append(item)
    for item in unique:
        item["weight"] = 0
    unique[0]["weight"] = 100
    rule["destinations"] = unique
    mirror = rule.get("mirror")
    mirror_id = mirror.get("id") if isinstance(mirror, dict) else mirror
    if mirror_id in seen:
        rule["mirror"] = None
