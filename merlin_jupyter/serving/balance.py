"""Fair accept: every worker takes new connections from one listening socket, and a worker
accepts only while no other worker holds fewer open connections.

Keep-alive clients (wrk, the local router, a service's connection pool) open their connections
once and send every request on them, so where a connection lands decides a worker's share of
the load for its whole life. With one ``SO_REUSEPORT`` socket per worker the kernel spreads
connections by a hash of their addresses: 8 connections on 2 workers split 1/7 as often as 4/4,
and p99 followed the split (92 ms at 1/7, 13-17 ms at 4/4). A single shared socket accepted by
whichever worker wakes first is no better (one worker takes the whole burst). Here each worker's
count of open connections sits in a shared memory board, and a worker that has more than the
fewest lets the others take the next connection, for at most ``MAX_DEFER`` seconds (a worker
stuck in a long prediction must not hold up new connections).
"""
from __future__ import annotations

import asyncio
import mmap
import socket
import time
from typing import Any

import tornado.httpserver
import tornado.iostream

SLOTS = 256  # worker slots on a board: more workers than any machine here has cores
MAX_DEFER = 0.02  # seconds a worker with more connections than another waits before accepting
RETRY = 0.0005  # seconds between looks while another worker should take the connection
RETIRED = 1 << 40  # added to a draining worker's count: the others no longer wait for it


class Board:
    """Open connections per worker slot, shared by the supervisor and its forked workers.

    Each slot has one writer (its worker; the supervisor only while no worker holds it), and a
    stale read only delays an accept, so no lock is needed. A free slot holds -1."""

    def __init__(self, slots: int = SLOTS):
        self._memory = mmap.mmap(-1, 8 * slots)  # anonymous and shared: inherited across fork
        self._counts = memoryview(self._memory).cast("q")
        for slot in range(slots):
            self._counts[slot] = -1

    def claim(self) -> int:
        """A free slot, now counting zero connections (the supervisor, before it forks a worker)."""
        for slot, count in enumerate(self._counts):
            if count < 0:
                self._counts[slot] = 0
                return slot
        raise RuntimeError(f"no free worker slot (at most {len(self._counts)} workers)")

    def release(self, slot: int) -> None:
        """The slot's worker is gone (the supervisor, once it reaped it)."""
        self._counts[slot] = -1

    def add(self, slot: int, delta: int) -> None:
        self._counts[slot] += delta

    def retire(self, slot: int) -> None:
        """The slot's worker accepts no more connections (it drains)."""
        self._counts[slot] += RETIRED

    def count(self, slot: int) -> int:
        return self._counts[slot]

    def fewest(self) -> int:
        """The fewest open connections of a worker still accepting."""
        return min((count for count in self._counts if 0 <= count < RETIRED), default=0)

    def counts(self) -> list[int]:
        """Open connections of each worker still accepting (for tests and diagnostics)."""
        return [count for count in self._counts if 0 <= count < RETIRED]


def shared_socket(host: str, port: int, backlog: int = 1024) -> socket.socket:
    """The one listening socket of every worker. ``SO_REUSEPORT`` still, so the next revision of
    the endpoint can bind the same port during a redeploy."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


class CountedServer(tornado.httpserver.HTTPServer):
    """tornado's HTTP server, telling the board when one of its connections closes."""

    board: Board
    slot: int

    def on_close(self, server_conn: Any) -> None:
        super().on_close(server_conn)
        self.board.add(self.slot, -1)


class FairAcceptor:
    """Accepts connections from ``sock`` for ``server`` (one worker), one per readiness event."""

    def __init__(self, sock: socket.socket, server: CountedServer, board: Board, slot: int):
        self.sock, self.server, self.board, self.slot = sock, server, board, slot
        server.board, server.slot = board, slot
        self._loop = asyncio.get_running_loop()
        self._deferred_since: float | None = None
        self._stopped = False

    def start(self) -> None:
        self._loop.add_reader(self.sock.fileno(), self._ready)

    def stop(self) -> None:
        """No new connections from here on; the worker's copy of the socket is closed (the
        kernel drops the socket once the supervisor and every worker closed theirs)."""
        if not self._stopped:
            self._stopped = True
            self.board.retire(self.slot)
            self._loop.remove_reader(self.sock.fileno())
            # Connections the kernel queued on this socket and nobody accepted yet would be reset
            # when its last copy closes (a redeploy's old revision, or a worker deferring to a
            # less busy one): take them, to be answered while draining, then close.
            while True:
                try:
                    connection, address = self.sock.accept()
                except (BlockingIOError, InterruptedError, ConnectionAbortedError, OSError):
                    break
                self._serve(connection, address)
            self.sock.close()

    def _ready(self) -> None:
        if self.board.count(self.slot) > self.board.fewest():
            now = time.monotonic()
            if self._deferred_since is None:
                self._deferred_since = now
            if now - self._deferred_since < MAX_DEFER:
                self._loop.remove_reader(self.sock.fileno())
                self._loop.call_later(RETRY, self._resume)
                return
        try:
            connection, address = self.sock.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return  # another worker took it
        self._deferred_since = None
        self._serve(connection, address)

    def _serve(self, connection: socket.socket, address: Any) -> None:
        self.board.add(self.slot, 1)
        stream = tornado.iostream.IOStream(connection, max_buffer_size=self.server.max_buffer_size,
                                           read_chunk_size=self.server.read_chunk_size)
        self.server.handle_stream(stream, address)

    def _resume(self) -> None:
        if not self._stopped:
            self._loop.add_reader(self.sock.fileno(), self._ready)
