"""The store decides races: writers take their lock before they read, readers never wait,
and whatever still breaks a constraint is a Conflict in words.

Each runs on SQLite in tmp_path and on a real PostgreSQL server (a throw-away cluster the
tests start, tests/postgres.py), except those only one of them has.
"""
from __future__ import annotations

import secrets
import sqlite3
import threading
import time

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import func, select

from merlin_jupyter_server.errors import Conflict, Unavailable
from merlin_jupyter_server.services.endpoints import EndpointService
from merlin_jupyter_server.services.environments import EnvironmentService
from merlin_jupyter_server.services.mlflow_gateway import MlflowGateway
from merlin_jupyter_server.services.models import ModelService
from merlin_jupyter_server.services.projects import ProjectService
from merlin_jupyter_server.services.versions import VersionService
from merlin_jupyter_server.store import db as store_db
from merlin_jupyter_server.store.db import MIGRATIONS, Database
from merlin_jupyter_server.store.models import ModelRow, ProjectRow, VersionEndpointRow, VersionRow

RACERS = 20


@pytest.fixture
def db(db_url):
    """A fresh database on SQLite, and on the session's throw-away PostgreSQL (tests/postgres.py)."""
    database = Database(db_url)
    yield database
    database.close()


def race(fn, n: int = RACERS) -> list[object]:
    """Call ``fn(i)`` from n threads released at once; returns each result or exception."""
    barrier = threading.Barrier(n)
    results: list[object] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = fn(i)
        except Exception as exc:  # noqa: BLE001 - the outcome is what is asserted
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def sqlite_only(db: Database) -> None:
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite serializes whole write transactions; PostgreSQL locks the parent row")


def test_a_writer_takes_its_lock_before_it_reads(db):
    sqlite_only(db)
    inside, order = threading.Event(), []

    def first() -> None:
        with db.session() as session:
            session.scalar(select(func.count(ProjectRow.id)))
            inside.set()
            time.sleep(0.3)
            order.append("first commits")

    def second() -> None:
        inside.wait()
        with db.session() as session:
            order.append("second reads")
            session.scalar(select(func.count(ProjectRow.id)))

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert order == ["first commits", "second reads"]


def test_a_reader_does_not_wait_for_a_writer(db):
    inside, done = threading.Event(), threading.Event()

    def writer() -> None:
        with db.session() as session:
            session.add(ProjectRow(name="being-written"))
            session.flush()
            inside.set()
            done.wait(60)

    thread = threading.Thread(target=writer)
    thread.start()
    inside.wait()
    with db.read() as session:
        names = list(session.scalars(select(ProjectRow.name)))
    # Not "within 1 s" (a loaded machine can take that long to read): the read ended while the
    # writer still held its transaction open, which it does until told or for 60 s.
    writer_still_open = thread.is_alive()
    done.set()
    thread.join()
    assert names == [] and writer_still_open


