"""outcome webhook: the outbox of events to POST, the campaign's signing-secret salt

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the outbox table and the nullable salt column (existing campaigns: no secret yet)."""
    op.create_table(
        "outbox_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        # A plain string like the other enum columns (see 0001): new states need no migration.
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("next_try_at", sa.DateTime(), nullable=True),
        sa.Column("leased_until", sa.DateTime(), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.Column("failed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"]),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id"),
    )
    op.create_index("ix_outbox_event_case_id", "outbox_event", ["case_id"], unique=False)
    op.create_index("ix_outbox_event_due", "outbox_event", ["status", "next_try_at"], unique=False)
    with op.batch_alter_table("campaign") as batch:
        batch.add_column(sa.Column("webhook_salt", sa.String(length=64), nullable=True))


def downgrade() -> None:
    """Drop the column and the table."""
    with op.batch_alter_table("campaign") as batch:
        batch.drop_column("webhook_salt")
    op.drop_index("ix_outbox_event_due", table_name="outbox_event")
    op.drop_index("ix_outbox_event_case_id", table_name="outbox_event")
    op.drop_table("outbox_event")
