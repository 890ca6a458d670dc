"""Worker processes between ``min_replica`` and ``max_replica``, like Knative's autoscaler.

The supervisor measures what its workers do (requests in flight and finished, counted by each
worker in a shared page; CPU time from ``/proc``) and adds or retires workers to meet the
endpoint's autoscaling policy: ``concurrency`` (requests in flight per worker), ``rps``
(requests per second per worker) or ``cpu_utilization`` (percent of one core per worker).
Scaling up looks at a short (panic) window, scaling down at the whole stable window, as Knative
does (60 s and 6 s by default). Like Knative's scale-down delay, the count never drops below the
highest count the panic window asked for during the last stable window: a load that hovers around a
worker's target (a client-limited one) keeps its workers instead of going 1, 2, 1, 2.

With ``min_replica: 0`` the endpoint scales to zero after ``idle`` seconds without a request:
every worker exits, and the supervisor, which never loaded the model in that mode (each worker
loads its own), keeps only the listening socket. A request that arrives then waits in that
socket's queue while a worker starts, and is answered by it: held, never refused.
"""
from __future__ import annotations

import json
import math
import mmap
import os
import select
import signal
import socket
import struct
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from .workers import Supervisor, exited_children

SLOTS = 128  # worker slots in the shared page: (pid, in flight, finished)
_SLOT = struct.Struct("qqq")
TICK = 0.5  # seconds between measurements
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
METRICS = ("concurrency", "rps", "cpu_utilization", "memory_utilization")


@dataclass
class Policy:
    low: int = 1
    high: int = 1
    metric: str = "concurrency"
    target: float = 1.0
    window: float = 60.0  # Knative's stable window
    idle: float = 60.0  # seconds without a request before scaling to zero (low == 0)

    @property
    def initial(self) -> int:
        return max(self.low, 1)  # Knative's initial scale: one worker, even for min 0

    @property
    def panic_window(self) -> float:
        return max(self.window / 10, 2 * TICK)


class Load:
    """Per-worker counters in an anonymous shared mapping made before the workers fork."""

    def __init__(self) -> None:
        self.page = mmap.mmap(-1, SLOTS * _SLOT.size)
        self.slot = -1  # this worker's slot, set by the supervisor just before it forks

    def _get(self, slot: int) -> tuple[int, int, int]:
        return _SLOT.unpack_from(self.page, slot * _SLOT.size)

    def _set(self, slot: int, pid: int, inflight: int, done: int) -> None:
        _SLOT.pack_into(self.page, slot * _SLOT.size, pid, inflight, done)

    def claim(self) -> int:
        for slot in range(SLOTS):
            if self._get(slot)[0] == 0:
                self._set(slot, -1, 0, 0)
                return slot
        return -1

    def assign(self, slot: int, pid: int) -> None:
        if slot >= 0:
            _, inflight, done = self._get(slot)
            self._set(slot, pid, inflight, done)

    def release(self, pid: int) -> int:
        """Free a dead worker's slot; returns the requests it finished (kept in the totals)."""
        for slot in range(SLOTS):
            found, _, done = self._get(slot)
            if found == pid:
                self._set(slot, 0, 0, 0)
                return done
        return 0

    # -- in a worker, once per request --------------------------------------------------------
    def started(self) -> None:
        if self.slot >= 0:
            pid, inflight, done = self._get(self.slot)
            self._set(self.slot, pid, inflight + 1, done)

    def finished(self) -> None:
        if self.slot >= 0:
            pid, inflight, done = self._get(self.slot)
            self._set(self.slot, pid, max(0, inflight - 1), done + 1)

    def totals(self) -> tuple[int, int]:
        inflight = done = 0
        for slot in range(SLOTS):
            pid, flight, finished = self._get(slot)
            if pid:
                inflight, done = inflight + flight, done + finished
        return inflight, done


