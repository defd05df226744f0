"""messages: fillfactor 70 for HOT status updates; drop the redundant events index

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 01:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE messages SET (fillfactor = 70)")
    op.drop_index("ix_message_events_message_id_id", table_name="message_events")


def downgrade() -> None:
    op.create_index("ix_message_events_message_id_id", "message_events", ["message_id", "id"])
    op.execute("ALTER TABLE messages RESET (fillfactor)")
