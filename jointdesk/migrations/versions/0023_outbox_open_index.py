"""outbox: one partial index of the open rows instead of indexes on done_at and next_attempt_at

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-27 22:00:00

Every query of the outbox but the delivery's (by id) looks for the open rows (``done_at IS
NULL``): the relay, the health check. They are few (tickets on their way to a provider), so a
partial index of their ids serves them, however many rows are done. ``next_attempt_at`` needs no
index of its own (the relay filters the open rows by it), and with it gone a worker's take of a
row, which writes only ``taken_by``, ``taken_at`` and ``next_attempt_at``, changes no indexed
column: on PostgreSQL a HOT update, no index entry written. Marking a row done writes two index
entries (the primary key, ``ticket_id``) instead of four.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        'ix_outbox_open',
        'outbox',
        ['id'],
        postgresql_where=sa.text('done_at IS NULL'),
        sqlite_where=sa.text('done_at IS NULL'),
    )
    op.drop_index('ix_outbox_next_attempt_at', table_name='outbox')
    op.drop_index('ix_outbox_done_at', table_name='outbox')


def downgrade():
    op.create_index('ix_outbox_done_at', 'outbox', ['done_at'])
    op.create_index('ix_outbox_next_attempt_at', 'outbox', ['next_attempt_at'])
    op.drop_index('ix_outbox_open', table_name='outbox')
