"""webhook_endpoints, webhook_events, webhook_deliveries, webhook_attempts; the triggers that
derive partner events from the audit trail

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-01 00:15:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Shared by the three triggers: an endpoint of the tenant that is enabled and wants this type.
_WANTS = "e.tenant_id = {tenant} AND e.status = 'enabled' AND (cardinality(e.event_types) = 0 OR {type} = ANY(e.event_types))"

_FANOUT = """
    INSERT INTO webhook_deliveries (tenant_id, endpoint_id, event_id, next_attempt_at)
    SELECT ev.tenant_id, e.id, ev.id, now() FROM ev JOIN webhook_endpoints e ON {wants};
    IF FOUND THEN
        PERFORM pg_notify('switchboard_partner_webhooks', '');
    END IF;
""".format(wants=_WANTS.format(tenant="ev.tenant_id", type="ev.type"))

_EVENT_ID = "'msg_' || replace(gen_random_uuid()::text, '-', '')"
_NOW = "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

# Statement-level with a transition table: a reconciliation batch that inserts a thousand events
# costs one extra statement, and a tenant without endpoints costs one index probe per row.
MESSAGE_EVENTS = f"""
CREATE FUNCTION partner_events_from_message_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- A status is told once per message, when first reported, even if it arrives after a higher
    -- one (read before delivered: the delivery still happened); duplicates and contradicted
    -- reports are not told.
    WITH picked AS (
        SELECT n.*, CASE WHEN n.outcome = 'fallback' THEN 'message.fallback'
                         ELSE 'message.' || n.reported_status END AS type
        FROM new_rows n
        WHERE n.outcome = 'fallback'
           OR (n.reported_status IN ('queued', 'sent', 'delivered', 'read', 'failed')
               AND (n.applied OR n.outcome = 'stale')
               AND NOT EXISTS (SELECT 1 FROM message_events o
                               WHERE o.message_id = n.message_id AND o.id < n.id
                                 AND o.reported_status = n.reported_status AND (o.applied OR o.outcome = 'stale')))
    ), ev AS (
        INSERT INTO webhook_events (id, tenant_id, type, payload)
        SELECT {_EVENT_ID}, p.tenant_id, p.type, jsonb_build_object(
            'type', p.type, 'timestamp', {_NOW}, 'data', jsonb_strip_nulls(jsonb_build_object(
                'message_id', p.message_id, 'status', p.reported_status, 'to', m.to_number, 'channel', m.channel,
                'source', p.source, 'detail', p.detail, 'error_code', p.error_code,
                'idempotency_key', m.idempotency_key,
                'occurred_at', coalesce(p.occurred_at, p.recorded_at))))
        FROM picked p JOIN messages m ON m.id = p.message_id
        WHERE EXISTS (SELECT 1 FROM webhook_endpoints e WHERE {_WANTS.format(tenant="p.tenant_id", type="p.type")})
        ORDER BY p.id
        RETURNING id, tenant_id, type
    ){_FANOUT}
    RETURN NULL;
END $$;
CREATE TRIGGER partner_events AFTER INSERT ON message_events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION partner_events_from_message_events();
"""

INBOUND = f"""
CREATE FUNCTION partner_events_from_inbound() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH ev AS (
        INSERT INTO webhook_events (id, tenant_id, type, payload)
        SELECT {_EVENT_ID}, n.tenant_id, 'message.inbound', jsonb_build_object(
            'type', 'message.inbound', 'timestamp', {_NOW}, 'data', jsonb_strip_nulls(jsonb_build_object(
                'id', n.id, 'from', n.from_number, 'sender', s.phone_number_id, 'channel', n.channel,
                'message_type', n.type, 'text', n.text, 'media_id', n.media_id, 'reply_to', n.reply_to,
                'provider_message_id', n.provider_message_id, 'occurred_at', n.occurred_at)))
        FROM new_rows n JOIN senders s ON s.id = n.sender_id
        WHERE EXISTS (SELECT 1 FROM webhook_endpoints e WHERE {_WANTS.format(tenant="n.tenant_id", type="'message.inbound'")})
        RETURNING id, tenant_id, type
    ){_FANOUT}
    RETURN NULL;
