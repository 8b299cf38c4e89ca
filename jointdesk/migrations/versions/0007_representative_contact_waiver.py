"""customer representative by default, first contact, waived materials

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 03:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('default_representative', sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('first_contact_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('contacts', sa.Integer(), server_default='0', nullable=False))
    with op.batch_alter_table('materials', schema=None) as batch_op:
        batch_op.add_column(sa.Column('waived_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('waived_by', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('waive_reason', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('materials', schema=None) as batch_op:
        batch_op.drop_column('waive_reason')
        batch_op.drop_column('waived_by')
        batch_op.drop_column('waived_at')
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_column('contacts')
        batch_op.drop_column('first_contact_at')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('default_representative')
