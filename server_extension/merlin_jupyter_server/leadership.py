"""Which replica reconciles: exactly one at a time, and another takes over when it dies.

On SQLite there is one control plane per store (the file lock of single_writer.py: a second
refuses to start), so it always leads. On PostgreSQL any number of replicas serve the API, and
the one holding a session-level advisory lock reconciles. The lock lives on a connection of its
own, outside the pool, so it ends exactly when that connection does: a replica killed with
SIGKILL closes its socket and PostgreSQL drops the lock at once; a host that vanishes is noticed
by TCP keepalives within about ten seconds. The other replicas ask for the lock every
second (``Settings.leader_poll``); the leader checks as often that its lock connection still
answers, and stops reconciling when it lost the lock (another replica may hold it by then: after
a network split the two may overlap for up to that second).
"""
from __future__ import annotations

import contextlib
import logging
import threading
from typing import Iterator

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

log = logging.getLogger("merlin_jupyter_server.leadership")

# Advisory lock keys: any 64-bit numbers no other application on the database uses.
RECONCILER_KEY = 0x4D45524C494E0001  # "MERLIN" + 1
MIGRATION_KEY = 0x4D45524C494E0002
# libpq's keepalives: a leader whose host vanished (no FIN, no RST) loses its lock within
# idle + interval * count seconds, and tcp_user_timeout bounds unacknowledged writes.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 4, "keepalives_interval": 2,
              "keepalives_count": 2, "tcp_user_timeout": 8000}


def is_postgresql(url: str) -> bool:
    return url.startswith("postgresql")


def lock_engine(url: str, name: str) -> Engine:
    """An engine of single connections that are never pooled, for one session-level lock each."""
    return create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT",
                         connect_args={**KEEPALIVES, "application_name": name[:63]})


class Leadership:
    """The reconciler's lock on PostgreSQL (SQLite needs none: see the module's docstring)."""

    def __init__(self, url: str, name: str, key: int = RECONCILER_KEY):
        self.key = key
        self.name = name
        self.engine = lock_engine(url, name)
        self._connection: Connection | None = None
        self._lock = threading.Lock()

    @property
    def held(self) -> bool:
        return self._connection is not None

    def try_acquire(self) -> bool:
        """Take the lock if it is free; keep it if held. Blocking: call from a worker thread."""
        with self._lock:
            if self._connection is not None:
                if self._answers(self._connection):
                    return True
                log.warning("%s lost its connection to the database: it no longer reconciles", self.name)
                self._drop()
            try:
                connection = self.engine.connect()
                got = connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}).scalar()
            except Exception as exc:  # noqa: BLE001 - a database that cannot be reached: not leading
                log.warning("%s cannot ask for the reconciler's lock: %s", self.name, exc)
                return False
            if not got:
                connection.close()
                return False
            self._connection = connection
            return True

    def release(self) -> None:
        with self._lock:
            if self._connection is not None:
                try:
                    self._connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
                except Exception:  # noqa: BLE001 - closing the connection ends the lock anyway
                    pass
                self._drop()
        self.engine.dispose()

    @staticmethod
    def _answers(connection: Connection) -> bool:
        try:
            connection.execute(text("SELECT 1"))
            return True
        except Exception:  # noqa: BLE001
            return False

    def _drop(self) -> None:
        try:
            self._connection.close()
        except Exception:  # noqa: BLE001
            pass
        self._connection = None


@contextlib.contextmanager
def migration_lock(url: str) -> Iterator[None]:
    """Across processes: one schema migration at a time on a PostgreSQL database (replicas
    starting together would otherwise both create the same tables). A no-op on SQLite, whose
    single control plane per store holds the file lock already."""
    if not is_postgresql(url):
        yield
        return
    engine = lock_engine(url, "merlin-migration")
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_KEY})
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_KEY})
    finally:
        engine.dispose()