class CountingGauge:
    """The in-flight gauge every request already moves, also counted in the shared page."""

    def __init__(self, inner: Any, load: Load) -> None:
        self.inner, self.load = inner, load

    def inc(self, amount: float = 1) -> None:
        self.inner.inc(amount)
        self.load.started()

    def dec(self, amount: float = 1) -> None:
        self.inner.dec(amount)
        self.load.finished()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def desired(policy: Policy, samples: "deque[tuple[float, int, int, float, int]]", now: float) -> tuple[int, int]:
    """(workers wanted by the stable window, by the panic window) from (time, in flight,
    finished, cpu seconds, workers) samples."""
    def over(seconds: float) -> int:
        window = [s for s in samples if now - s[0] <= seconds]
        if len(window) < 2:
            return 0
        first, last = window[0], window[-1]
        span = max(last[0] - first[0], 1e-6)
        target = max(policy.target, 1e-6)
        if policy.metric == "rps":
            return math.ceil((last[2] - first[2]) / span / target)
        if policy.metric == "cpu_utilization":
            busy = (last[3] - first[3]) / span  # cores in use
            return math.ceil(busy * 100 / target)
        # concurrency (and memory_utilization, which has no local measure: see the deployer)
        return math.ceil(sum(s[1] for s in window) / len(window) / target)

    return over(policy.window), over(policy.panic_window)


class Scaler:
    """The worker count the policy asks for, from one sample per tick (no processes here)."""

    def __init__(self, policy: Policy, now: float) -> None:
        self.policy = policy
        self.samples: deque = deque()  # (time, in flight, finished, cpu seconds, workers)
        self.panics: deque = deque()  # (time, the count the panic window asked for)
        self.last_active = self.last_change = now

    def reset(self, now: float) -> None:
        """A wake from zero: what was measured before it says nothing about the load now."""
        self.samples.clear()
        self.panics.clear()
        self.last_active = self.last_change = now

    def step(self, now: float, inflight: int, done: int, cpu: float, serving: int,
             waiting: bool = False) -> int | None:
        """Record a sample; the count to scale to, or None to stay. ``waiting``: a connection
        waits in the socket's queue (a worker still loading the model has not taken it yet)."""
        self.samples.append((now, inflight, done, cpu, serving))
        while self.samples and now - self.samples[0][0] > self.policy.window:
            self.samples.popleft()
        if waiting or (len(self.samples) >= 2 and (inflight or self.samples[-2][2] != done)):
            self.last_active = now
        if not serving:
            return None
        stable, panic = desired(self.policy, self.samples, now)
        self.panics.append((now, panic))
        while now - self.panics[0][0] > self.policy.window:
            self.panics.popleft()
        if max(stable, panic) > serving:
            count = min(self.policy.high, max(stable, panic))
        elif self.policy.low == 0 and not inflight and now - self.last_active >= self.policy.idle:
            count = 0
        elif now - self.last_change >= self.policy.window:
            # Knative's scale-down delay: down only to the most any panic window of the last
            # stable window asked for (a brief dip of a steady load is no reason to retire).
            count = min(serving, max(self.policy.low, 1, stable, max(p for _, p in self.panics)))
        else:
            return None
        if count == serving:
            return None
        self.last_change = now
        return count


