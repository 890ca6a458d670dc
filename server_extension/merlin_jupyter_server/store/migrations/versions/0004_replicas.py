"""replicas: the host that runs a local endpoint

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 15:00:00

Several control-plane replicas may share one PostgreSQL database, on different machines. A
local endpoint is a process on one of them: the reconciling replica records its host name
when it deploys it, and a replica on another host never treats it as gone or starts a copy.
Empty: not deployed locally yet (or not local at all).
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("version_endpoints") as batch:
        batch.add_column(sa.Column("host", sa.String(255), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("version_endpoints") as batch:
        batch.drop_column("host")
