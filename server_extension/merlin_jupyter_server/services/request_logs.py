"""Reading endpoints' request logs: the Parquet files local model servers write, queried with DuckDB.

A version endpoint's log is its own directory; a model endpoint's is the union of its model's
version endpoints in that environment, limited to the requests the router sent (each row names
the version that answered). Kubernetes endpoints log through KServe to the environment's sink,
which this control plane does not read.
"""
from __future__ import annotations

import calendar
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from merlin_jupyter.serving.request_log import prune, readable_files

from ..deployers.local_request_log import request_log_dir
from ..entities import iso
from ..errors import Conflict, InvalidInput
from ..store.db import Database
from . import lookup, validation

MAX_LIMIT = 10_000
DURATION = re.compile(r"([0-9]{1,9}(?:\.[0-9]{1,6})?)(s|m|h|d)")
UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# RFC 3339 (the OpenAPI document's pattern is the same): a time in UTC, or with its offset.
TIME = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):([0-5][0-9])"
                  r"(?::([0-5][0-9])(\.[0-9]{1,9})?)?(Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?")
STATUS = re.compile(r"[1-5][0-9][0-9]|[1-5]xx|ok|error")
COLUMNS = "id, epoch_ms(time) AS time_ms, latency_ms, status, version, protocol, route, request, response"


@dataclass
class Query:
    since: float | None
    condition: str
    params: list[Any]
    limit: int


def parse_query(query: dict[str, str | None]) -> Query:
    """``since``, ``status`` and ``limit`` of a request-log query, each refused in words."""
    since = since_time(query.get("since"))
    condition, params = status_filter(query.get("status"))
    limit = 100 if query.get("limit") is None else validation.int_text(query["limit"], "limit", 1, MAX_LIMIT)
    return Query(since, condition, params, limit)


def since_time(value: str | None, now: float | None = None) -> float | None:
    """``since`` as epoch seconds: a duration back from now (``30s``, ``15m``, ``1h``, ``7d``) or
    an RFC 3339 time (UTC unless it has an offset)."""
    if value is None:
        return None
    now = time.time() if now is None else now
    match = DURATION.fullmatch(value)
    if match:
        return now - float(match[1]) * UNIT[match[2]]
    match = TIME.fullmatch(value)
    if match is None:
        raise InvalidInput(f"since {value!r} is neither a duration nor a time: give e.g. 30m, 1h or 7d, "
                           "or a time such as 2026-12-01T14:00:00Z.", field="since")
    year, month, day, hour, minute = (int(match[i]) for i in range(1, 6))
    # timegm counts days arithmetically: a 30 February is 2 March, never an error.
    seconds = calendar.timegm((year, month, 1, hour, minute, int(match[6] or 0))) + (day - 1) * 86400
    seconds += float(match[7] or 0)
    offset = match[8]
    if offset and offset != "Z":
        sign = 1 if offset[0] == "+" else -1
        seconds -= sign * (int(offset[1:3]) * 3600 + int(offset[4:6]) * 60)
    return seconds


def status_filter(value: str | None) -> tuple[str, list[Any]]:
    """A SQL condition and its parameters for ``status``: a code (``503``), a class (``5xx``),
    ``ok`` (below 400) or ``error`` (400 and above)."""
    if value is None:
        return "", []
    if not STATUS.fullmatch(value):
        raise InvalidInput(f"status {value!r} is not a status: give a code such as 200 or 503, a class "
                           "such as 5xx, ok (below 400) or error (400 and above).", field="status")
    if value == "ok":
        return " AND status < 400", []
    if value == "error":
        return " AND status >= 400", []
    if value.endswith("xx"):
        low = int(value[0]) * 100
        return " AND status >= ? AND status < ?", [low, low + 100]
    return " AND status = ?", [int(value)]


class RequestLogService:
    def __init__(self, db: Database, state_dir: str, max_age: float, max_bytes: int):
        self.db, self.state_dir = db, state_dir
        self.max_age, self.max_bytes = max_age, max_bytes

    def for_version_endpoint(self, model_id: int, number: int, endpoint_id: str,
                             query: dict[str, str | None]) -> list[dict[str, Any]]:
        asked = parse_query(query)
        with self.db.read() as session:
            row = lookup.version_endpoint(session, model_id, number, endpoint_id)
            self._refuse_remote(row.environment_name, session)
        return self._query([row.id], asked)

    def for_model_endpoint(self, model_id: int, model_endpoint_id: int,
                           query: dict[str, str | None]) -> list[dict[str, Any]]:
        asked = parse_query(query)
        with self.db.read() as session:
            endpoint = lookup.model_endpoint(session, model_id, model_endpoint_id)
            self._refuse_remote(endpoint.environment_name, session)
            ids = _endpoint_ids(session, model_id, endpoint.environment_name)
        return self._query(ids, asked, routed=True)

    def _refuse_remote(self, environment_name: str, session) -> None:
        environment = lookup.environment(session, environment_name).to_entity()
        if environment.kind != "local":
            sink = environment.config.get("request_log_url") or "its request_log_url"
            raise Conflict(
                f"Requests to endpoints in {environment_name!r} are logged by KServe to the environment's "
                f"sink ({sink}), which this control plane does not read: query them there.",
                field="environment_name",
            )

    def _query(self, endpoint_ids: list[str], asked: Query, routed: bool = False) -> list[dict[str, Any]]:
        condition, params = asked.condition, list(asked.params)
        if asked.since is not None:
            condition += " AND time >= to_timestamp(?)"
            params.append(asked.since)
        if routed:
            condition += " AND route = 'model_endpoint'"
        for attempt in range(3):
            files = []
            for endpoint_id in endpoint_ids:
                directory = request_log_dir(self.state_dir, endpoint_id)
                prune(directory, self.max_age, self.max_bytes)
                files += readable_files(directory, asked.since)
            if not files:
                return []
            try:
                return _run(files, condition, params, asked.limit)
            except _io_errors():  # a writer merged or retention removed a file meanwhile
                if attempt == 2:
                    raise
        return []


def _endpoint_ids(session, model_id: int, environment_name: str) -> list[str]:
    from sqlalchemy import select

    from ..store.models import VersionEndpointRow, VersionRow

    rows = session.scalars(
        select(VersionEndpointRow.id).join(VersionRow, VersionEndpointRow.version_pk == VersionRow.id)
        .where(VersionRow.model_id == model_id, VersionEndpointRow.environment_name == environment_name)
    )
    return list(rows)


def _io_errors() -> tuple[type[BaseException], ...]:
    import duckdb

    return (duckdb.IOException, duckdb.InvalidInputException)


def _run(files: list[str], condition: str, params: list[Any], limit: int) -> list[dict[str, Any]]:
    import duckdb

    sql = (f"SELECT {COLUMNS} FROM read_parquet(?, union_by_name=true) WHERE true{condition} "
           "ORDER BY time DESC, id LIMIT ?")
    with duckdb.connect() as connection:
        rows = connection.execute(sql, [files, *params, limit]).fetchall()
    return [
        {"id": rid, "time": iso(datetime.fromtimestamp(ms / 1000, timezone.utc)), "latency_ms": latency,
         "status": status, "version": version, "protocol": protocol, "route": route,
         "request": request, "response": response}
        for rid, ms, latency, status, version, protocol, route, request, response in rows
    ]
