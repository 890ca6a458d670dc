"""The model server's access log: every failure, and successful predictions at a bounded rate.

An endpoint answering a thousand requests a second would otherwise write a line for each (its
log file grows by hundreds of megabytes an hour, and formatting the lines costs CPU on every
request). Successful health and status checks, which the control plane sends every second, are
not logged at all; Prometheus ``/metrics`` has the exact counts.
"""
from __future__ import annotations

import logging
import time
from typing import Any

log = logging.getLogger("tornado.access")


class AccessLog:
    def __init__(self, interval: float = 1.0, clock=time.monotonic):
        self.interval = interval
        self.clock = clock
        self._last = float("-inf")
        self._quiet = 0  # successful predictions not logged since the last line

    def __call__(self, handler: Any) -> None:
        # The line is formatted only when it is written: most predictions are not.
        status = handler.get_status()
        request = handler.request
        if status >= 400:
            log.log(logging.ERROR if status >= 500 else logging.WARNING, _line(status, request))
            return
        if request.method != "POST":
            return
        now = self.clock()
        if now - self._last < self.interval:
            self._quiet += 1
            return
        line = _line(status, request)
        if self._quiet:
            line += f" (and {self._quiet} more answered since the last line)"
        self._last, self._quiet = now, 0
        log.info(line)


def _line(status: int, request: Any) -> str:
    return f"{status} {request.method} {request.uri} ({request.remote_ip}) {1000 * request.request_time():.2f}ms"
