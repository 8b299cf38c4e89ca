"""tickets by creation time: the supervision figures of one month

Revision ID: 0020
Revises: 0017
Create Date: 2026-11-27 10:30:00

Every supervision figure counts a ticket in the month it was created
(``supervision/performance.py``); with years of tickets, the month's range is read from this
index instead of the whole table.
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0020'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_tickets_created_at', 'tickets', ['created_at'])


def downgrade():
    op.drop_index('ix_tickets_created_at', table_name='tickets')
