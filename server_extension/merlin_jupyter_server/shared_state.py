"""What replicas on one PostgreSQL database share besides the store: the hosted MLflow tracking
store goes into the same database, in a schema of its own (``mlflow``: MLflow's tables and its
own Alembic history stay apart from the control plane's), so a model one replica created has
its experiment for every other replica too. Artifacts go where every replica reaches them:
``MerlinApp.mlflow_artifact_root`` (a shared directory, or an ``s3://`` root).
"""
from __future__ import annotations

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

MLFLOW_SCHEMA = "mlflow"


def mlflow_store_uri(db_url: str, schema: str = MLFLOW_SCHEMA) -> str:
    """The MLflow store URI in ``schema`` of the control plane's PostgreSQL database (created
    if missing)."""
    engine = create_engine(db_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    finally:
        engine.dispose()
    url = make_url(db_url)
    url = url.update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)
