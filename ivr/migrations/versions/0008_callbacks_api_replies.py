"""callbacks, API tokens, text replies, job marks, audit samples; staff phone, contact e-mail

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the tables and the nullable columns (existing rows: none set)."""
    op.create_table(
        "agent_callback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("escalation_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        # A plain string like the other enum columns (see 0001): new states need no migration.
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("call_sid", sa.String(length=64), nullable=True),
        sa.Column("dial_call_sid", sa.String(length=64), nullable=True),
        sa.Column("dial_status", sa.String(length=32), nullable=True),
        sa.Column("dial_duration_s", sa.Integer(), nullable=True),
        sa.Column("window_override", sa.Boolean(), nullable=False),
        sa.Column("override_reason", sa.Text(), nullable=True),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("placed_at", sa.DateTime(), nullable=True),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.Column("bridged_at", sa.DateTime(), nullable=True),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["escalation_id"], ["escalation.id"]),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"]),
        sa.ForeignKeyConstraint(["agent_id"], ["staff_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("call_sid"),
    )
    op.create_index(
        "ix_agent_callback_escalation_id", "agent_callback", ["escalation_id"], unique=False
    )
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=12), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["staff_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_api_token_user_id", "api_token", ["user_id"], unique=False)
    op.create_table(
        "inbound_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_sid", sa.String(length=64), nullable=False),
        sa.Column("from_phone", sa.String(length=20), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_sid"),
    )
    op.create_index(
        "ix_inbound_message_from_phone", "inbound_message", ["from_phone"], unique=False
    )
    op.create_table(
        "audit_sample",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("share", sa.Float(), nullable=False),
        sa.Column("min_count", sa.Integer(), nullable=True),
        sa.Column("seed", sa.String(length=64), nullable=False),
        sa.Column("population", sa.Integer(), nullable=False),
        sa.Column("strata", sa.JSON(), nullable=False),
        sa.Column("drawn_at", sa.DateTime(), nullable=False),
        sa.Column("drawn_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_sample_campaign_id", "audit_sample", ["campaign_id"], unique=False)
    op.create_table(
        "audit_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sample_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("why", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(), nullable=True),
        sa.Column("recorded_by", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"]),
        sa.ForeignKeyConstraint(["sample_id"], ["audit_sample.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sample_id", "case_id"),
    )
    op.create_index("ix_audit_item_sample_id", "audit_item", ["sample_id"], unique=False)
    op.create_table(
        "job_mark",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("recording") as batch:
        batch.add_column(sa.Column("callback_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_recording_callback", "agent_callback", ["callback_id"], ["id"])
        batch.create_index("ix_recording_callback_id", ["callback_id"], unique=False)
    op.create_index(
        "ix_attempt_reached",
        "attempt",
        ["case_id", "number"],
        unique=False,
        postgresql_where=sa.text("reached"),
        sqlite_where=sa.text("reached"),
    )
    with op.batch_alter_table("staff_user") as batch:
        batch.add_column(sa.Column("phone", sa.String(length=20), nullable=True))
    with op.batch_alter_table("contact") as batch:
        batch.add_column(sa.Column("email", sa.String(length=254), nullable=True))


def downgrade() -> None:
    """Drop the columns and the tables."""
    with op.batch_alter_table("contact") as batch:
        batch.drop_column("email")
    op.drop_index("ix_attempt_reached", table_name="attempt")
    with op.batch_alter_table("staff_user") as batch:
        batch.drop_column("phone")
    with op.batch_alter_table("recording") as batch:
        batch.drop_index("ix_recording_callback_id")
        batch.drop_constraint("fk_recording_callback", type_="foreignkey")
        batch.drop_column("callback_id")
    op.drop_table("job_mark")
    op.drop_index("ix_audit_item_sample_id", table_name="audit_item")
    op.drop_table("audit_item")
    op.drop_index("ix_audit_sample_campaign_id", table_name="audit_sample")
    op.drop_table("audit_sample")
    op.drop_index("ix_inbound_message_from_phone", table_name="inbound_message")
    op.drop_table("inbound_message")
    op.drop_index("ix_api_token_user_id", table_name="api_token")
    op.drop_table("api_token")
    op.drop_index("ix_agent_callback_escalation_id", table_name="agent_callback")
    op.drop_table("agent_callback")
