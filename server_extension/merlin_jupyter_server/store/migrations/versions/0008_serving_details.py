"""serving details: what a local endpoint enforces, and how it runs now

Revision ID: 0008
Revises: 0007

A deploy records which of its settings the environment enforces and which not (so the deploy
output and the panel can say so), and the reconciler adds how it runs now: worker processes,
scaled to zero, its last wake. Null for endpoints deployed before.
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('version_endpoints', schema=None) as batch_op:
        batch_op.add_column(sa.Column('serving', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('version_endpoints', schema=None) as batch_op:
        batch_op.drop_column('serving')
