"""templates.parameter_format; tenants.config_version bumped by every change to a tenant's routing data

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 05:00:00

Every process caches resolved routes (sender, template) keyed by the tenant's config_version, which
authentication reads in the query it already makes. The triggers bump it in the same transaction as
any change to credentials, senders or templates, whichever path makes it (API, sync, webhook, SQL),
so the next request on every process sees the change without any message between processes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("credentials", "senders", "templates")


def upgrade() -> None:
    op.add_column("templates", sa.Column("parameter_format", sa.Text(), server_default="POSITIONAL", nullable=False))
    op.add_column("tenants", sa.Column("config_version", sa.BigInteger(), server_default="0", nullable=False))
    op.execute(
        """
        CREATE FUNCTION bump_tenant_config_version() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE tenants SET config_version = config_version + 1
            WHERE id = COALESCE(NEW.tenant_id, OLD.tenant_id);
            IF TG_OP = 'UPDATE' AND NEW.tenant_id IS DISTINCT FROM OLD.tenant_id THEN
                UPDATE tenants SET config_version = config_version + 1 WHERE id = OLD.tenant_id;
            END IF;
            RETURN NULL;
        END $$
        """
    )
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_bump_config_version AFTER INSERT OR UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION bump_tenant_config_version()"
        )


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER {table}_bump_config_version ON {table}")
    op.execute("DROP FUNCTION bump_tenant_config_version()")
    op.drop_column("tenants", "config_version")
    op.drop_column("templates", "parameter_format")
