"""Keeps one warm model-server process ready, so a local deploy skips seconds of imports."""
from __future__ import annotations

import asyncio
import os
import tempfile

from merlin_jupyter.serving.standby import assign

from .local_process import ProcessTable

MAX_SOCKET_PATH = 100  # unix socket paths are limited to ~108 bytes


class StandbyPool:
    def __init__(self, processes: ProcessTable, python: str, state_dir: str):
        self.processes = processes
        self.python = python
        self.dir = os.path.join(state_dir, "standby")
        self._current: tuple[int, float, str] | None = None

    def _socket_path(self, pid_hint: str) -> str:
        path = os.path.join(self.dir, f"{pid_hint}.sock")
        if len(path) > MAX_SOCKET_PATH:
            path = os.path.join(tempfile.gettempdir(), f"merlin-standby-{os.getuid()}-{pid_hint}.sock")
        return path

    def ensure(self) -> None:
        """Start a stand-by unless one is alive."""
        if self._current and self.processes.alive(self._current[0], self._current[1]):
            return
        os.makedirs(self.dir, exist_ok=True)
        token = f"{os.getpid()}-{os.urandom(4).hex()}"
        path = self._socket_path(token)
        pid, started = self.processes.spawn(
            [self.python, "-m", "merlin_jupyter.serving", "--standby", path],
            dict(os.environ, PYTHONUNBUFFERED="1"), os.path.join(self.dir, f"{token}.log"),
        )
        self._current = (pid, started, path)

    async def take(self, args: list[str], env: dict[str, str], log: str) -> tuple[int, float] | None:
        """Give the deployment to the warm stand-by; None when none is ready (deploy cold)."""
        current = self._current
        if current is None or not os.path.exists(current[2]) or not self.processes.alive(current[0], current[1]):
            self.ensure()
            return None
        self._current = None
        taken = await asyncio.to_thread(assign, current[2], args, env, log)
        self.ensure()  # the next deploy gets a fresh stand-by
        return (current[0], current[1]) if taken else None

    async def close(self) -> None:
        if self._current:
            await self.processes.stop(self._current[0], self._current[1], grace=2)
            self._current = None
