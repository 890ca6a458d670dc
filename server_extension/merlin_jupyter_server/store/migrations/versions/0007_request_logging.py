"""request logging: an endpoint's Merlin logger settings

Revision ID: 0007
Revises: 0006

``logger`` holds Merlin's ``{"model": {"enabled", "mode", "sample_rate"}, ...}`` as the deploy
asked; null (every endpoint written before) logs nothing.
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('version_endpoints', schema=None) as batch_op:
        batch_op.add_column(sa.Column('logger', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('version_endpoints', schema=None) as batch_op:
        batch_op.drop_column('logger')
