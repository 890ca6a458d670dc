"""List routes read a page in SQL: the page's rows and their relationships in a fixed number of
queries, however many versions a model has (no query per row), on SQLite and PostgreSQL."""
from __future__ import annotations

import contextlib

import pytest
from sqlalchemy import event

from merlin_jupyter_server.services.environments import EnvironmentService
from merlin_jupyter_server.services.mlflow_gateway import MlflowGateway
from merlin_jupyter_server.services.models import ModelService
from merlin_jupyter_server.store.db import Database
from merlin_jupyter_server.store.models import (
    ModelEndpointRow, ModelRow, ModelSchemaRow, ProjectRow, VersionEndpointRow, VersionRow)
from merlin_jupyter_server.services.versions import VersionService


@contextlib.contextmanager
def counted(db: Database):
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def seed(db: Database, versions: int, models: int = 1) -> list[int]:
    """Models with ``versions`` versions each, every version with an endpoint and a schema."""
    ids = []
    with db.session() as session:
        project = ProjectRow(name=f"paging-{versions}-{models}")
        session.add(project)
        session.flush()
        for m in range(models):
            model = ModelRow(project_id=project.id, name=f"m{m}", type="sklearn")
            session.add(model)
            session.flush()
            schema = ModelSchemaRow(model_id=model.id, spec={"columns": {}})
            session.add(schema)
            session.add(ModelEndpointRow(model_id=model.id, environment_name="local"))
            for n in range(1, versions + 1):
                version = VersionRow(model_id=model.id, number=n, labels={"n": str(n)}, model_schema=schema)
                version.endpoints.append(VersionEndpointRow(id=f"{model.id}-{n}", environment_name="local"))
                session.add(version)
            ids.append(model.id)
    return ids


@pytest.fixture
def db(db_url):
    database = Database(db_url)
    EnvironmentService(database).sync_from_config([], {})
    yield database
    database.close()


def test_a_page_of_versions_costs_the_same_queries_for_10_or_300_versions(db):
    versions = VersionService(db, MlflowGateway("x"))
    costs = {}
    for total in (10, 300):
        [model_id] = seed(db, total)
        with counted(db) as statements:
            page, cursor = versions.list(model_id, limit=5, cursor=total - 2)
        assert [v.id for v in page] == list(range(total - 3, total - 8, -1)) and cursor == total - 7
        assert all(v.endpoints and v.endpoints[0].environment and v.model_schema for v in page)
        costs[total] = len(statements)
    assert costs[10] == costs[300] <= 6, costs
    # The page is limited in SQL, not by reading every version and cutting the list.
    assert any("LIMIT" in s.upper() for s in statements)


def test_a_search_fills_its_page_from_batches(db):
    versions = VersionService(db, MlflowGateway("x"))
    [model_id] = seed(db, 450)
    page, cursor = versions.list(model_id, search="n:7", limit=5)
    assert [v.id for v in page] == [7] and cursor is None
    page, cursor = versions.list(model_id, search="environment_name:local", limit=3, cursor=400)
    assert [v.id for v in page] == [399, 398, 397] and cursor == 397


def test_listing_models_loads_their_endpoints_in_one_query(db):
    models = ModelService(db, MlflowGateway("x"))
    costs = {}
    for count in (2, 20):
        model_ids = seed(db, 1, models=count)
        with db.read() as session:
            project_id = session.get(ModelRow, model_ids[0]).project_id
        with counted(db) as statements:
            listed = models.list(project_id)
        assert len(listed) == count and all(m.endpoints and m.endpoints[0].environment for m in listed)
        costs[count] = len(statements)
    assert costs[2] == costs[20], costs
