"""working time of each finished step, stored when it ends

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 05:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    # NULL for a step still running, and for steps that ended before this column existed
    # (those are measured on reading, as before)
    with op.batch_alter_table('steps', schema=None) as batch_op:
        batch_op.add_column(sa.Column('working_seconds', sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table('steps', schema=None) as batch_op:
        batch_op.drop_column('working_seconds')
