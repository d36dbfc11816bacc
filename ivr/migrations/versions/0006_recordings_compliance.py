"""recording start, retention, legal hold, listening copy and key; the audit log; staff users

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the recording columns (existing rows: no hold, retention not yet computed)."""
    with op.batch_alter_table("recording") as batch:
        batch.add_column(sa.Column("started_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("listen_path", sa.String(length=300), nullable=True))
        batch.add_column(sa.Column("key_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("retain_until", sa.Date(), nullable=True))
        batch.add_column(
            sa.Column("legal_hold", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("purged_at", sa.DateTime(), nullable=True))
    op.create_table(
        "audit_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=50), nullable=False),
        sa.Column("object_kind", sa.String(length=50), nullable=False),
        sa.Column("object_id", sa.String(length=100), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("entry_hash"),
    )
    op.create_index("ix_audit_entry_action", "audit_entry", ["action"], unique=False)
    op.create_table(
        "staff_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("password_hash", sa.String(length=300), nullable=False),
        # A plain string like the other enum columns (see 0001): new roles need no migration.
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )


def downgrade() -> None:
    """Drop the staff users, the audit log and the recording columns."""
    op.drop_table("staff_user")
    op.drop_index("ix_audit_entry_action", table_name="audit_entry")
    op.drop_table("audit_entry")
    with op.batch_alter_table("recording") as batch:
        for column in (
            "purged_at",
            "legal_hold",
            "retain_until",
            "key_id",
            "listen_path",
            "started_at",
        ):
            batch.drop_column(column)
