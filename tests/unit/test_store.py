"""The store: migrations create the schema the models describe, and upgrade in place."""
from __future__ import annotations

import sqlite3

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from merlin_jupyter_server.store.db import Database
from merlin_jupyter_server.store.models import Base


def test_migrations_match_the_models(db_url):
    db = Database(db_url)
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
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == _head()


def _head() -> str:
    from alembic.script import ScriptDirectory

    from merlin_jupyter_server.store.db import MIGRATIONS

    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def test_a_store_of_the_first_schema_upgrades_with_its_versions(db_url):
    """A database written by the first release (0001) is upgraded in place, data kept."""
    from alembic import command
    from alembic.config import Config

    from merlin_jupyter_server.store.db import MIGRATIONS, make_engine

    url = db_url
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    engine = make_engine(url)
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "0001")
        connection.exec_driver_sql(
            "INSERT INTO projects (id, name, mlflow_tracking_url, labels, administrators, readers, "
            "team, stream, created_at, updated_at) VALUES (1, 'p', '', '[]', '[]', '[]', '', '', "
            "'2026-01-01', '2026-01-01')")
        connection.exec_driver_sql(
            "INSERT INTO models (id, project_id, name, type, mlflow_experiment_id, created_at, "
            "updated_at) VALUES (1, 1, 'm', 'sklearn', 0, '2026-01-01', '2026-01-01')")
        connection.exec_driver_sql(
            "INSERT INTO versions (id, model_id, number, mlflow_run_id, artifact_uri, labels, "
            "python_version, properties, created_at, updated_at) VALUES (1, 1, 1, 'r', '', '{}', "
            "'', '{}', '2026-01-01', '2026-01-01')")
        if connection.dialect.name == "postgresql":
            # Rows written by the release itself advanced the id sequences; these name their ids.
            for table in ("projects", "models", "versions"):
                connection.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    engine.dispose()

    from merlin_jupyter_server.services.mlflow_gateway import MlflowGateway
    from merlin_jupyter_server.services.versions import VersionService

    db = Database(url)
    version = VersionService(db, MlflowGateway("x")).get(1, 1)
    assert version.mlflow_run_id == "r" and version.to_api()["model_schema"] is None
    with db.engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == _head()
    # What the upgrade added works on the old rows: a second version is numbered after them.
    with db.session() as session:
        from merlin_jupyter_server.store.models import VersionRow
        session.add(VersionRow(model_id=1, number=2))
    assert [v.id for v in VersionService(db, MlflowGateway("x")).list(1)[0]] == [2, 1]
    db.close()
