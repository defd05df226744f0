"""switchboard_stale_caller(): how a write refuses a caller that changed since it was read

A submission made for a remembered principal (tenants.callers) checks in its insert statement that
the key, its tenant and plan rows are the versions the principal was read from; when they are not,
the statement calls this function, which raises SQLSTATE SB001 so nothing is stored.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-01 11:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # VOLATILE, so the planner never evaluates it ahead of the CASE branch that calls it.
    op.execute(
        """
        CREATE FUNCTION switchboard_stale_caller() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
        BEGIN
            RAISE EXCEPTION 'the caller''s key, tenant or plan changed' USING ERRCODE = 'SB001';
        END
        $$
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION switchboard_stale_caller()")
