"""concurrency: one revision number per version's endpoints

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 11:30:00

Revisions are counted per version (``{model}-{version}-r{revision}`` names a deployment, on a
cluster too), so two endpoints of one version must never share one. The services take it under
the version's lock; this index is the database's guarantee. Databases written before it may
hold duplicates (concurrent deploys raced): each duplicate gets the next free number first.
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

INDEX = "uq_version_endpoints_version_revision"


def upgrade() -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.text(
        "SELECT id, version_pk, revision FROM version_endpoints ORDER BY version_pk, created_at, id"
    )).all()
    used: dict[int, set[int]] = {}
    for _, version_pk, number in rows:
        used.setdefault(version_pk, set()).add(number)
    kept: dict[int, set[int]] = {}
    for endpoint_id, version_pk, number in rows:
        if number in kept.setdefault(version_pk, set()):
            number = max(used[version_pk]) + 1
            used[version_pk].add(number)
            connection.execute(
                sa.text("UPDATE version_endpoints SET revision = :number WHERE id = :id"),
                {"number": number, "id": endpoint_id},
            )
        kept[version_pk].add(number)
    op.create_index(INDEX, "version_endpoints", ["version_pk", "revision"], unique=True)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="version_endpoints")
