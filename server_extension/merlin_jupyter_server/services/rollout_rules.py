"""What a guarded rollout may be asked, in words when it may not; and how its guard is judged.

Pure functions: no store, no clock. Used by rollouts.py.
"""
from __future__ import annotations

from typing import Any

from ..errors import InvalidInput
from .metrics_history import parse_duration

GUARD_METRICS = {"error_rate": "error rate", "p50_ms": "p50 latency (ms)", "p95_ms": "p95 latency (ms)",
                 "p99_ms": "p99 latency (ms)"}
MAX_STEPS = 20
ACTIONS = ("pause", "resume", "abort")
ACTIVE = ("running", "paused")


def whole(value: Any) -> int | None:
    """An integer as JSON Schema counts them (``43.0`` is one), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if isinstance(value, int) else None


def steps(value: Any) -> list[int]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_STEPS:
        raise InvalidInput(f"steps must list 1 to {MAX_STEPS} percentages, e.g. [10, 50, 100].", field="steps")
    previous, found = 0, []
    for item in value:
        item = whole(item) if whole(item) is not None else item
        found.append(item)
        if not isinstance(item, int) or isinstance(item, bool) or not previous < item <= 100:
            raise InvalidInput(f"steps must be whole percentages rising from 1 to at most 100, e.g. [10, 50, "
                               f"100]; {item!r} after {previous} is not.", field="steps")
        previous = item
    return found


def guard(value: Any) -> dict[str, float]:
    if not isinstance(value, dict) or not value:
        raise InvalidInput("guard must name at least one limit, e.g. {\"error_rate\": 0.01, \"p99_ms\": 50}.",
                           field="guard")
    limits = {}
    for name, limit in value.items():
        if name not in GUARD_METRICS:
            raise InvalidInput(f"guard has {name!r}: a guard limits {', '.join(GUARD_METRICS)}.", field="guard")
        if not isinstance(limit, (int, float)) or isinstance(limit, bool) or limit < 0 or \
                (name == "error_rate" and limit > 1):
            raise InvalidInput(f"guard.{name} must be a number{' from 0 to 1 (0.01 is 1 %)' if name == 'error_rate' else ' of at least 0'}, "
                               f"not {limit!r}.", field=f"guard.{name}")
        limits[name] = float(limit)
    return limits


def bake(value: Any) -> float:
    return parse_duration(value if value is not None else "2m", "bake")


def min_requests(value: Any) -> int:
    if value is None:
        return 20
    value = whole(value)
    if value is None or not 1 <= value <= 1_000_000:
        raise InvalidInput("min_requests must be a whole number from 1 to 1000000.", field="min_requests")
    return value


def step_rule(previous: dict[str, Any], old_id: str, new_id: str, weight: int) -> dict[str, Any]:
    """The rule of one step: the new version gets ``weight`` %, the old one the rest."""
    destinations = [{"version_endpoint_id": new_id, "weight": weight}]
    if weight < 100:
        destinations.insert(0, {"version_endpoint_id": old_id, "weight": 100 - weight})
    rule: dict[str, Any] = {"destinations": destinations}
    mirror = previous.get("mirror")
    if mirror and mirror not in (old_id, new_id):
        rule["mirror"] = mirror
    return rule


def breach(limits: dict[str, float], new: dict[str, Any] | None, old: dict[str, Any] | None,
           min_count: int) -> tuple[str, float, float, float | None] | None:
    """The first limit the new version breaks: (metric, value, threshold, old version's value).

    A limit is broken when the new version is over it and worse than the old version (when the
    old one had traffic to compare with): a machine that slows both down is not the new
    version's fault, and rolling back would not help. Nothing is judged on fewer than
    ``min_count`` requests of the new version."""
    if new is None or (new.get("requests") or 0) < min_count:
        return None
    for metric, threshold in limits.items():
        value = new.get(metric)
        if value is None or value <= threshold:
            continue
        before = old.get(metric) if old and (old.get("requests") or 0) > 0 else None
        if before is None or value > before:
            return metric, value, threshold, before
    return None


def describe_breach(found: tuple[str, float, float, float | None], new_version: int, old_version: int,
                    seconds: float) -> str:
    metric, value, threshold, before = found
    compared = f"; version {old_version}: {before:g}" if before is not None else ""
    return (f"{metric} of version {new_version} was {value:g} over the last {seconds:.1f} s, above the "
            f"threshold {threshold:g}{compared}")
