"""Keeps one warm template process (a zygote) from which every local model server is forked.

The template has imported what model servers need, so a deploy skips seconds of imports, and
its children share its pages (they count once, however many endpoints run). It is never used
up: every deploy forks from the same one. It never outlives its control plane (it watches its
parent pid), and a control plane starting on a data dir stops the template an earlier one left;
the model servers forked from it live on in their own sessions and are found again by the
``<token>-<pid>.assigned`` files the template writes before it answers (local_ownership.scan).
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import tempfile

import psutil

from merlin_jupyter.serving.template import fork_server

from . import local_ownership as own
from .local_process import Exit, ProcessTable

MAX_SOCKET_PATH = 100  # unix socket paths are limited to ~108 bytes
log = logging.getLogger("merlin_jupyter_server.local")


class StandbyPool:
    def __init__(self, processes: ProcessTable, python: str, state_dir: str, owner: str = "",
                 base_env: dict[str, str] | None = None, enabled: bool = True):
        self.processes = processes
        self.enabled = enabled
        self.python = python
        self.dir = os.path.join(state_dir, "standby")
        self.owner = owner
        self.base_env = base_env if base_env is not None else dict(os.environ)
        self._current: tuple[int, float, str, str] | None = None  # pid, started, socket, token
        self.forks: dict[int, str] = {}  # model-server pid -> token of the template it came from

    def _socket_path(self, pid_hint: str) -> str:
        path = os.path.join(self.dir, f"{pid_hint}.sock")
        if len(path) > MAX_SOCKET_PATH:
            path = os.path.join(tempfile.gettempdir(), f"merlin-standby-{os.getuid()}-{pid_hint}.sock")
        return path

    def stop_stale(self) -> list[int]:
        """SIGKILL the unassigned stand-bys of this data dir (none is this control plane's yet)."""
        stopped = []
        for found in own.scan(self.owner, self.dir):
            if found.role != own.STANDBY_ROLE:
                continue
            try:
                os.killpg(found.pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                continue
            log.warning("stopped the stand-by %s an earlier control plane left", found.pgid)
            self._remove(found.token)
            stopped.append(found.pgid)
        return stopped

    def ensure(self) -> None:
        """Start a stand-by unless one is alive (or stand-bys are turned off)."""
        if not self.enabled:
            return
        if self._current and self.processes.alive(self._current[0], self._current[1]):
            return
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        token = f"{os.getpid()}-{os.urandom(4).hex()}"
        path = self._socket_path(token)
        env = {**self.base_env, "PYTHONUNBUFFERED": "1", own.OWNER: self.owner,
               own.ROLE: own.STANDBY_ROLE, own.STANDBY: token}
        pid, started = self.processes.spawn(
            [self.python, "-m", "merlin_jupyter.serving", "--template", path,
             os.path.join(self.dir, f"{token}-")],
            env, os.path.join(self.dir, f"{token}.log"),
        )
        self._current = (pid, started, path, token)

    @property
    def ready(self) -> bool:
        current = self._current
        return bool(current and os.path.exists(current[2]) and self.processes.alive(current[0], current[1]))

    async def take(self, args: list[str], env: dict[str, str], log_file: str,
                   slot: str = "") -> tuple[int, float] | None:
        """Fork the deployment's model server from the template; None when it is not warm yet
        (deploy cold)."""
        if not self.ready:
            self.ensure()
            return None
        token = self._current[3]
        pid = await asyncio.to_thread(fork_server, self._current[2], args, env, log_file, slot)
        if pid is None:
            return None
        self.forks[pid] = token
        return pid, _create_time(pid)

    def exit_of(self, pid: int) -> Exit | None:
        """How a model server forked from a template ended (the template wrote it when it reaped it)."""
        for name in self._names(f"-{pid}.exit"):
            try:
                with open(os.path.join(self.dir, name), encoding="utf-8") as handle:
                    return Exit(int(handle.read().strip()))
            except (OSError, ValueError):
                continue
        return None

    async def wait_exit(self, pid: int, timeout: float = 1.0) -> Exit | None:
        """The exit of a forked server that just ended (its template reaps it within moments)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            found = await asyncio.to_thread(self.exit_of, pid)
            if found is not None or asyncio.get_running_loop().time() >= deadline \
                    or not self._is_zombie_of_a_template(pid):
                return found
            await asyncio.sleep(0.05)

    def _is_zombie_of_a_template(self, pid: int) -> bool:
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    def _names(self, suffix: str) -> list[str]:
        try:
            return [name for name in os.listdir(self.dir) if name.endswith(suffix)]
        except OSError:
            return []

    def forget(self, slot: str) -> None:
        """Remove the files of the stand-by that became ``slot``'s model server (it was stopped)."""
        try:
            names = os.listdir(self.dir)
        except OSError:
            return
        for name in names:
            if name.endswith(".assigned"):
                path = os.path.join(self.dir, name)
                try:
                    with open(path, encoding="utf-8") as handle:
                        if handle.read().strip() == slot:
                            self._remove(name[: -len(".assigned")])
                except OSError:
                    continue

    def forget_dead(self) -> None:
        """Remove the records of forked servers that ended (their exits were read by now)."""
        for name in self._names(".assigned"):
            stem = name[: -len(".assigned")]
            pid = stem.rpartition("-")[2]
            if pid.isdigit() and stem.count("-") >= 2 and not _exists(int(pid)):
                self._remove(stem)

    def _remove(self, token: str) -> None:
        for suffix in (".assigned", ".log", ".exit"):
            try:
                os.unlink(os.path.join(self.dir, token + suffix))
            except OSError:
                pass

    async def close(self) -> None:
        if self._current:
            await self.processes.stop(self._current[0], self._current[1], grace=2)
            self._remove(self._current[3])
            self._current = None


def _create_time(pid: int) -> float:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return 0.0


def _exists(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
