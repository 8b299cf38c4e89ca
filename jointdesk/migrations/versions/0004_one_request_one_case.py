"""one request, one case: pushed project codes are unique; remembered request keys

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 02:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('approval_push_code', sa.String(length=64), nullable=True))
    # Pushes made before this revision may have made several cases for one code (the race this
    # fixes): the earliest keeps the code, later ones stay as they are, visible but never matched.
    op.execute(
        "UPDATE cases SET approval_push_code = approval_system_code "
        "WHERE channel = 'approval_system' AND approval_system_code IS NOT NULL "
        "AND id IN (SELECT MIN(id) FROM cases WHERE channel = 'approval_system' "
        "AND approval_system_code IS NOT NULL GROUP BY approval_system_code)"
    )
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cases_approval_push_code'), ['approval_push_code'], unique=True)
        batch_op.create_index(batch_op.f('ix_cases_applicant_id_number'), ['applicant_id_number'], unique=False)

    op.create_table('request_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('scope', sa.String(length=20), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('sealed_code', sa.String(length=8), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_request_keys_case_id_cases')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_request_keys_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_request_keys')),
    sa.UniqueConstraint('user_id', 'scope', 'key', name='uq_request_keys_caller')
    )
    with op.batch_alter_table('request_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_request_keys_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_request_keys_created_at'), ['created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('request_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_request_keys_created_at'))
        batch_op.drop_index(batch_op.f('ix_request_keys_case_id'))
    op.drop_table('request_keys')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cases_applicant_id_number'))
        batch_op.drop_index(batch_op.f('ix_cases_approval_push_code'))
        batch_op.drop_column('approval_push_code')
