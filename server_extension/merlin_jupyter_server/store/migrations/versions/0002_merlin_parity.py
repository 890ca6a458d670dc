"""Merlin parity: model schemas, a version's schema, an endpoint's model observability

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('model_schemas',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model_id', sa.Integer(), nullable=False),
    sa.Column('spec', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['model_id'], ['models.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('model_schemas', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_model_schemas_model_id'), ['model_id'], unique=False)

    with op.batch_alter_table('versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('model_schema_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_versions_model_schema_id', 'model_schemas',
                                    ['model_schema_id'], ['id'], ondelete='SET NULL')

    with op.batch_alter_table('version_endpoints', schema=None) as batch_op:
        batch_op.add_column(sa.Column('enable_model_observability', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('version_endpoints', schema=None) as batch_op:
        batch_op.drop_column('enable_model_observability')
    with op.batch_alter_table('versions', schema=None) as batch_op:
        batch_op.drop_constraint('fk_versions_model_schema_id', type_='foreignkey')
        batch_op.drop_column('model_schema_id')
    with op.batch_alter_table('model_schemas', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_model_schemas_model_id'))
    op.drop_table('model_schemas')
