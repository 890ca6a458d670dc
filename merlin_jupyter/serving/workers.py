"""Pre-forked workers: the model is loaded once in the parent, then each child forks with it.

Every child binds its own ``SO_REUSEPORT`` socket on the same port, so the kernel spreads
connections across workers (one listening socket shared after fork lets keep-alive connections
pile onto one child). The parent only supervises: it respawns a worker that dies, and on SIGTERM
it asks every worker to drain (stop accepting, finish in-flight requests) and exits.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import time
from typing import Callable

import tornado.httpserver
import tornado.web

log = logging.getLogger("merlin.serving")
CRASH_WINDOW = 2.0  # a worker dying sooner than this after its start counts as a crash loop
MAX_QUICK_DEATHS = 5


def check_port_free(host: str, port: int, shared: bool = False) -> None:
    """Raise OSError if another process listens on the port.

    ``shared``: only another revision of this endpoint may (it listens with SO_REUSEPORT too).
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if shared:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        probe.bind((host, port))


def listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


class Supervisor:
    def __init__(self, make_app: Callable[[], tornado.web.Application], host: str, port: int,
                 workers: int, grace: float = 10.0, on_death: Callable[[int], None] | None = None,
                 active: Callable[[], int] = lambda: 0):
        self.make_app, self.host, self.port = make_app, host, port
        self.workers, self.grace, self.on_death, self.active = workers, grace, on_death, active
        self.children: dict[int, float] = {}
        self.stopping = False
        self.quick_deaths = 0

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        for _ in range(self.workers):
            self._spawn()
        while self.children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            self._reap(pid, status)
        return 0 if self.stopping else 1

    def _stop(self, signum: int, frame: object) -> None:
        self.stopping = True
        for pid in list(self.children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def _reap(self, pid: int, status: int) -> None:
        started = self.children.pop(pid, None)
        if started is None:
            return
        if self.on_death:
            self.on_death(pid)
        if self.stopping:
            return
        how = f"was killed by signal {-os.waitstatus_to_exitcode(status)}" if os.WIFSIGNALED(status) \
            else f"exited with code {os.waitstatus_to_exitcode(status)}"
        self.quick_deaths = self.quick_deaths + 1 if time.monotonic() - started < CRASH_WINDOW else 0
        if self.quick_deaths >= MAX_QUICK_DEATHS:
            print(f"merlin-serving: failed: workers keep dying right after they start (last one {how}).",
                  file=sys.stderr, flush=True)
            self._stop(signal.SIGTERM, None)
            return
        log.warning("worker %s %s; starting a new one", pid, how)
        self._spawn()

    def _spawn(self) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = self._serve()
            except BaseException:  # noqa: BLE001 - a child never returns into the parent's code
                logging.getLogger("merlin.serving").exception("worker failed")
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        self.children[pid] = time.monotonic()

    def _serve(self) -> int:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        asyncio.run(self._worker())
        return 0

    async def _worker(self) -> None:
        server = tornado.httpserver.HTTPServer(self.make_app(), idle_connection_timeout=60)
        server.add_sockets([listen(self.host, self.port)])
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        server.stop()  # no new connections; in-flight requests finish below
        # Keep-alive clients (the local router) would go on sending on their open connections and
        # keep this worker busy until the grace period ends: answer the rest with Connection: close.
        server.conn_params.no_keep_alive = True
        deadline = time.monotonic() + self.grace
        while self.active() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.05)  # let the last responses flush
