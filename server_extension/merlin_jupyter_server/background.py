"""A loop of the control plane's that runs as one asyncio task: started once, cancelled on stop."""
from __future__ import annotations

import asyncio


class BackgroundLoop:
    """``_run`` is the loop; ``start`` and ``stop`` are idempotent."""

    task_name = "merlin-loop"

    _task: asyncio.Task | None = None

    @property
    def running(self) -> bool:
        return self._task is not None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self.task_name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        # Asked again until it ends: on Python 3.11, asyncio.wait_for inside the loop swallows a
        # cancellation that lands as its awaitable finishes, and the loop would then run on.
        while task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task], timeout=1)

    async def _run(self) -> None:  # pragma: no cover - each loop has its own
        raise NotImplementedError
