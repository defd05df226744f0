"""xact_id on message_events and inbound_messages: a gap-free cursor for WatchMessageEvents

Each row carries the id of the transaction that wrote it. Rows of transactions older than the
current snapshot's xmin can no longer appear, so a reader that delivers only those, in
(xact_id, id) order, never skips a row that commits late and never sends one twice.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-01 01:15:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

XACT = "((pg_current_xact_id())::text)::bigint"


def upgrade() -> None:
    for table in ("message_events", "inbound_messages"):
        op.execute(f"ALTER TABLE {table} ADD COLUMN xact_id bigint NOT NULL DEFAULT {XACT}")
        op.execute(f"CREATE INDEX ix_{table}_tenant_id_xact_id ON {table} (tenant_id, xact_id, id)")


def downgrade() -> None:
    for table in ("message_events", "inbound_messages"):
        op.execute(f"DROP INDEX ix_{table}_tenant_id_xact_id")
        op.execute(f"ALTER TABLE {table} DROP COLUMN xact_id")
