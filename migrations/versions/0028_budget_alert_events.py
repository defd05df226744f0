"""billing.budget_alert partner events: a budget alert (80%, 100%) is told to the tenant's endpoints

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-01 01:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As the other partner-event triggers (0025): written in the transaction that records the alert.
FUNCTION = """
CREATE FUNCTION partner_events_from_budget_alerts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH ev AS (
        INSERT INTO webhook_events (id, tenant_id, type, payload)
        SELECT 'msg_' || replace(gen_random_uuid()::text, '-', ''), NEW.tenant_id, 'billing.budget_alert',
               jsonb_build_object(
                   'type', 'billing.budget_alert',
                   'timestamp', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                   'data', jsonb_build_object('month', to_char(NEW.month, 'YYYY-MM'), 'threshold', NEW.threshold,
                                              'spent', NEW.spent, 'budget', NEW.budget))
        WHERE EXISTS (SELECT 1 FROM webhook_endpoints e
                      WHERE e.tenant_id = NEW.tenant_id AND e.status = 'enabled'
                        AND (cardinality(e.event_types) = 0 OR 'billing.budget_alert' = ANY(e.event_types)))
        RETURNING id, tenant_id, type
    )
    INSERT INTO webhook_deliveries (tenant_id, endpoint_id, event_id, next_attempt_at)
    SELECT ev.tenant_id, e.id, ev.id, now() FROM ev JOIN webhook_endpoints e
        ON e.tenant_id = ev.tenant_id AND e.status = 'enabled'
       AND (cardinality(e.event_types) = 0 OR ev.type = ANY(e.event_types));
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.execute(FUNCTION)
    op.execute(
        "CREATE TRIGGER partner_events AFTER INSERT ON budget_alerts "
        "FOR EACH ROW EXECUTE FUNCTION partner_events_from_budget_alerts()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER partner_events ON budget_alerts")
    op.execute("DROP FUNCTION partner_events_from_budget_alerts()")
