"""attempts not yet settled: a partial index for the reconcile sweep of every dialler pass

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Only the attempts in flight are in it, so it stays small however large the table grows."""
    op.create_index(
        "ix_attempt_unsettled",
        "attempt",
        ["created_at"],
        postgresql_where=sa.text("settled_at IS NULL"),
        sqlite_where=sa.text("settled_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_attempt_unsettled", table_name="attempt")
