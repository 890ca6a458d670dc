"""Alembic environment: runs on the connection the control plane hands over (store/db.py)."""
from alembic import context

from merlin_jupyter_server.store.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
