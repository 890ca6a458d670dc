"""Seeing what a deployed model does: ``metrics`` (a DataFrame drawn as charts), guarded
``rollout`` with a live widget, and ``alert``. All of it runs in the control plane; these are
thin calls to its REST API.
"""
from __future__ import annotations

import time
from typing import Any

from .charts import line_chart
from .client import MerlinError
from .fluent import _client, active_model, default_environment
from .resources import Resource, ResourceList

try:
    import pandas as _pd

    _Base = _pd.DataFrame
except ImportError:  # pragma: no cover - pandas comes with MLflow
    _Base = object

PANELS = (("requests/s", "rps", ""), ("error rate", "error_rate", ""), ("p99 latency", "p99_ms", " ms"))


class MetricsFrame(_Base):
    """A DataFrame (``time``, ``version``, ``rps``, ``error_rate``, ``p50_ms``, ``p95_ms``,
    ``p99_ms``, ``cpu_cores``, ``memory_mb``) that a notebook shows as charts, one line per version."""

    @property
    def _constructor(self):  # derived frames are plain DataFrames: the chart is for this one
        return _pd.DataFrame

    def charts(self) -> str:
        if self.empty:
            return "<i>No metrics yet: the control plane scrapes every few seconds once requests arrive.</i>"
        panels = []
        for title, column, unit in PANELS:
            series = []
            for version, rows in self.groupby("version"):
                xs = [t.timestamp() for t in rows["time"]]
                ys = [None if _pd.isna(v) else float(v) for v in rows[column]]
                series.append((f"v{version}", xs, ys))
            panels.append(line_chart(title, series, unit))
        return f"<div style='display:flex;gap:12px;flex-wrap:wrap'>{''.join(panels)}</div>"

    def _repr_html_(self) -> str:
        table = _pd.DataFrame(self).tail(10).to_html(index=False, na_rep="")
        return f"{self.charts()}<details><summary>last rows</summary>{table}</details>"


def _frame(data: dict[str, Any]) -> MetricsFrame:
    frame = MetricsFrame(data.get("points") or [], columns=[
        "time", "version", "rps", "requests", "error_rate", "p50_ms", "p95_ms", "p99_ms", "cpu_cores", "memory_mb"])
    frame["time"] = _pd.to_datetime(frame["time"], utc=True)
    return frame


def endpoint_metrics(endpoint: Any, since: str = "30m", step: str | None = None) -> MetricsFrame:
    """A version endpoint's metrics since ``since`` (``"30m"``, ``"90s"``, ``"1h"``)."""
    data = _client().get(f"/models/{endpoint.model_id}/versions/{endpoint.version_id}/endpoint/{endpoint.id}/metrics",
                         **_window(since, step))
    return _frame(data)


def model_endpoint_metrics(model_endpoint: Any, since: str = "30m", step: str | None = None) -> MetricsFrame:
    """A model endpoint's metrics since ``since``, one row per version and time step."""
    data = _client().get(f"/models/{model_endpoint.model_id}/endpoints/{model_endpoint.id}/metrics",
                         **_window(since, step))
    return _frame(data)


def metrics(since: str = "30m", environment_name: str | None = None, step: str | None = None) -> MetricsFrame:
    """The current model's endpoint metrics (its stable URL's traffic, per version)."""
    return model_endpoint_metrics(Resource(_model_endpoint(environment_name)), since, step)


def _window(since: Any, step: Any) -> dict[str, str]:
    params = {"since": _duration(since)}
    if step is not None:
        params["step"] = _duration(step)
    return params


def _duration(value: Any) -> str:
    return f"{int(value)}s" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def _model_endpoint(environment_name: str | None) -> dict[str, Any]:
    model = active_model()
    env = environment_name or default_environment()
    found = [e for e in _client().get(f"/models/{model.id}/endpoints")
             if e["environment_name"] == env and e["status"] != "terminated"]
    if not found:
        raise MerlinError(f"Model {model.name!r} serves no traffic in {env!r}: route it first with "
                          "`%merlin traffic v1=100` (merlin.serve_traffic({1: 100})).")
    return found[0]


