"""tickets: drop the two indexes that others already lead with

Revision ID: 0021
Revises: 0018
Create Date: 2026-11-27 17:20:00

``ix_tickets_case_id`` repeats the leading column of the unique index on (case_id,
service_code), and ``ix_tickets_provider_id`` the leading column of the provider's queue and
closed-ticket indexes: every read they served is served as well by those. Each index is written
on every INSERT of a ticket and on every UPDATE that changes an indexed column (a status:
every hand-over and action), so two fewer is less work for every ticket written.
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = '0021'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index('ix_tickets_case_id', table_name='tickets')
    op.drop_index('ix_tickets_provider_id', table_name='tickets')


def downgrade():
    op.create_index('ix_tickets_provider_id', 'tickets', ['provider_id'])
    op.create_index('ix_tickets_case_id', 'tickets', ['case_id'])
