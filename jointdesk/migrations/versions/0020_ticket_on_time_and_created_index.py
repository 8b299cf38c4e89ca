"""tickets: whether a connected one was on time, and by creation time (supervision figures)

Revision ID: 0020
Revises: 0017
Create Date: 2026-11-27 10:30:00

Every supervision figure counts a ticket in the month it was created
(``supervision/performance.py``); with years of tickets, the month's range is read from the
index on ``created_at`` instead of the whole table. ``on_time`` is stored when a ticket connects
(``sla.within_limit`` on its stored step times) and restated with them, so that a month's
on-time count is a plain count; the connected tickets already there get it here, on the default
office hours (7 hours a working day); a later change of the office hours restates it.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0020'
down_revision = '0017'
branch_labels = None
depends_on = None

DAY = 7 * 3600  # seconds in a working day of the default office hours (09:00-12:00, 13:00-17:00)


def upgrade():
    op.add_column('tickets', sa.Column('on_time', sa.Boolean(), nullable=True))
    op.create_index('ix_tickets_created_at', 'tickets', ['created_at'])
    op.execute(
        sa.text(
            "UPDATE tickets SET on_time = (agg.used <= CASE WHEN cases.external_works "
            "THEN :works_total ELSE :plain_total END AND agg.longest <= CASE WHEN "
            "cases.external_works THEN :works_step ELSE :plain_step END) "
            "FROM (SELECT ticket_id, COALESCE(SUM(working_seconds), 0) AS used, "
            "COALESCE(MAX(working_seconds), 0) AS longest FROM steps GROUP BY ticket_id) AS agg, "
            "cases WHERE agg.ticket_id = tickets.id AND cases.id = tickets.case_id "
            "AND tickets.status = 'connected'"
        ).bindparams(
            plain_step=DAY // 2, plain_total=DAY, works_step=DAY, works_total=2 * DAY
        )
    )


def downgrade():
    op.drop_index('ix_tickets_created_at', table_name='tickets')
    op.drop_column('tickets', 'on_time')
