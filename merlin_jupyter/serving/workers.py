"""Pre-forked workers: the model is loaded once in the parent, then each child forks with it.

The supervisor binds one listening socket before it forks, and every worker accepts from it
fairly (``balance.py``: a worker with more open connections than another lets that one take the
next), so keep-alive connections spread evenly and p99 does not depend on where they landed.
The parent only supervises: it respawns a worker that dies, adds and removes workers when asked
(``add_worker`` / ``remove_worker``), and on SIGTERM it asks every worker to drain (stop
accepting, finish in-flight requests) and exits.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import time
from typing import Callable, Iterator

import tornado.httpserver
import tornado.web

from . import request_log
from .balance import Board, CountedServer, FairAcceptor, shared_socket

log = logging.getLogger("merlin.serving")
CRASH_WINDOW = 2.0  # a worker dying sooner than this after its start counts as a crash loop
MAX_QUICK_DEATHS = 5
# How long a draining worker leaves idle keep-alive connections for their clients to close. The
# local router drops its idle connections after 2 s (upstream.IDLE_KEEPALIVE); closing one
# from this side while the router sends on it would lose that request.
HANG_UP_WAIT = 5.0


def check_port_free(host: str, port: int, shared: bool = False) -> None:
    """Raise OSError if another process listens on the port.

    ``shared``: only another revision of this endpoint may (it listens with SO_REUSEPORT too).
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if shared:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        probe.bind((host, port))


def exited_children() -> Iterator[tuple[int, int]]:
    """(pid, wait status) of every child that has ended, without blocking."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        yield pid, status


class Supervisor:
    def __init__(self, make_app: Callable[[], tornado.web.Application], host: str, port: int,
                 workers: int, grace: float = 10.0, on_death: Callable[[int], None] | None = None,
                 active: Callable[[], int] = lambda: 0, sock: socket.socket | None = None):
        self.make_app, self.host, self.port = make_app, host, port
        self.workers, self.grace, self.on_death, self.active = workers, grace, on_death, active
        self.children: dict[int, float] = {}  # pid -> when it started
        self.slots: dict[int, int] = {}  # pid -> its slot on the connection board
        self.stopping = False
        self.quick_deaths = 0
        self.board = Board()
        self.sock = sock  # autoscale's scale-to-zero holds it while no worker runs
        self._removing: set[int] = set()

    def listen(self) -> socket.socket:
        """The one socket every worker accepts from (bound before the first fork, or given)."""
        if self.sock is None:
            self.sock = shared_socket(self.host, self.port)
        return self.sock

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        self.listen()
        for _ in range(self.workers):
            self._spawn()
        while self.children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            self._reap(pid, status)
        return 0 if self.stopping else 1

    def add_worker(self) -> int:
        """Fork one more worker (it accepts at once, from the same socket); returns its pid."""
        self.workers += 1
        return self._spawn()

    def remove_worker(self, pid: int | None = None) -> int | None:
        """Drain one worker (the newest unless ``pid`` is given) and do not replace it. Its open
        connections finish as on SIGTERM; new ones go to the others. Returns its pid."""
        live = [p for p in self.children if p not in self._removing]
        if len(live) <= 1:
            return None  # the last worker is stopped with the server, not here
        pid = pid if pid in live else live[-1]
        self._removing.add(pid)
        self.workers -= 1
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        return pid

    def _stop(self, signum: int, frame: object) -> None:
        self.stopping = True
        if self.sock is not None:
            self.sock.close()  # with the workers' copies closed too, the port stops taking connections
        for pid in list(self.children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def _reap(self, pid: int, status: int) -> None:
        started = self.children.pop(pid, None)
        if started is None:
            return
        self.board.release(self.slots.pop(pid))
        if self.on_death:
            self.on_death(pid)
        if self.stopping or pid in self._removing:
            self._removing.discard(pid)
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

    def _spawn(self) -> int:
        sys.stdout.flush()
        sys.stderr.flush()
        slot = self.board.claim()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = self._serve(slot)
            except BaseException:  # noqa: BLE001 - a child never returns into the parent's code
                logging.getLogger("merlin.serving").exception("worker failed")
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        self.children[pid] = time.monotonic()
        self.slots[pid] = slot
        return pid

    def _serve(self, slot: int) -> int:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        asyncio.run(self._worker(slot))
        request_log.close()  # what the request log still holds is written before the worker exits
        return 0

    async def _worker(self, slot: int) -> None:
        server = CountedServer(self.make_app(), idle_connection_timeout=60)
        acceptor = FairAcceptor(self.sock, server, self.board, slot)
        acceptor.start()
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        acceptor.stop()  # no new connections; in-flight requests finish below
        # Keep-alive clients (the local router) would go on sending on their open connections and
        # keep this worker busy until the grace period ends: answer the rest with Connection: close.
        server.conn_params.no_keep_alive = True
        deadline = time.monotonic() + self.grace
        while self.active() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        # Idle keep-alive connections stay open until their clients hang up (a request sent on
        # one is answered, with Connection: close), so no request meets a closing connection.
        deadline = min(deadline, time.monotonic() + HANG_UP_WAIT)
        while (self.active() or _open_connections(server)) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.05)  # let the last responses flush


def _open_connections(server: tornado.httpserver.HTTPServer) -> int:
    # tornado keeps no public count; _connections is the set close_all_connections() empties.
    return len(getattr(server, "_connections", ()))
