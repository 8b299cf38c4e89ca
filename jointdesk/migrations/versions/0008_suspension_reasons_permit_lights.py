"""suspension reason codes; each permit's own SLA state

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 03:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('suspensions', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('reason_code', sa.String(length=30), server_default='other', nullable=False)
        )
    with op.batch_alter_table('permits', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('sla_state', sa.String(length=20), server_default='on_time', nullable=False)
        )


def downgrade():
    with op.batch_alter_table('permits', schema=None) as batch_op:
        batch_op.drop_column('sla_state')
    with op.batch_alter_table('suspensions', schema=None) as batch_op:
        batch_op.drop_column('reason_code')
