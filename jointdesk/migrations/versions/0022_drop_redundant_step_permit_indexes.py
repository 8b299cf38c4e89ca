"""steps and permits: drop the ticket_id indexes their unique indexes already lead with

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-27 19:30:00

``ix_steps_ticket_id`` repeats the leading column of the unique index on (ticket_id, seq), and
``ix_permits_ticket_id`` that of the unique index on (ticket_id, kind): every read by ticket
(a case read's children, a page of tickets) is served as well by those. Intake writes two steps
per ticket and a permit for each permit it files; each one index fewer to write.
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index('ix_steps_ticket_id', table_name='steps')
    op.drop_index('ix_permits_ticket_id', table_name='permits')


def downgrade():
    op.create_index('ix_permits_ticket_id', 'permits', ['ticket_id'])
    op.create_index('ix_steps_ticket_id', 'steps', ['ticket_id'])
