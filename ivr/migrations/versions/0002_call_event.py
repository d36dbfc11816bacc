"""call_event: a call's timeline (recording paused/resumed, identity item checked)

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the call_event table."""
    op.create_table(
        "call_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("attempt_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("detail", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["attempt_id"], ["attempt.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_call_event_attempt_id", "call_event", ["attempt_id"], unique=False)
    op.create_index("ix_call_event_kind", "call_event", ["kind"], unique=False)


def downgrade() -> None:
    """Drop the call_event table."""
    op.drop_index("ix_call_event_kind", table_name="call_event")
    op.drop_index("ix_call_event_attempt_id", table_name="call_event")
    op.drop_table("call_event")
