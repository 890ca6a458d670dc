"""The one seam for local processes: start detached, check, stop, read their logs.

Model servers run in their own session, so they outlive the Jupyter server that started them
and are re-adopted by pid (plus start time, so a recycled pid is never mistaken for ours).
Logs are created readable by their owner only: they hold whatever a model prints.
"""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
from collections import deque
from dataclasses import dataclass

import psutil


@dataclass
class Exit:
    code: int

    def describe(self) -> str:
        if self.code < 0:
            try:
                name = signal.Signals(-self.code).name
            except ValueError:
                name = f"signal {-self.code}"
            return f"was killed by {name}"
        return f"exited with code {self.code}"


class ProcessTable:
    """Starts processes and remembers the ones it started, to read their exit codes."""

    def __init__(self) -> None:
        self._children: dict[int, subprocess.Popen] = {}

    def spawn(self, cmd: list[str], env: dict[str, str], log_path: str, cwd: str | None = None) -> tuple[int, float]:
        """Start ``cmd`` detached with output appended to ``log_path``; returns (pid, start time)."""
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, cwd=cwd, start_new_session=True, close_fds=True,
            )
        finally:
            os.close(log)
        self._children[proc.pid] = proc
        return proc.pid, _create_time(proc.pid)

    def exit_of(self, pid: int) -> Exit | None:
        """The exit of a process this table started, once it has ended (None while it runs)."""
        proc = self._children.get(pid)
        if proc is None or proc.poll() is None:
            return None
        return Exit(proc.returncode)

    def alive(self, pid: int, started: float | None) -> bool:
        if pid in self._children:
            return self._children[pid].poll() is None
        try:
            proc = psutil.Process(pid)
            if proc.status() == psutil.STATUS_ZOMBIE:
                return False
            return started is None or abs(proc.create_time() - started) < 1.0
        except psutil.Error:
            return False

    async def stop(self, pid: int, started: float | None, grace: float = 10.0) -> None:
        """SIGTERM the process group (the server drains), SIGKILL after ``grace`` seconds."""
        if not self.alive(pid, started):
            proc = self._children.pop(pid, None)
            if proc is not None:
                proc.poll()
                # The leader was ours and is reaped now: what is left of its group (workers
                # outliving a killed supervisor) goes too. Its pgid cannot have been reused
                # while the group still has members.
                _signal_group(pid, signal.SIGKILL, group_only=True)
            return
        _signal_group(pid, signal.SIGTERM)
        deadline = asyncio.get_running_loop().time() + grace
        while self.alive(pid, started) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        if self.alive(pid, started):
            _signal_group(pid, signal.SIGKILL)
            await asyncio.sleep(0.05)
        proc = self._children.pop(pid, None)
        if proc is not None:
            proc.poll()


async def stop_group(pgid: int, leader_alive: bool, grace: float = 10.0) -> None:
    """Stop a process group found by its markers (local_ownership.scan), leader or not."""
    _signal_group(pgid, signal.SIGTERM if leader_alive else signal.SIGKILL, group_only=True)
    deadline = asyncio.get_running_loop().time() + grace
    while _group_exists(pgid) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    if _group_exists(pgid):
        _signal_group(pgid, signal.SIGKILL, group_only=True)
        await asyncio.sleep(0.05)


def _group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    for proc in psutil.process_iter(["pid", "status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                return True
        except OSError:
            continue
    return False  # only zombies are left, waiting for a parent that is not us


def _signal_group(pid: int, sig: signal.Signals, group_only: bool = False) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        if group_only:
            return
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def _create_time(pid: int) -> float:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return 0.0


def client_host(host: str) -> str:
    """The address a client on this machine uses to reach a server bound to ``host``."""
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def tail(path: str, lines: int = 100, start: int = 0) -> list[str]:
    """The last ``lines`` lines of a text file from byte ``start`` on ([] if it does not exist)."""
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as handle:
            if start:
                handle.seek(start)
            return [line.rstrip("\n") for line in deque(handle, maxlen=max(0, lines))]
    except FileNotFoundError:
        return []


def size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
