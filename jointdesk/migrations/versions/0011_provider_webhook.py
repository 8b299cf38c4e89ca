"""a provider's own system: the URL its tickets are posted to and the shared signing secret

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27 07:40:00

``providers.channel`` (``desk`` or ``webhook``) exists since the first migration; a webhook
provider needs the address of its system and the secret both sides sign with (outbound ticket
deliveries and inbound progress events alike).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("providers") as batch:
        batch.add_column(sa.Column("webhook_url", sa.String(500), nullable=True))
        batch.add_column(sa.Column("webhook_secret", sa.String(200), nullable=True))


def downgrade():
    with op.batch_alter_table("providers") as batch:
        batch.drop_column("webhook_secret")
        batch.drop_column("webhook_url")
