"""provider queue indexes for keyset pages and totals; open tickets for the SLA jobs

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27 05:00:00

The queue's sort key (open before closed, the running step's due time, the ticket's due time,
the id) as one index per provider, and the same within one status; the expressions are the
model's (``models/ticket.py``), which the queries use letter for letter. And the open tickets
in id order, which the SLA beat job and the due-time recomputation walk in batches; and the
final counts of tickets closed long enough ago, so that a queue's total counts only the rest.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

FAR = "'9999-12-31 00:00:00'"
CLOSED = "closed_at IS NOT NULL"
STEP_DUE = f"COALESCE(step_due_at, {FAR})"
DUE = f"COALESCE(due_at, {FAR})"
OPEN = "status IN ('dispatching', 'queued', 'accepted', 'suspended')"


def upgrade():
    op.create_index(
        'ix_tickets_queue',
        'tickets',
        ['provider_id', sa.text(f"({CLOSED})"), sa.text(STEP_DUE), sa.text(DUE), 'id'],
    )
    op.create_index(
        'ix_tickets_queue_status',
        'tickets',
        ['provider_id', 'status', sa.text(STEP_DUE), sa.text(DUE), 'id'],
    )
    op.create_index('ix_tickets_provider_closed', 'tickets', ['provider_id', 'closed_at'])
    op.create_table(
        'closed_ticket_counts',
        sa.Column('provider_id', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('closed_before', sa.DateTime(), nullable=False),
        sa.Column('tickets', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ['provider_id'], ['providers.id'],
            name=op.f('fk_closed_ticket_counts_provider_id_providers'),
        ),
        sa.PrimaryKeyConstraint('provider_id', 'status', name=op.f('pk_closed_ticket_counts')),
    )
    op.create_index(
        'ix_tickets_open',
        'tickets',
        ['id'],
        postgresql_where=sa.text(OPEN),
        sqlite_where=sa.text(OPEN),
    )


def downgrade():
    op.drop_table('closed_ticket_counts')
    op.drop_index('ix_tickets_provider_closed', table_name='tickets')
    op.drop_index('ix_tickets_open', table_name='tickets')
    op.drop_index('ix_tickets_queue_status', table_name='tickets')
    op.drop_index('ix_tickets_queue', table_name='tickets')
