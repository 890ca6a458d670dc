"""What the SDK returns: small objects over the API's JSON, readable in a notebook."""
from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any

STATUS_COLORS = {"pending": "#b58900", "running": "#2e7d32", "serving": "#1565c0",
                 "failed": "#c62828", "terminated": "#757575"}


class Resource:
    """An entity as the API returned it; fields are attributes (``endpoint.url``)."""

    kind = "resource"
    fields: tuple[str, ...] = ("id", "name")

    def __init__(self, data: dict[str, Any]):
        self._data = dict(data)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._data[name]
        except KeyError:
            raise AttributeError(f"{self.kind} has no attribute {name!r}") from None

    def to_dict(self) -> dict[str, Any]:
        return dict(self._data)

    def __repr__(self) -> str:
        shown = ", ".join(f"{f}={self._data.get(f)!r}" for f in self.fields if f in self._data)
        return f"{self.__class__.__name__}({shown})"

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><th style='text-align:left'>{html.escape(f)}</th><td style='text-align:left'>{_cell(f, self._data.get(f))}</td></tr>"
            for f in self.fields if f in self._data
        )
        return f"<b>{html.escape(self.__class__.__name__)}</b><table>{rows}</table>"


def _cell(field: str, value: Any) -> str:
    if field == "status" and isinstance(value, str):
        color = STATUS_COLORS.get(value, "inherit")
        return f"<span style='color:{color};font-weight:bold'>{html.escape(value)}</span>"
    if field == "message" and value:
        return f"<pre style='white-space:pre-wrap;margin:0'>{html.escape(str(value))}</pre>"
    return html.escape(_text(value))


class ResourceList(list):
    """A list of resources that renders as one table (HTML in a notebook, text elsewhere)."""

    def __init__(self, items: Iterable[Resource] = ()):
        super().__init__(items)

    def _columns(self) -> tuple[str, ...]:
        if not self:
            return ()
        first = self[0]
        return tuple(f for f in first.fields if any(f in r._data for r in self) and f != "message")

    def __repr__(self) -> str:
        if not self:
            return "(none)"
        columns = self._columns()
        rows = [[_text(r._data.get(c)) for c in columns] for r in self]
        widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(columns)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip()]
        lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in rows]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        if not self:
            return "<i>(none)</i>"
        columns = self._columns()
        head = "".join(f"<th style='text-align:left'>{html.escape(c)}</th>" for c in columns)
        body = "".join(
            "<tr>" + "".join(f"<td style='text-align:left'>{_cell(c, r._data.get(c))}</td>" for c in columns) + "</tr>"
            for r in self
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _text(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return "" if value is None else str(value)


def snippets(url: str, example: Any = None) -> tuple[str, str]:
    """A curl command and a Python snippet that call ``url`` with ``{"instances": example}``."""
    import json

    from .serving.instances import to_instances

    payload = {"instances": to_instances(example) if example is not None else [[]]}
    body = json.dumps(payload)
    curl = f"curl -s -X POST {url} \\\n  -H 'Content-Type: application/json' \\\n  -d '{body}'"
    # Python's own literals (None, True), not JSON's: the snippet must run as pasted.
    python = (f"import httpx\n\nresponse = httpx.post(\n    {url!r},\n    json={payload!r},\n)\n"
              "print(response.json()[\"predictions\"])")
    return curl, python


class Environment(Resource):
    kind = "environment"
    fields = ("name", "cluster", "is_default", "kind", "reachable", "reachable_message")


class Project(Resource):
    kind = "project"
    fields = ("id", "name", "mlflow_tracking_url")


class Model(Resource):
    kind = "model"
    fields = ("id", "name", "type", "project_id", "mlflow_experiment_id", "mlflow_url")


class ModelVersion(Resource):
    kind = "version"
    fields = ("id", "model_id", "mlflow_run_id", "labels", "created_at", "artifact_uri")


class VersionEndpoint(Resource):
    kind = "version endpoint"
    fields = ("id", "version_id", "status", "url", "environment_name", "revision", "message")

    def predict(self, instances: Any, timeout: float = 30.0) -> list[Any]:
        """Send ``{"instances": instances}`` to the endpoint and return its predictions.

        A DataFrame is sent as records, an array or Series as a list; a missing value (NaN,
        NaT) as ``null`` and a timestamp as an ISO 8601 string, which the server reads back as
        the model's signature says.
        """
        import httpx

        from .client import MerlinError

        from .serving.instances import to_instances

        instances = to_instances(instances)  # NaN as null, times as ISO strings: JSON has neither
        if self.status not in ("running", "serving") or not self.url:
            raise MerlinError(f"Endpoint {self.id} is {self.status}: deploy it and wait until it is running.")
        try:
            response = httpx.post(self.url, json={"instances": instances}, timeout=timeout, trust_env=False)
        except httpx.HTTPError as exc:
            raise MerlinError(f"The endpoint at {self.url} does not answer ({exc}). Check merlin.logs.") from None
        body = response.json() if response.content else {}
        if response.status_code >= 400:
            raise MerlinError(body.get("error") or response.text, response.status_code)
        return body["predictions"]

    def requests(self, since: str | None = None, status: Any = None, limit: int = 1000) -> Any:
        """This endpoint's logged requests, newest first, as a pandas DataFrame (see
        ``merlin_jupyter.request_logs.requests`` for ``since`` and ``status``)."""
        from .request_logs import version_endpoint_requests

        return version_endpoint_requests(self.model_id, self.version_id, self.id, since, status, limit)

    def metrics(self, since: str = "30m", step: str | None = None):
        """Requests/s, error rate and latency percentiles since ``since`` ("30m", "1h"): a
        DataFrame that a notebook draws as charts."""
        from .observe import endpoint_metrics

        return endpoint_metrics(self, since, step)


class ModelEndpoint(Resource):
    kind = "model endpoint"
    fields = ("id", "model_id", "status", "url", "environment_name", "traffic")

    def requests(self, since: str | None = None, status: Any = None, limit: int = 1000) -> Any:
        """The requests the model's stable URL sent to its versions' logging endpoints, newest
        first, as a pandas DataFrame; ``version`` says which version answered each."""
        from .request_logs import model_endpoint_requests

        return model_endpoint_requests(self.model_id, self.id, since, status, limit)

    def metrics(self, since: str = "30m", step: str | None = None):
        """The stable URL's traffic since ``since``, one row per version and time step."""
        from .observe import model_endpoint_metrics

        return model_endpoint_metrics(self, since, step)
