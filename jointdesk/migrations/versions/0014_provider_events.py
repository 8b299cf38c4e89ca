"""events applied from providers' own systems, unique per provider and event id

Revision ID: 0014
Revises: 0016
Create Date: 2026-11-27 07:50:00
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "provider_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("provider_id", sa.Integer(), sa.ForeignKey("providers.id"), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("ticket_id", sa.Integer(), sa.ForeignKey("tickets.id"), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("outcome", sa.Integer(), nullable=False),
        sa.UniqueConstraint(
            "provider_id", "event_id", name="uq_provider_events_provider_id"
        ),
    )
    op.create_index("ix_provider_events_ticket_id", "provider_events", ["ticket_id"])


def downgrade():
    op.drop_table("provider_events")
