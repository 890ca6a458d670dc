"""The control plane's second loop, beside the reconciler: every ``interval`` seconds it scrapes
the local model servers and router into the metrics history, then drives the guarded rollouts
and evaluates the alerts on those numbers. Rollouts and alerts are rows in the store, so this
loop picks them up again after a restart; it never deploys anything itself (a rollout changes a
traffic rule, which the reconciler applies).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

from .background import BackgroundLoop

log = logging.getLogger("merlin_jupyter_server.observer")


class Observer(BackgroundLoop):
    task_name = "merlin-observer"

    def __init__(self, jobs: list[Callable[[], Awaitable[None]]], interval: float = 5.0):
        self.jobs, self.interval = jobs, interval

    async def run_once(self) -> None:
        for job in self.jobs:  # in order: fresh numbers first, then what is judged on them
            try:
                async with asyncio.timeout(max(self.interval * 4, 10.0)):
                    await job()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - one bad pass must not stop observing
                log.exception("observer job %s failed; retrying", getattr(job, "__qualname__", job))

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            began = loop.time()
            await self.run_once()
            await asyncio.sleep(max(0.05, self.interval - (loop.time() - began)))
