"""A bounded in-memory history of scraped counters, and the time series computed from it.

Each scrape of a model server's (or the router's) Prometheus ``/metrics`` becomes one
:class:`Sample` per source: cumulative request and error counts, the cumulative latency
histogram, and the process group's CPU seconds and memory. Rates and percentiles are computed
from the differences between consecutive samples, as Prometheus' ``rate`` and
``histogram_quantile`` do, so a restarted server (counters back to zero) is a reset, not a
negative rate. Nothing here does I/O; the scraper feeds it (metrics_scraper.py).
"""
from __future__ import annotations

import math
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Hashable, Iterable

from ..errors import InvalidInput

# Answers from here up are errors. Not only 5xx: a model server answers a model's own exception
# with 400 (it cannot tell a model that broke from input it cannot take), and a rollout compares
# the new version with the old, so input that both refuse does not count against the new one.
ERROR_STATUS = 400


@dataclass(frozen=True)
class Sample:
    ts: float  # unix time of the scrape
    requests: float
    errors: float
    buckets: tuple[tuple[float, float], ...] = ()  # (upper bound in s, cumulative count), +inf last
    latency_sum: float = 0.0
    cpu_seconds: float | None = None
    memory_bytes: float | None = None


@dataclass
class Step:
    """What happened between two samples (or over a group of them)."""

    start: float
    end: float
    requests: float = 0.0
    errors: float = 0.0
    buckets: dict[float, float] = field(default_factory=dict)
    cpu_seconds: float | None = None
    memory_bytes: float | None = None

    def add(self, other: "Step") -> None:
        self.start, self.end = min(self.start, other.start), max(self.end, other.end)
        self.requests += other.requests
        self.errors += other.errors
        for le, count in other.buckets.items():
            self.buckets[le] = self.buckets.get(le, 0.0) + count
        if other.cpu_seconds is not None:
            self.cpu_seconds = (self.cpu_seconds or 0.0) + other.cpu_seconds
        if other.memory_bytes is not None:
            self.memory_bytes = other.memory_bytes  # a gauge: the latest value

    def point(self) -> dict[str, Any]:
        seconds = max(self.end - self.start, 1e-9)
        return {
            "rps": round(self.requests / seconds, 4),
            "requests": int(round(self.requests)),
            "error_rate": round(self.errors / self.requests, 6) if self.requests else None,
            "p50_ms": quantile_ms(0.50, self.buckets),
            "p95_ms": quantile_ms(0.95, self.buckets),
            "p99_ms": quantile_ms(0.99, self.buckets),
            "cpu_cores": round(self.cpu_seconds / seconds, 4) if self.cpu_seconds is not None else None,
            "memory_mb": round(self.memory_bytes / 2**20, 2) if self.memory_bytes is not None else None,
        }


