"""raw_events.query: the query string of the callback URL, as signed

Twilio's status callbacks carry no field of ours, so the SMS channel names its message in the
``StatusCallback`` URL's query; the query is kept with the body so reconciliation (and replays)
can read it.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30 21:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("raw_events", sa.Column("query", sa.Text(), server_default="", nullable=False))


def downgrade() -> None:
    op.drop_column("raw_events", "query")