class ScalingSupervisor(Supervisor):
    """A Supervisor whose worker count follows the policy (and may be zero)."""

    def __init__(self, make_app: Callable, host: str, port: int, policy: Policy, load: Load,
                 waker: socket.socket | None = None, state_file: str = "", **kwargs: Any):
        super().__init__(make_app, host, port, policy.initial, sock=waker, **kwargs)
        self.policy, self.load, self.waker, self.state_file = policy, load, waker, state_file
        self.retiring: set[int] = set()
        self.scaler = Scaler(policy, time.monotonic())
        self.cpu: dict[int, float] = {}  # worker pid -> its last CPU seconds
        self.cpu_total = 0.0
        self.done_by_dead = 0
        self.last_wake: str | None = None
        self.wakes = 0
        self._state: dict[str, Any] = {}

    # -- the hooks of Supervisor --------------------------------------------------------------
    def _spawn(self) -> None:
        self.load.slot = self.load.claim()  # the child keeps this value
        before = set(self.children)
        super()._spawn()
        for pid in set(self.children) - before:
            self.load.assign(self.load.slot, pid)
        self.load.slot = -1

    def _serve(self, slot: int) -> int:
        # In the new worker: the supervisor's wake-up plumbing is not its own.
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        return super()._serve(slot)

    def _reap(self, pid: int, status: int) -> None:
        self.done_by_dead += self.load.release(pid)
        self.cpu.pop(pid, None)
        if pid in self.retiring:
            self.retiring.discard(pid)
            if self.children.pop(pid, None) is not None:
                self.board.release(self.slots.pop(pid))
            if self.on_death:
                self.on_death(pid)
            return
        super()._reap(pid, status)

    # -- the loop --------------------------------------------------------------------------
    @property
    def serving(self) -> list[int]:
        return [pid for pid in self.children if pid not in self.retiring]

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # only to wake the select below
        self.listen()
        for _ in range(self.workers):
            self._spawn()
        self._write_state()
        while True:
            self._reap_all()
            if self.stopping and not self.children:
                break
            if not self.children and (self.waker is None or self.stopping):
                break
            watch = [wake_r]
            at_zero = not self.children and not self.stopping
            if at_zero:
                watch.append(self.waker)
            try:
                ready, _, _ = select.select(watch, [], [], TICK)
            except InterruptedError:
                ready = []
            try:
                os.read(wake_r, 4096)
            except BlockingIOError:
                pass
            if at_zero and self.waker in ready:
                self._wake()
            if not self.stopping:
                self._tick()
        self._write_state()
        return 0 if self.stopping else 1

    def _reap_all(self) -> None:
        for pid, status in exited_children():
            self._reap(pid, status)

    def _wake(self) -> None:
        """A request reached an endpoint scaled to zero: it waits in the socket for a worker."""
        self.wakes += 1
        self.last_wake = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.scaler.reset(time.monotonic())
        self._spawn()
        self._write_state()

    def scale(self, count: int) -> None:
        """Start or retire workers until ``count`` serve (a retired worker drains first)."""
        serving = self.serving
        for _ in range(count - len(serving)):
            self._spawn()
        for pid in sorted(serving, key=lambda p: self.children[p], reverse=True)[:max(0, len(serving) - count)]:
            self.retiring.add(pid)
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        if count != len(serving):
            self._write_state()

    def _tick(self) -> None:
        self._write_state()  # retired workers may have ended since
        inflight, done = self.load.totals()
        serving = self.serving
        count = self.scaler.step(time.monotonic(), inflight, done + self.done_by_dead,
                                 self._cpu_seconds(serving), len(serving), self._waiting())
        if count is not None:
            self.scale(count)

    def _waiting(self) -> bool:
        """Whether a connection waits to be accepted. The request that woke an endpoint at zero
        waits so until its worker has loaded the model: were that slower than ``idle``, the
        endpoint would otherwise go back to zero under it, wake again, and never answer."""
        if self.waker is None:
            return False
        try:
            return bool(select.select([self.waker], [], [], 0)[0])
        except (OSError, ValueError):
            return False

    def _cpu_seconds(self, pids: list[int]) -> float:
        for pid in pids:
            try:
                with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
                    fields = handle.read().rpartition(")")[2].split()
                seconds = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
            except (OSError, IndexError, ValueError):
                continue
            self.cpu_total += max(0.0, seconds - self.cpu.get(pid, 0.0))
            self.cpu[pid] = seconds
        return self.cpu_total

    def _write_state(self) -> None:
        if not self.state_file:
            return
        state = {"workers": len(self.serving), "min_workers": self.policy.low,
                 "max_workers": self.policy.high, "metric": self.policy.metric,
                 "target": self.policy.target, "scaled_to_zero": not self.serving and self.waker is not None,
                 "last_wake": self.last_wake, "wakes": self.wakes}
        if state == self._state:
            return
        self._state = state
        try:
            tmp = f"{self.state_file}.tmp"
            with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
                json.dump(state, handle)
            os.replace(tmp, self.state_file)
        except OSError:
            pass  # the control plane then shows no scaling details; serving goes on
