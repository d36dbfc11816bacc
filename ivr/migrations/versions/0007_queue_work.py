"""escalation claim, resolution and SLA columns; escalation history, evidence, agents' scopes

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ESCALATION_COLUMNS = (
    ("claimed_by_id", sa.Integer()),
    ("claimed_at", sa.DateTime()),
    ("touched_at", sa.DateTime()),
    ("resolved_by_id", sa.Integer()),
    ("resolved_at", sa.DateTime()),
    ("outcome", sa.String(length=50)),
    ("resolution_note", sa.Text()),
    ("overdue_at", sa.DateTime()),
    ("notified_at", sa.DateTime()),
)


def upgrade() -> None:
    """Add the columns (existing escalations: unclaimed, unresolved) and the three tables."""
    with op.batch_alter_table("escalation") as batch:
        for name, kind in _ESCALATION_COLUMNS:
            batch.add_column(sa.Column(name, kind, nullable=True))
        batch.create_foreign_key(
            "fk_escalation_claimed_by", "staff_user", ["claimed_by_id"], ["id"]
        )
        batch.create_foreign_key(
            "fk_escalation_resolved_by", "staff_user", ["resolved_by_id"], ["id"]
        )
    op.create_table(
        "escalation_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("escalation_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=30), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["escalation_id"], ["escalation.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_escalation_event_escalation_id", "escalation_event", ["escalation_id"], unique=False
    )
    op.create_table(
        "evidence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("escalation_id", sa.Integer(), nullable=False),
        # A plain string like the other enum columns (see 0001): new kinds need no migration.
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("recording_id", sa.Integer(), nullable=True),
        sa.Column("path", sa.String(length=300), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("size_bytes", sa.Integer(), nullable=True),
        sa.Column("media_type", sa.String(length=100), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("added_by", sa.String(length=100), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["escalation_id"], ["escalation.id"]),
        sa.ForeignKeyConstraint(["recording_id"], ["recording.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_evidence_escalation_id", "evidence", ["escalation_id"], unique=False)
    op.create_table(
        "staff_scope",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("department", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["staff_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_staff_scope_user_id", "staff_scope", ["user_id"], unique=False)


def downgrade() -> None:
    """Drop the three tables and the columns."""
    op.drop_index("ix_staff_scope_user_id", table_name="staff_scope")
    op.drop_table("staff_scope")
    op.drop_index("ix_evidence_escalation_id", table_name="evidence")
    op.drop_table("evidence")
    op.drop_index("ix_escalation_event_escalation_id", table_name="escalation_event")
    op.drop_table("escalation_event")
    with op.batch_alter_table("escalation") as batch:
        batch.drop_constraint("fk_escalation_resolved_by", type_="foreignkey")
        batch.drop_constraint("fk_escalation_claimed_by", type_="foreignkey")
        for name, _kind in reversed(_ESCALATION_COLUMNS):
            batch.drop_column(name)
