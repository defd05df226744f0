"""Reconciliation (worker time): apply a stored notification to the tenant's messages and inbox.

Routing stays inside the tenant that owns the webhook URL: a status is matched by our message id
(echoed in ``biz_opaque_callback_data``) or else by the wamid, and only for a phone_number_id the
tenant owns; inbound messages are filed under the tenant's sender they were written to. Each status
is recorded once per (wamid, status, timestamp) and each inbound message once per provider id, so
a replayed or duplicated notification changes nothing.

What matches nothing is kept in the raw log, marked ``orphaned``, and changes nothing. A status for
an unknown wamid may simply have overtaken the commit of its send, so such a notification is tried
again for :data:`ORPHAN_RETRY_FOR` before it is left to operators.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from kernel.db import Pool, unit_of_work
from messaging import channels_repository, inbox
from messaging.status_reports import Report, apply_reports
from webhooks import repository
from webhooks.parsing import Complaint, NumberUpdate, TemplateStatus, Unparseable, parse

__all__ = ["ORPHAN_RETRY_FOR", "Reconciled", "reconcile", "reconcile_batch"]

log = logging.getLogger("switchboard.reconcile")

ORPHAN_RETRY_FOR = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class Reconciled:
    state: str  # processed | orphaned | unparseable | skipped (already done)
    statuses: int = 0
    inbound: int = 0
    retry_in: timedelta | None = None  # orphans that may still find their message


@dataclass(frozen=True, slots=True)
class _TemplateChange:
    raw_event_id: int
    status: TemplateStatus


def _orphan_retry(received_at: datetime) -> timedelta | None:
    """When to look again for the messages of orphaned statuses: soon at first, then rarely."""
    age = datetime.now(UTC) - received_at
    if age >= ORPHAN_RETRY_FOR:
        return None
    return min(max(age * 3, timedelta(seconds=5)), timedelta(minutes=5))


async def reconcile_batch(pool: Pool, keys: list[tuple[UUID, int]], *, replay: bool = False) -> dict[int, Reconciled]:
    """Reconcile raw events, named by (tenant id, raw event id), in one transaction: a handful of
    statements whatever their number (per tenant: its senders, its statuses in four statements, its
    inbound messages in one), so many small notifications cost about what one large one does.

    Already reconciled events are skipped unless ``replay``: replaying is safe because every fact is
    recorded once. Returns what happened to each raw event id.
    """
    done: dict[int, Reconciled] = {}
    async with unit_of_work(pool) as conn:
        rows = await repository.lock_raw_events(conn, keys)
        marks: list[tuple[UUID, int, str, str | None]] = []
        by_tenant: dict[UUID, list[Any]] = defaultdict(list)
        for raw in rows:
            if raw["state"] in ("received", "orphaned") or replay:
                by_tenant[raw["tenant_id"]].append(raw)
        # Tenants in a fixed order, so concurrent reconcilers lock messages in one global order.
        for tenant_id in sorted(by_tenant):
            senders = await repository.tenant_senders(conn, tenant_id)
            found: list[Report] = []
            arrived: list[inbox.Inbound] = []
            notes: dict[int, list[str]] = {}
            templates: list[_TemplateChange] = []
            numbers: list[tuple[int, NumberUpdate]] = []
            complaints: list[Complaint] = []
            parsed_events = []
            for raw in by_tenant[tenant_id]:
                try:
                    parsed = parse(raw["provider"], raw["body"], raw["id"], senders, raw["query"])
                except Unparseable as error:
                    marks.append((tenant_id, raw["id"], "unparseable", str(error)[:500]))
                    done[raw["id"]] = Reconciled("unparseable")
                    log.warning("unparseable webhook body stored", extra={"fields": {"raw_event_id": raw["id"]}})
                    continue
                found.extend(parsed.reports)
                arrived.extend(parsed.inbound)
                templates.extend(_TemplateChange(raw["id"], t) for t in parsed.templates)
                numbers.extend((raw["id"], n) for n in parsed.numbers)
                complaints.extend(parsed.complaints)
                notes[raw["id"]] = parsed.notes
                parsed_events.append(raw)
            orphans = await apply_reports(conn, tenant_id, found)
            await inbox.record(conn, tenant_id, arrived)
            for change in templates:
                if not await repository.set_template_status(conn, tenant_id, change.status):
                    notes[change.raw_event_id].append(f"unknown template {change.status.name}/{change.status.language}")
            for raw_id, number in numbers:
                if not await repository.update_number(conn, tenant_id, number):
                    notes[raw_id].append(f"unknown number {number.display_digits}")
            for complaint in complaints:
                if not await channels_repository.suppress_complainer(conn, tenant_id, complaint.provider_message_id):
                    notes[complaint.raw_event_id].append(f"unknown email {complaint.provider_message_id}")
            orphaned_by_event: dict[int, int] = defaultdict(int)
            for report in orphans:
                raw_id = int(report.raw_event_id or 0)
                orphaned_by_event[raw_id] += 1
                notes[raw_id].append(f"unknown message {report.provider_message_id}")
            applied = Counter(r.raw_event_id for r in found)
            received = Counter(m.raw_event_id for m in arrived)
            for raw in parsed_events:
                raw_id = raw["id"]
                state = "orphaned" if notes[raw_id] else "processed"
                marks.append((tenant_id, raw_id, state, "; ".join(notes[raw_id])[:2000] or None))
                retry_in = _orphan_retry(raw["received_at"]) if orphaned_by_event[raw_id] and not replay else None
                done[raw_id] = Reconciled(
                    state, applied[raw_id] - orphaned_by_event[raw_id], received[raw_id], retry_in
                )
        if marks:
            await repository.mark_raw_events(conn, marks)
    return done


async def reconcile(pool: Pool, tenant_id: UUID, raw_event_id: int, *, replay: bool = False) -> Reconciled:
    """Reconcile one raw event (see :func:`reconcile_batch`)."""
    done = await reconcile_batch(pool, [(tenant_id, raw_event_id)], replay=replay)
    return done.get(raw_event_id, Reconciled("skipped"))
