"""The live view of a guarded rollout: its step, the two versions' metrics side by side, and
Pause / Resume / Abort buttons. It polls the control plane from a thread; the rollout itself
runs there and goes on whether or not this widget is shown."""
from __future__ import annotations

import html
import threading
import time
from datetime import datetime
from typing import Any

from .client import MerlinError

STATUS_COLORS = {"running": "#1565c0", "paused": "#b58900", "completed": "#2e7d32",
                 "rolled_back": "#c62828", "aborted": "#757575"}
MAX_SECONDS = 6 * 3600  # a forgotten widget stops polling eventually


class RolloutWidget:
    def __init__(self, rollout: Any, interval: float = 2.0):
        import ipywidgets as w

        self.rollout, self.interval = rollout, interval
        self.view = w.HTML()
        self.pause = w.Button(description="Pause", icon="pause")
        self.resume = w.Button(description="Resume", icon="play")
        self.abort = w.Button(description="Abort", icon="stop", button_style="danger")
        self.pause.on_click(lambda _: self._act(rollout.pause))
        self.resume.on_click(lambda _: self._act(rollout.resume))
        self.abort.on_click(lambda _: self._act(rollout.abort))
        self.box = w.VBox([self.view, w.HBox([self.pause, self.resume, self.abort])])
        self._stop = threading.Event()

    def show(self) -> "RolloutWidget":
        from IPython.display import display

        self.render()
        display(self.box)
        self.thread = threading.Thread(target=self._poll, daemon=True, name="merlin-rollout-widget")
        self.thread.start()
        return self

    def _act(self, action) -> None:
        try:
            action()
        except MerlinError as exc:
            self.view.value += f"<div style='color:#c62828'>{html.escape(str(exc))}</div>"
            return
        self.render()

    def _poll(self) -> None:
        deadline = time.monotonic() + MAX_SECONDS
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                self.rollout.refresh()
                self.render()
            except MerlinError:
                pass
            if self.rollout.done:
                return
            self._stop.wait(self.interval)

    def render(self) -> None:
        r = self.rollout
        self.view.value = render_html(r.to_dict(), _versions(r))
        active = not r.done
        self.pause.disabled = not active or r.status == "paused"
        self.resume.disabled = r.status != "paused"
        self.abort.disabled = not active


def _window(step_started_at: str | None, now: float | None = None) -> int:
    """Seconds since the current step began (what the guard judges), 10 s to 1 h."""
    if not step_started_at:
        return 60
    began = datetime.fromisoformat(step_started_at.replace("Z", "+00:00")).timestamp()
    return int(min(max((now or time.time()) - began, 10), 3600))


def _versions(rollout: Any) -> dict[int, dict[str, Any]]:
    """Both versions' numbers over the current step, one point each."""
    from .fluent import _client

    seconds = _window(rollout.to_dict().get("step_started_at"))
    try:
        data = _client().get(f"/models/{rollout.model_id}/endpoints/{rollout.model_endpoint_id}/metrics",
                             since=f"{seconds}s", step=f"{seconds}s")
    except MerlinError:
        return {}
    return {p["version"]: p for p in data.get("points", []) if p.get("requests")}


def render_html(r: dict[str, Any], versions: dict[int, dict[str, Any]]) -> str:
    color = STATUS_COLORS.get(r["status"], "inherit")
    steps = " → ".join(f"<b>{s}%</b>" if i == r["step_index"] else f"{s}%" for i, s in enumerate(r["steps"]))
    limits = ", ".join(f"{k} ≤ {v:g}" for k, v in r["guard"].items())
    rows = []
    for label, key in (("requests/s", "rps"), ("error rate", "error_rate"), ("p50 ms", "p50_ms"),
                       ("p95 ms", "p95_ms"), ("p99 ms", "p99_ms")):
        cells = "".join(f"<td style='text-align:right'>{_fmt(versions.get(v, {}).get(key))}</td>"
                        for v in (r["old_version"], r["new_version"]))
        rows.append(f"<tr><th style='text-align:left'>{label}</th>{cells}</tr>")
    message = html.escape(r.get("message") or "")
    weight = r["steps"][r["step_index"]] if 0 <= r["step_index"] < len(r["steps"]) else 0
    return (f"<div><b>Rollout {r['id']}</b>: version {r['old_version']} → {r['new_version']} "
            f"<span style='color:{color};font-weight:bold'>{html.escape(r['status'])}</span></div>"
            f"<div>steps {steps} (version {r['new_version']} gets {weight} %), bake {r['bake_seconds']:g} s, "
            f"guard {html.escape(limits)}</div>"
            f"<table><thead><tr><th></th><th>v{r['old_version']} (old)</th><th>v{r['new_version']} (new)</th>"
            f"</tr></thead><tbody>{''.join(rows)}</tbody></table><div>{message}</div>")


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:.3g}" if isinstance(value, float) else html.escape(str(value))
