"""signed HTTP deliveries (provider webhooks, approval-system callbacks, SMS gateway) and the
approval system's callback address

Revision ID: 0013
Revises: 0015
Create Date: 2026-11-27 08:00:00
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "http_deliveries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("target", sa.String(60), nullable=False),
        sa.Column("url", sa.String(500), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("idempotency_key", sa.String(80), nullable=False),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=True),
        sa.Column("ticket_id", sa.Integer(), sa.ForeignKey("tickets.id"), nullable=True),
        sa.Column(
            "message_id", sa.Integer(), sa.ForeignKey("applicant_messages.id"), nullable=True
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.Column("dead_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("idempotency_key", name="uq_http_deliveries_idempotency_key"),
    )
    op.create_index("ix_http_deliveries_case_id", "http_deliveries", ["case_id"])
    op.create_index("ix_http_deliveries_ticket_id", "http_deliveries", ["ticket_id"])
    op.create_index("ix_http_deliveries_next_attempt_at", "http_deliveries", ["next_attempt_at"])
    op.create_index("ix_http_deliveries_dead_at", "http_deliveries", ["dead_at"])
    op.create_table(
        "callback_endpoints",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("system", sa.String(40), nullable=False),
        sa.Column("url", sa.String(500), nullable=False),
        sa.Column("secret", sa.String(200), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("system", name="uq_callback_endpoints_system"),
    )


def downgrade():
    op.drop_table("callback_endpoints")
    op.drop_table("http_deliveries")
