"""dial_pace: the calls-per-second pace and the provider pause, shared by every dialler process

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the table with its two rows, free at once."""
    table = op.create_table(
        "dial_pace",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("next_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.bulk_insert(
        table, [{"key": "calls", "next_at": 0.0}, {"key": "provider.paused", "next_at": 0.0}]
    )


def downgrade() -> None:
    """Drop the table (pacing starts afresh)."""
    op.drop_table("dial_pace")