def quantile_ms(q: float, buckets: dict[float, float]) -> float | None:
    """``histogram_quantile`` over cumulative bucket counts, in milliseconds (None: no requests)."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank = q * buckets[bounds[-1]]
    lower, below = 0.0, 0.0
    for le in bounds:
        count = buckets[le]
        if count >= rank:
            if math.isinf(le):  # beyond the last finite bound: that bound is all we know
                return round(lower * 1000, 3)
            inside = count - below
            fraction = (rank - below) / inside if inside > 0 else 1.0
            return round((lower + (le - lower) * fraction) * 1000, 3)
        lower, below = le, count
    return round(lower * 1000, 3)


def step_between(a: Sample, b: Sample) -> Step:
    def delta(new: float, old: float) -> float:
        return new if new < old else new - old  # lower than before: the server restarted

    old_buckets = dict(a.buckets)
    reset = b.requests < a.requests
    return Step(
        start=a.ts, end=b.ts,
        requests=delta(b.requests, a.requests), errors=b.errors if reset else delta(b.errors, a.errors),
        buckets={le: count if reset else delta(count, old_buckets.get(le, 0.0)) for le, count in b.buckets},
        cpu_seconds=(delta(b.cpu_seconds, a.cpu_seconds)
                     if b.cpu_seconds is not None and a.cpu_seconds is not None else None),
        memory_bytes=b.memory_bytes,
    )


class MetricsHistory:
    """The last ``retention`` seconds of samples per source, at most ``retention / interval``."""

    def __init__(self, retention: float = 3600.0, interval: float = 5.0):
        self.retention, self.interval = retention, interval
        self._size = max(4, int(math.ceil(retention / max(interval, 0.05))) + 2)
        self._samples: dict[Hashable, deque[Sample]] = {}

    def record(self, key: Hashable, sample: Sample) -> None:
        self._samples.setdefault(key, deque(maxlen=self._size)).append(sample)

    def forget_older_than(self, now: float) -> None:
        for key in [k for k, q in self._samples.items() if q and q[-1].ts < now - self.retention]:
            del self._samples[key]

    def keys(self) -> list[Hashable]:
        return list(self._samples)

    def steps(self, key: Hashable, since: float) -> list[Step]:
        samples = list(self._samples.get(key, ()))
        return [step_between(a, b) for a, b in zip(samples, samples[1:]) if b.ts > since and b.ts > a.ts]

    def series(self, key: Hashable, since: float, step: float | None = None) -> list[dict[str, Any]]:
        """One point per ``step`` seconds (default: per scrape) since ``since``."""
        return [{"time": s.end, **s.point()} for s in group(self.steps(key, since), since, step)]

    def total(self, key: Hashable, since: float) -> Step | None:
        """Everything since ``since`` as one step (None: fewer than two samples yet)."""
        steps = self.steps(key, since)
        if not steps:
            return None
        total = Step(steps[0].start, steps[0].end)
        for s in steps:
            total.add(s)
        return total


def group(steps: Iterable[Step], since: float, step: float | None) -> list[Step]:
    if not step:
        return list(steps)
    grouped: dict[int, Step] = {}
    for s in steps:
        index = int((s.end - since) // step)
        if index in grouped:
            grouped[index].add(s)
        else:
            grouped[index] = Step(s.start, s.end, s.requests, s.errors, dict(s.buckets), s.cpu_seconds,
                                  s.memory_bytes)
    return [grouped[i] for i in sorted(grouped)]


# -- Prometheus text -------------------------------------------------------------------------
def parse_exposition(text: str, requests: str, latency: str,
                     group_by: tuple[str, ...] = ()) -> dict[tuple[str, ...], Sample]:
    """Counters of a ``/metrics`` page, summed per ``group_by`` labels (ts left 0)."""
    from prometheus_client.parser import text_string_to_metric_families

    totals: dict[tuple[str, ...], dict[str, Any]] = {}
    for family in text_string_to_metric_families(text):
        if family.name not in (requests, latency):
            continue
        for sample in family.samples:
            key = tuple(sample.labels.get(label, "") for label in group_by)
            into = totals.setdefault(key, {"requests": 0.0, "errors": 0.0, "buckets": {}, "sum": 0.0})
            if family.name == requests and sample.name == requests + "_total":
                into["requests"] += sample.value
                if _status(sample.labels.get("status")) >= ERROR_STATUS:
                    into["errors"] += sample.value
            elif sample.name == latency + "_bucket":
                le = float(sample.labels["le"])
                into["buckets"][le] = into["buckets"].get(le, 0.0) + sample.value
            elif sample.name == latency + "_sum":
                into["sum"] += sample.value
    return {key: Sample(0.0, t["requests"], t["errors"], tuple(sorted(t["buckets"].items())), t["sum"])
            for key, t in totals.items()}


def _status(text: str | None) -> int:
    return int(text) if text and text.isdigit() else 0


# -- durations -------------------------------------------------------------------------------
# Whole numbers and one unit, as openapi.yaml's Duration says (the same pattern, so what the
# document calls valid the server takes): 90s, 30m, 1h, 7d; a bare number is seconds.
DURATION = re.compile(r"^([1-9][0-9]{0,5})(s|m|h|d)?$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: Any, name: str) -> float:
    """``"30m"``, ``"90s"``, ``"1h"``, ``"7d"`` or ``"45"`` (seconds), in seconds."""
    match = DURATION.match(text) if isinstance(text, str) else None
    if match is None:
        raise InvalidInput(f"{name} must be a duration such as 90s, 30m or 1h (a whole number and s, m, h "
                           f"or d), not {str(text)[:40]!r}.", field=name)
    return float(match.group(1)) * _UNIT[match.group(2) or "s"]
