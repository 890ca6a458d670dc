"""Whether a local endpoint is scaled to zero, read from what its autoscaler last wrote.

Anything that connects to such an endpoint wakes it (its supervisor holds the port and starts a
worker for the first connection): a metrics scrape or a readiness probe every few seconds would
keep it awake for good. Those callers ask here first.
"""
from __future__ import annotations

import json
from typing import Any


def asleep(details: dict[str, Any]) -> bool:
    """True for an endpoint at zero workers, or whose last workers drain on the way there."""
    return bool(details.get("scaled_to_zero")
                or (details.get("min_workers") == 0 and details.get("workers") == 0))


def read_state(path: str) -> dict[str, Any]:
    """A JSON state file a model server's autoscaler or the router wrote ({} when there is none
    yet, or it is being replaced)."""
    if not path:
        return {}
    try:
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}
