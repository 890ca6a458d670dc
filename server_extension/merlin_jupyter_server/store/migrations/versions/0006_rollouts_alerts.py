"""rollouts and alerts: guarded rollouts driven by the control plane, and metric alerts

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-01 14:45:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rollouts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model_id', sa.Integer(), nullable=False),
    sa.Column('model_endpoint_id', sa.Integer(), nullable=False),
    sa.Column('new_endpoint_id', sa.String(length=36), nullable=False),
    sa.Column('old_endpoint_id', sa.String(length=36), nullable=False),
    sa.Column('new_version', sa.Integer(), nullable=False),
    sa.Column('old_version', sa.Integer(), nullable=False),
    sa.Column('steps', sa.JSON(), nullable=False),
    sa.Column('bake_seconds', sa.Float(), nullable=False),
    sa.Column('guard', sa.JSON(), nullable=False),
    sa.Column('min_requests', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('step_index', sa.Integer(), nullable=False),
    sa.Column('step_started_at', sa.DateTime(), nullable=True),
    sa.Column('paused_seconds', sa.Float(), nullable=False),
    sa.Column('paused_at', sa.DateTime(), nullable=True),
    sa.Column('previous_rule', sa.JSON(), nullable=False),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('actor', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['model_id'], ['models.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['model_endpoint_id'], ['model_endpoints.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('rollouts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rollouts_model_id'), ['model_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_rollouts_model_endpoint_id'), ['model_endpoint_id'], unique=False)

    op.create_table('alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model_id', sa.Integer(), nullable=False),
    sa.Column('model_endpoint_id', sa.Integer(), nullable=False),
    sa.Column('metric', sa.String(length=16), nullable=False),
    sa.Column('percentile', sa.Float(), nullable=True),
    sa.Column('threshold', sa.Float(), nullable=False),
    sa.Column('duration_seconds', sa.Float(), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('breached_since', sa.DateTime(), nullable=True),
    sa.Column('fired_at', sa.DateTime(), nullable=True),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('actor', sa.String(length=255), nullable=False),
    sa.Column('evaluated_at', sa.DateTime(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['model_id'], ['models.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['model_endpoint_id'], ['model_endpoints.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alerts_model_id'), ['model_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_alerts_model_endpoint_id'), ['model_endpoint_id'], unique=False)


def downgrade() -> None:
    op.drop_table('alerts')
    op.drop_table('rollouts')
