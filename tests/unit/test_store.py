"""The store: migrations create the schema the models describe, and upgrade in place."""
from __future__ import annotations

import sqlite3

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from merlin_jupyter_server.store.db import Database
from merlin_jupyter_server.store.models import Base


def test_migrations_match_the_models(tmp_path):
    db = Database(f"sqlite:///{tmp_path}/m.db")
    with db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == [], "a model changed without a migration: add one in store/migrations/versions"


def test_reopening_keeps_data_and_uses_wal(tmp_path):
    url = f"sqlite:///{tmp_path}/m.db"
    from merlin_jupyter_server.services.projects import ProjectService

    ProjectService(Database(url), "x").create({"name": "kept-project"}, "alice")
    assert [p.name for p in ProjectService(Database(url), "x").list()] == ["kept-project"]
    with sqlite3.connect(tmp_path / "m.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == "0001"
