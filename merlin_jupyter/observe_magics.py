"""What ``%merlin metrics``, ``%merlin rollout`` and ``%merlin alert`` type, read into SDK calls."""
from __future__ import annotations

import re
from typing import Any

from IPython.core.error import UsageError

from . import observe


def percent_or_share(text: str, flag: str) -> float:
    """``1%`` or ``0.01`` as a share."""
    try:
        return float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise UsageError(f"{flag} takes a share such as 1% or 0.01, not {text!r}.") from None


def milliseconds(text: str, flag: str) -> float:
    """``50ms``, ``0.05s`` or ``50`` (ms)."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s)?", text.strip())
    if not match:
        raise UsageError(f"{flag} takes a latency such as 50ms or 0.2s, not {text!r}.")
    return float(match.group(1)) * (1000 if match.group(2) == "s" else 1)


def steps(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UsageError(f"--steps takes percentages separated by commas, e.g. 10,50,100, not {text!r}.") from None


def rollout(args: Any) -> Any:
    if args.pause or args.resume or args.abort:
        found = [r for r in observe.rollouts(args.env) if r.status in ("running", "paused")]
        if not found:
            raise UsageError("No rollout is running on this model endpoint.")
        current = found[0]
        return current.pause() if args.pause else current.resume() if args.resume else current.abort()
    if args.version is None:
        shown = observe.rollouts(args.env)
        if not shown:
            return "No rollout yet: `%merlin rollout v2 --steps 10,50,100 --bake 2m`."
        if not shown[0].done and observe._in_notebook():  # a running one: its live view again
            shown[0].widget()
            return None
        return shown[0]
    guard: dict[str, float] = {}
    if args.max_error_rate is not None:
        guard["error_rate"] = percent_or_share(args.max_error_rate, "--max-error-rate")
    for name in ("p50", "p95", "p99"):
        value = getattr(args, f"max_{name}")
        if value is not None:
            guard[f"{name}_ms"] = milliseconds(value, f"--max-{name}")
    if not guard:
        guard = {"error_rate": 0.01}
    return observe.rollout(args.version, steps(args.steps), args.bake, guard, args.min_requests, args.env)


ALERT_UNITS = {"throughput": "requests/s", "latency": "ms", "error_rate": "share", "cpu": "cores", "memory": "MiB"}


def alert(args: Any) -> Any:
    if args.metric is None:
        return observe.list_alerts()
    if args.metric not in ALERT_UNITS or args.threshold is None:
        raise UsageError("Type e.g. `%merlin alert error_rate 5% --for 1m`, `%merlin alert latency 200ms "
                         "--percentile 95` or `%merlin alert throughput 1`; metrics: " + ", ".join(ALERT_UNITS))
    if args.metric == "error_rate":
        threshold = percent_or_share(args.threshold, "error_rate")
    elif args.metric == "latency":
        threshold = milliseconds(args.threshold, "latency")
    else:
        try:
            threshold = float(args.threshold.removesuffix("Mi").removesuffix("rps"))
        except ValueError:
            raise UsageError(f"{args.metric} takes a number ({ALERT_UNITS[args.metric]}), not {args.threshold!r}.") from None
    return observe.alert(args.metric, threshold, args.duration, args.percentile, args.severity, args.env)
