"""campaign.flow_definition: a campaign may run a flow of its own, kept with it

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the nullable column; existing campaigns keep their shipped flow."""
    with op.batch_alter_table("campaign") as batch:
        batch.add_column(sa.Column("flow_definition", sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop the column (campaigns with their own flow lose it)."""
    with op.batch_alter_table("campaign") as batch:
        batch.drop_column("flow_definition")
