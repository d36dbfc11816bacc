"""do_not_call: numbers never to be dialled; contact.phone and case.contact_id indexed for the caps

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the do_not_call table; index the way from a number to its attempts."""
    op.create_table(
        "do_not_call",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.Column("until", sa.DateTime(), nullable=True),
        # A plain string like the other enum columns (see 0001): new sources need no migration.
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("added_by", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("phone"),
    )
    # The per-number caps count attempts by phone: contact.phone -> case.contact_id -> attempt.
    op.create_index("ix_contact_phone", "contact", ["phone"], unique=False)
    op.create_index("ix_case_contact_id", "case", ["contact_id"], unique=False)


def downgrade() -> None:
    """Drop the indexes and the table (the list is lost)."""
    op.drop_index("ix_case_contact_id", table_name="case")
    op.drop_index("ix_contact_phone", table_name="contact")
    op.drop_table("do_not_call")
