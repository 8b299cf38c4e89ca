"""providers' published connection prices and charging basis

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 03:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('providers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('connection_fee', sa.Numeric(precision=12, scale=2), nullable=True))
        batch_op.add_column(sa.Column('price_per_metre', sa.Numeric(precision=10, scale=2), nullable=True))
        batch_op.add_column(sa.Column('price_basis', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('prices_updated_at', sa.DateTime(), nullable=True))
        batch_op.create_check_constraint(
            op.f('ck_providers_connection_fee_range'), 'connection_fee >= 0 AND connection_fee <= 10000000'
        )
        batch_op.create_check_constraint(
            op.f('ck_providers_price_per_metre_range'), 'price_per_metre >= 0 AND price_per_metre <= 100000'
        )


def downgrade():
    with op.batch_alter_table('providers', schema=None) as batch_op:
        batch_op.drop_constraint('ck_providers_price_per_metre_range', type_='check')
        batch_op.drop_constraint('ck_providers_connection_fee_range', type_='check')
        batch_op.drop_column('prices_updated_at')
        batch_op.drop_column('price_basis')
        batch_op.drop_column('price_per_metre')
        batch_op.drop_column('connection_fee')
