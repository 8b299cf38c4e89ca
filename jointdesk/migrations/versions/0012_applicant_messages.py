"""messages to applicants, one row each, unique per the event they answer

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27 07:55:00
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "applicant_messages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=True),
        sa.Column("ticket_id", sa.Integer(), sa.ForeignKey("tickets.id"), nullable=True),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("template", sa.String(40), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("dedup_key", sa.String(120), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("dedup_key", name="uq_applicant_messages_dedup_key"),
    )
    op.create_index("ix_applicant_messages_case_id", "applicant_messages", ["case_id"])
    op.create_index("ix_applicant_messages_status", "applicant_messages", ["status"])
    op.create_index("ix_applicant_messages_created_at", "applicant_messages", ["created_at"])


def downgrade():
    op.drop_table("applicant_messages")