# -- rollouts --------------------------------------------------------------------------------
class Rollout(Resource):
    """A guarded rollout running in the control plane; ``pause()``, ``resume()``, ``abort()``."""

    kind = "rollout"
    fields = ("id", "status", "new_version", "old_version", "weight", "steps", "bake_seconds", "guard", "message")

    @property
    def _path(self) -> str:
        return f"/models/{self.model_id}/endpoints/{self.model_endpoint_id}/rollouts/{self.id}"

    def refresh(self) -> "Rollout":
        self._data = _client().get(self._path)
        return self

    def pause(self) -> "Rollout":
        """Hold the current step (the guard still watches and may roll back)."""
        self._data = _client().post(self._path + "/pause")
        return self

    def resume(self) -> "Rollout":
        self._data = _client().post(self._path + "/resume")
        return self

    def abort(self) -> "Rollout":
        """Stop and return all traffic to the rule before the rollout."""
        self._data = _client().post(self._path + "/abort")
        return self

    @property
    def done(self) -> bool:
        return self.status not in ("running", "paused")

    def wait(self, timeout: float = 3600.0) -> "Rollout":
        """Block until the rollout completed, rolled back or was aborted."""
        deadline = time.monotonic() + timeout
        while not self.refresh().done and time.monotonic() < deadline:
            time.sleep(1.0)
        return self

    def widget(self, interval: float = 2.0):
        """A live view: the step, both versions' metrics side by side, Pause/Resume/Abort."""
        from .rollout_widget import RolloutWidget

        return RolloutWidget(self, interval).show()


def rollout(version: Any, steps: list[int] | None = None, bake: Any = "2m",
            guard: dict[str, float] | None = None, min_requests: int = 20,
            environment_name: str | None = None, widget: bool = True) -> Rollout:
    """Move the current model endpoint's traffic to ``version`` step by step.

    ``steps`` are the new version's percentages (default ``[10, 50, 100]``); each holds for
    ``bake`` ("2m", "90s"). During each bake the control plane compares the new version with
    the old on live metrics; when one passes its ``guard`` limit (``error_rate``, a share 0-1, or
    ``p50_ms``/``p95_ms``/``p99_ms``) and is worse than the old version's, it returns all traffic
    to the rule before the rollout by itself and records why. It runs in the control plane: it
    goes on if this kernel stops. In a notebook a live widget shows it (``widget=False``: not).
    """
    me = _model_endpoint(environment_name)
    body: dict[str, Any] = {"steps": list(steps or [10, 50, 100]), "bake": _duration(bake),
                            "guard": dict(guard or {"error_rate": 0.01}), "min_requests": min_requests}
    number = _version_number(version)
    if number is not None:
        body["version"] = number
    else:
        body["version_endpoint_id"] = str(getattr(version, "id", version))
    started = Rollout(_client().post(f"/models/{me['model_id']}/endpoints/{me['id']}/rollouts", body))
    if widget and _in_notebook():
        started.widget()
    return started


def rollouts(environment_name: str | None = None) -> ResourceList:
    """The current model endpoint's rollouts, newest first."""
    me = _model_endpoint(environment_name)
    return ResourceList(Rollout(r) for r in _client().get(f"/models/{me['model_id']}/endpoints/{me['id']}/rollouts"))


def _version_number(version: Any) -> int | None:
    if isinstance(version, int) and not isinstance(version, bool):
        return version
    if isinstance(version, str) and version.lstrip("vV").isdigit():
        return int(version.lstrip("vV"))
    if hasattr(version, "mlflow_run_id"):  # a ModelVersion
        return int(version.id)
    return None


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython

        shell = get_ipython()
        return shell is not None and getattr(shell, "kernel", None) is not None
    except ImportError:
        return False


# -- alerts ----------------------------------------------------------------------------------
class Alert(Resource):
    kind = "alert"
    fields = ("id", "metric", "percentile", "threshold", "duration_seconds", "severity", "state", "value", "fired_at")


def alert(metric: str, threshold: float, duration: Any = "1m", percentile: int | None = None,
          severity: str = "WARNING", environment_name: str | None = None) -> Alert:
    """Alert on the current model endpoint (Merlin's kinds): ``throughput`` (requests/s, fires
    below the threshold), ``latency`` (ms at ``percentile``, default 99), ``error_rate`` (0-1),
    ``cpu`` (cores) or ``memory`` (MiB), firing once it held for ``duration``. Firing and
    resolving are events, JupyterLab notifications and lines of ``%merlin status``."""
    me = _model_endpoint(environment_name)
    body: dict[str, Any] = {"metric": metric, "threshold": threshold, "duration": _duration(duration),
                            "severity": severity}
    if percentile is not None:
        body["percentile"] = percentile
    return Alert(_client().post(f"/models/{me['model_id']}/endpoints/{me['id']}/alerts", body))


def list_alerts() -> ResourceList:
    """Every alert of the current model, with its state (ok or firing) and last value."""
    return ResourceList(Alert(a) for a in _client().get(f"/models/{active_model().id}/alerts"))


def firing_lines() -> list[str]:
    """One sentence per firing alert of the current model (for ``%merlin status``)."""
    try:
        alerts = _client().get(f"/models/{active_model().id}/alerts")
    except MerlinError:
        return []
    return [f"ALERT {a['severity']}: {a['metric']} is {a['value']} (threshold {a['threshold']:g}) "
            f"since {a['fired_at']}" for a in alerts if a["state"] == "firing"]
