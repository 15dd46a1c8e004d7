"""Status lists count their allocated indices (``allocated``), so issuance knows a list's fill
without counting its attestation rows.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "status_list",
        sa.Column("allocated", sa.Integer(), nullable=False, server_default="0"),
    )
    op.execute(
        "UPDATE status_list SET allocated = "
        "(SELECT count(*) FROM attestation WHERE attestation.list_id = status_list.id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("status_list") as batch:
        batch.drop_column("allocated")
