"""An endpoint's logged requests as a pandas DataFrame: ``endpoint.requests(since="1h")``."""
from __future__ import annotations

import json
from typing import Any

from .client import MerlinError
from .fluent import _client, _version

COLUMNS = ["id", "time", "latency_ms", "status", "version", "protocol", "route", "request", "response"]


def frame(rows: list[dict[str, Any]]) -> Any:
    """The API's rows as a DataFrame: ``time`` a UTC timestamp, bodies parsed from JSON."""
    import pandas as pd

    data = pd.DataFrame(rows, columns=COLUMNS)
    data["time"] = pd.to_datetime(data["time"], utc=True, format="ISO8601")
    for column in ("request", "response"):
        data[column] = [_parsed(text) for text in data[column]]
    return data


def _parsed(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _query(since: str | None, status: Any, limit: int) -> dict[str, Any]:
    return {"since": since, "status": None if status is None else str(status), "limit": limit}


def version_endpoint_requests(model_id: int, version: int, endpoint_id: str, since: str | None = None,
                              status: Any = None, limit: int = 1000) -> Any:
    path = f"/models/{model_id}/versions/{version}/endpoint/{endpoint_id}/requests"
    return frame(_client().get(path, **_query(since, status, limit))["requests"])


def model_endpoint_requests(model_id: int, model_endpoint_id: int, since: str | None = None,
                            status: Any = None, limit: int = 1000) -> Any:
    path = f"/models/{model_id}/endpoints/{model_endpoint_id}/requests"
    return frame(_client().get(path, **_query(since, status, limit))["requests"])


def requests(version: Any = None, environment_name: str | None = None, since: str | None = None,
             status: Any = None, limit: int = 1000) -> Any:
    """The logged requests of a version's latest endpoint (default: the current or latest
    version), newest first, as a pandas DataFrame.

    ``since``: a duration back from now (``"30s"``, ``"15m"``, ``"1h"``, ``"7d"``) or an ISO time;
    ``status``: a code (``503``), a class (``"5xx"``), ``"ok"`` or ``"error"``. Columns: id, time,
    latency_ms, status, version, protocol, route (direct or model_endpoint), request and
    response (parsed JSON; None where the logger's mode leaves them out).
    """
    from .deployments import _latest_endpoint

    ver = _version(version)
    latest = _latest_endpoint(ver, environment_name)
    if not (latest.get("logger") or {}).get("model", {}).get("enabled"):
        raise MerlinError(
            f"Version {ver.id}'s endpoint in {latest['environment_name']!r} does not log requests: deploy "
            f"it with `%merlin deploy {ver.id} --log-requests all` (merlin.deploy(..., logger=Logger("
            "model=LoggerConfig(enabled=True, mode=LoggerMode.ALL)))).")
    return version_endpoint_requests(ver.model_id, ver.id, latest["id"], since, status, limit)
