"""online self-service: one-time SMS codes and the submissions they made

Revision ID: 0016
Revises: 0012
Create Date: 2026-11-27 07:45:00
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "verification_codes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("phone_hash", sa.String(64), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("attempts_left", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("consumed_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_verification_codes_phone_hash", "verification_codes", ["phone_hash"])
    op.create_index("ix_verification_codes_created_at", "verification_codes", ["created_at"])
    op.create_table(
        "online_submissions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("dedup_key", sa.String(64), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column(
            "verification_id",
            sa.Integer(),
            sa.ForeignKey("verification_codes.id"),
            nullable=False,
        ),
        sa.Column("sealed_code", sa.String(8), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("dedup_key", name="uq_online_submissions_dedup_key"),
    )
    op.create_index("ix_online_submissions_case_id", "online_submissions", ["case_id"])
    op.create_index(
        "ix_online_submissions_verification_id", "online_submissions", ["verification_id"]
    )
    op.create_index("ix_online_submissions_created_at", "online_submissions", ["created_at"])


def downgrade():
    op.drop_table("online_submissions")
    op.drop_table("verification_codes")
