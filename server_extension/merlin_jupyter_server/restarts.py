"""How a crashed deployment is restarted: with back-off, like a kubelet's CrashLoopBackOff.

The history lives in the endpoint's handle (``handle["restarts"]``), so it survives a restart of
the control plane, and a crash counts the same whoever started the process that crashed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class RestartPolicy:
    backoff: float = 1.0  # seconds before the first restart; doubles with each crash...
    cap: float = 300.0  # ...up to this
    limit: int = 5  # this many crashes within ``window`` seconds fail the endpoint
    window: float = 600.0

    def after_crash(self, history: dict[str, Any] | None, now: float, how: str) -> dict[str, Any]:
        """The history with this crash added: when to try again, and why."""
        crashes = [t for t in (history or {}).get("crashes", []) if now - t < self.window]
        crashes.append(now)
        delay = min(self.cap, self.backoff * 2 ** (len(crashes) - 1))
        return {"crashes": crashes, "restart_at": now + delay, "delay": delay, "last": how}

    def gives_up(self, history: dict[str, Any]) -> bool:
        return len(history.get("crashes", [])) >= self.limit

    def window_words(self) -> str:
        return f"{self.window / 60:g} minutes" if self.window >= 60 else f"{self.window:g} s"
