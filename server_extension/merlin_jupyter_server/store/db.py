"""The database: engine, sessions, and schema upgrades on start.

SQLite (the default) runs in WAL mode with a busy timeout, so the API's readers never wait for
the reconciler's writes; PostgreSQL works through the same URL setting for a team install.

Races are decided here, not by luck. A ``session()`` is a write transaction that takes its lock
before its first read: on SQLite it begins with ``BEGIN IMMEDIATE`` (one writer at a time, the
others wait up to the busy timeout), so a check ("is this name free?", "how many endpoints are
active?", "what is the next number?") still holds when the write that depends on it commits.
PostgreSQL has no such statement: there the services lock the parent row of what they create
(``lookup.*(..., for_update=True)``, ``SELECT ... FOR UPDATE``: the project for a model name,
the model for a version number, the version for an endpoint), and names without a parent
(projects, environments) are decided by their unique constraint. Whatever still breaks a
constraint answers 409 in words (``Conflict``), never an IntegrityError. ``read()`` is a
transaction that only reads and never waits for writers.
"""
from __future__ import annotations

import contextlib
import pathlib
import re
import threading
import time
from typing import Iterator

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from ..errors import Conflict, Unavailable

MIGRATIONS = pathlib.Path(__file__).parent / "migrations"
# Alembic keeps its running migration in module globals, so two upgrades in one process (this
# store's and the hosted MLflow's, or two servers' in tests) must not overlap: both take this.
MIGRATION_LOCK = threading.Lock()


BUSY_TIMEOUT_MS = 10000
# BEGIN IMMEDIATE is retried this many times (each after a full busy timeout) before the
# request is answered 503: nothing of the transaction has run yet, so a retry is always safe.
BEGIN_ATTEMPTS = 3
READ = {"merlin_begin": "DEFERRED"}


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # pysqlite begins its own transactions lazily, just before the first INSERT/UPDATE, so two
    # requests could both read "free" and both write: transactions are begun in _sqlite_begin.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection) -> None:
    """Writers take the write lock at BEGIN, before they read what their write depends on."""
    connection.exec_driver_sql(f"BEGIN {connection.get_execution_options().get('merlin_begin', 'IMMEDIATE')}")


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000}
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    # Pool: the API's worker threads and the reconciler each hold one connection at a time.
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration (creates it on a new database)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    from ..leadership import migration_lock

    url = engine.url.render_as_string(hide_password=False)
    with MIGRATION_LOCK, migration_lock(url), engine.connect() as connection:
        # On SQLite a batch migration rebuilds a table (copy, drop, rename): with foreign keys on,
        # dropping the old table would cascade-delete every row that refers to it (a version's
        # endpoints). The pragma only takes effect outside a transaction, so it is set on the
        # driver's connection before the migration's transaction begins, and set back after.
        raw = connection.connection.dbapi_connection if engine.dialect.name == "sqlite" else None
        if raw is not None:
            raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                cfg.attributes["connection"] = connection
                command.upgrade(cfg, "head")
        finally:
            if raw is not None:
                raw.execute("PRAGMA foreign_keys=ON")


class Database:
    """Owns the engine; hands out short transactions to services."""

    def __init__(self, url: str, migrate: bool = True):
        self.url = url
        self.engine = make_engine(url)
        if migrate:
            upgrade(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._readers = sessionmaker(self.engine.execution_options(**READ), expire_on_commit=False)

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """One unit of work that may write: commits on success, rolls back on any exception.

        It holds the write lock from its start (SQLite), so keep it short and never call a
        slow dependency (MLflow, a cluster) inside it.
        """
        session = self._begin_write()
        try:
            yield session
            session.commit()
        except IntegrityError as exc:
            session.rollback()
            raise constraint_conflict(exc) from None
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        """A transaction that only reads: it sees one snapshot and never waits for writers."""
        with self._readers() as session:
            with session.begin():
                yield session

    def _begin_write(self) -> Session:
        """A session whose transaction has begun (on SQLite: holding the write lock)."""
        for attempt in range(1, BEGIN_ATTEMPTS + 1):
            session = self._sessions()
            try:
                session.begin()
                if self.engine.dialect.name == "sqlite":
                    session.connection()  # BEGIN IMMEDIATE, waiting up to the busy timeout
                return session
            except OperationalError as exc:
                session.close()
                if not _is_busy(exc):
                    raise
            time.sleep(0.05 * attempt)
        raise Unavailable(
            f"The control plane's database stayed busy for {BEGIN_ATTEMPTS * BUSY_TIMEOUT_MS // 1000} s "
            "(another writer held it), so nothing was changed: retry in a moment."
        )

    def close(self) -> None:
        self.engine.dispose()


def _is_busy(exc: OperationalError) -> bool:
    text = str(exc.orig).lower()
    return "locked" in text or "busy" in text


# What each unique constraint protects, in the words of the API.
_UNIQUE_WORDS = {
    "projects": "project name",
    "environments": "environment name",
    "models": "model name in this project",
    "versions": "version number of this model",
    "version_endpoints": "revision of this version's endpoints",
    "model_endpoints": "model endpoint of this model in this environment",
}


def constraint_conflict(exc: IntegrityError) -> Conflict:
    """A constraint the services' own checks did not catch (a concurrent request won), in words."""
    text = str(exc.orig)
    if "FOREIGN KEY" in text.upper() or "foreign key" in text:
        return Conflict(
            "What this request refers to was deleted by another request at the same moment, so "
            "nothing was changed: look it up again and retry if it still exists."
        )
    # SQLite: "UNIQUE constraint failed: versions.model_id, versions.number";
    # PostgreSQL: 'duplicate key value violates unique constraint "..." DETAIL: Key (...)'.
    match = re.search(r"UNIQUE constraint failed: (\w+)\.", text) or re.search(
        r'unique constraint "(?:uq_|ix_)?([a-z]+(?:_endpoints)?)', text
    )
    what = _UNIQUE_WORDS.get(match.group(1), "name") if match else "name"
    return Conflict(
        f"Another request took the same {what} at the same moment, so this one was not applied: "
        "look up what exists now, and retry (or choose another name) if you still need it."
    )