def test_a_database_busy_past_the_timeout_is_unavailable_not_a_500(tmp_path, monkeypatch):
    monkeypatch.setattr(store_db, "BUSY_TIMEOUT_MS", 100)
    monkeypatch.setattr(store_db, "BEGIN_ATTEMPTS", 2)
    db = Database(f"sqlite:///{tmp_path}/merlin.db")
    holder = sqlite3.connect(tmp_path / "merlin.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(Unavailable, match="stayed busy .* retry in a moment"):
            with db.session():
                pass
    finally:
        holder.execute("ROLLBACK")
    with db.session() as session:  # free again: the next writer goes through
        session.add(ProjectRow(name="after-busy"))


def test_a_broken_unique_constraint_is_a_conflict_in_words(db):
    with db.session() as session:
        session.add(ProjectRow(name="taken"))
    with pytest.raises(Conflict, match="Another request took the same project name"):
        with db.session() as session:
            session.add(ProjectRow(name="taken"))


def test_a_vanished_parent_is_a_conflict_in_words(db):
    with pytest.raises(Conflict, match="deleted by another request"):
        with db.session() as session:
            session.add(ModelRow(project_id=12345, name="orphan", type="sklearn"))


def test_concurrent_creates_of_one_project_name_have_one_winner(db):
    projects = ProjectService(db, "http://tracking")
    names = [f"name-{i}" for i in range(5)]
    results = race(lambda i: projects.create({"name": names[i % 5]}, f"user{i}"), 5 * RACERS)
    assert sorted(r.name for r in results if not isinstance(r, Exception)) == names
    assert sum(isinstance(r, Conflict) and "already exists" in r.message for r in results) == 5 * (RACERS - 1)


def test_concurrent_creates_of_one_environment_name_have_one_winner(db):
    environments = EnvironmentService(db)
    environments.sync_from_config([], {})
    body = {"name": "prod", "kubeconfig": "/k", "context": "prod"}
    results = race(lambda i: environments.create(body, "alice"))
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert sum(isinstance(r, Conflict) for r in results) == RACERS - 1


def test_concurrent_deploys_of_one_version_stop_at_two_with_distinct_revisions(db):
    EnvironmentService(db).sync_from_config([], {})
    with db.session() as session:
        project = ProjectRow(name="p")
        session.add(project)
        session.flush()
        model = ModelRow(project_id=project.id, name="m", type="sklearn")
        session.add(model)
        session.flush()
        session.add(VersionRow(model_id=model.id, number=1))
        model_id = model.id
    endpoints = EndpointService(db)
    results = race(lambda i: endpoints.create(model_id, 1, {"environment_name": "local"}, "alice"))
    created = [r for r in results if not isinstance(r, Exception)]
    assert len(created) == 2 and {e.revision for e in created} == {1, 2}
    assert all(isinstance(r, Conflict) and "at most 2" in r.message for r in results if r not in created)
    # Bringing back a failed endpoint counts too: never a third active one.
    failed = created[0]
    with db.session() as session:
        session.get(VersionEndpointRow, failed.id).status = "failed"
    endpoints.create(model_id, 1, {"environment_name": "local"}, "alice")
    with pytest.raises(Conflict, match="at most 2"):
        endpoints.redeploy(model_id, 1, failed.id, {}, "alice")


@pytest.fixture
def mlflow(mlflow_gateway) -> MlflowGateway:
    return mlflow_gateway


def test_concurrent_creates_of_one_model_name_share_one_experiment(db, mlflow):
    project = ProjectService(db, "x").create({"name": f"p-{secrets.token_hex(3)}"}, "alice")
    models = ModelService(db, mlflow)
    results = race(lambda i: models.create(project.id, {"name": "churn", "type": "sklearn"}, "alice"))
    [winner] = [r for r in results if not isinstance(r, Exception)]
    assert all(isinstance(r, Conflict) and "already has a model" in r.message for r in results if r is not winner)
    assert mlflow.ensure_experiment(f"{project.name}/churn") == winner.mlflow_experiment_id


def test_concurrent_versions_get_consecutive_numbers(db, mlflow):
    project = ProjectService(db, "x").create({"name": f"p-{secrets.token_hex(3)}"}, "alice")
    model = ModelService(db, mlflow).create(project.id, {"name": "churn", "type": "sklearn"}, "alice")
    versions = VersionService(db, mlflow)
    results = race(lambda i: versions.create(model.id, {}, "alice"))
    assert sorted(v.id for v in results) == list(range(1, RACERS + 1))


def test_upgrade_renumbers_revisions_that_raced_before_the_index(db_url):
    url = db_url
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    engine = store_db.make_engine(url)
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "0001")
        connection.exec_driver_sql("INSERT INTO projects (id, name, mlflow_tracking_url, labels, "
                                   "administrators, readers, team, stream, created_at, updated_at) "
                                   "VALUES (1, 'p', '', '[]', '[]', '[]', '', '', '2026-01-01', '2026-01-01')")
        connection.exec_driver_sql("INSERT INTO models VALUES (1, 1, 'm', 'sklearn', 0, '2026-01-01', '2026-01-01')")
        connection.exec_driver_sql("INSERT INTO versions (id, model_id, number, mlflow_run_id, artifact_uri, "
                                   "labels, python_version, properties, created_at, updated_at) "
                                   "VALUES (1, 1, 1, '', '', '{}', '', '{}', '2026-01-01', '2026-01-01')")
        for i, revision in enumerate([1, 2, 2, 2]):
            connection.exec_driver_sql(
                "INSERT INTO version_endpoints (id, version_pk, environment_name, status, desired, "
                "resource_request, env_vars, deployment_mode, autoscaling_policy, protocol, revision, "
                "handle, previous_handle, status_changed_at, created_at, updated_at) VALUES "
                f"('e{i}', 1, 'local', 'running', 'running', '{{}}', '[]', 'serverless', '{{}}', "
                f"'HTTP_JSON', {revision}, '{{}}', '{{}}', '2026-01-01', '2026-01-0{i + 1}', '2026-01-01')")
    engine.dispose()
    db = Database(url)
    with db.read() as session:
        rows = session.execute(
            select(VersionEndpointRow.id, VersionEndpointRow.revision).order_by(VersionEndpointRow.id)
        ).all()
    assert [tuple(r) for r in rows] == [("e0", 1), ("e1", 2), ("e2", 3), ("e3", 4)]