END $$;
CREATE TRIGGER partner_events AFTER INSERT ON inbound_messages
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION partner_events_from_inbound();
"""

# Row-level: templates change rarely, and upserts (INSERT ... ON CONFLICT DO UPDATE) fire it.
TEMPLATES = f"""
CREATE FUNCTION partner_events_from_templates() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH ev AS (
        INSERT INTO webhook_events (id, tenant_id, type, payload)
        SELECT {_EVENT_ID}, NEW.tenant_id, 'template.status_changed', jsonb_build_object(
            'type', 'template.status_changed', 'timestamp', {_NOW}, 'data', jsonb_strip_nulls(jsonb_build_object(
                'template_id', NEW.id, 'name', NEW.name, 'language', NEW.language, 'waba_id', NEW.waba_id,
                'previous_status', OLD.status, 'status', NEW.status, 'reason', NEW.status_reason)))
        WHERE EXISTS (SELECT 1 FROM webhook_endpoints e
                      WHERE {_WANTS.format(tenant="NEW.tenant_id", type="'template.status_changed'")})
        RETURNING id, tenant_id, type
    ){_FANOUT}
    RETURN NULL;
END $$;
CREATE TRIGGER partner_events AFTER UPDATE OF status ON templates
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION partner_events_from_templates();
"""


def upgrade() -> None:
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("tenant_id", UUID(as_uuid=True), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False, server_default=""),
        sa.Column("event_types", ARRAY(sa.Text()), nullable=False, server_default=sa.text("'{}'::text[]")),
        sa.Column("sealed_secrets", sa.LargeBinary(), nullable=False),
        sa.Column("previous_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.Text(), nullable=False, server_default="enabled"),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("status IN ('enabled', 'disabled')", name="status_known"),
    )
    op.create_index("ix_webhook_endpoints_tenant_id", "webhook_endpoints", ["tenant_id"])
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("tenant_id", UUID(as_uuid=True), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("payload", JSONB(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.create_index("ix_webhook_events_tenant_id_created_at", "webhook_events", ["tenant_id", "created_at"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("tenant_id", UUID(as_uuid=True), nullable=False),
        sa.Column(
            "endpoint_id",
            UUID(as_uuid=True),
            sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("event_id", sa.Text(), sa.ForeignKey("webhook_events.id", ondelete="CASCADE"), nullable=False),
        sa.Column("status", sa.Text(), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("attempt_floor", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_response_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name="status_known"),
        sa.UniqueConstraint("endpoint_id", "event_id"),
    )
    op.create_index(
        "ix_webhook_deliveries_due",
        "webhook_deliveries",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index("ix_webhook_deliveries_endpoint_id_id", "webhook_deliveries", ["endpoint_id", "id"])
    op.create_table(
        "webhook_attempts",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("tenant_id", UUID(as_uuid=True), nullable=False),
        sa.Column(
            "delivery_id", sa.BigInteger(), sa.ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.create_index("ix_webhook_attempts_delivery_id", "webhook_attempts", ["delivery_id"])
    for ddl in (MESSAGE_EVENTS, INBOUND, TEMPLATES):
        function, trigger = ddl.split("CREATE TRIGGER")  # one command per statement (asyncpg)
        op.execute(function)
        op.execute("CREATE TRIGGER" + trigger)


def downgrade() -> None:
    op.execute("DROP TRIGGER partner_events ON templates")
    op.execute("DROP TRIGGER partner_events ON inbound_messages")
    op.execute("DROP TRIGGER partner_events ON message_events")
    for name in ("templates", "inbound", "message_events"):
        op.execute(f"DROP FUNCTION partner_events_from_{name}()")
    for table in ("webhook_attempts", "webhook_deliveries", "webhook_events", "webhook_endpoints"):
        op.drop_table(table)
