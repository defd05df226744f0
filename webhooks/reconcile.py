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

import msgspec

from kernel.db import Pool, unit_of_work
from messaging import inbox
from messaging.service import Report, apply_reports
from messaging.states import Status
from webhooks import meta, repository

__all__ = ["ORPHAN_RETRY_FOR", "Reconciled", "reconcile", "reconcile_batch", "reports"]

log = logging.getLogger("switchboard.reconcile")

SOURCE = "webhook:whatsapp"
ORPHAN_RETRY_FOR = timedelta(minutes=10)
_REPORTABLE = {s.value: s for s in (Status.SENT, Status.DELIVERED, Status.READ, Status.FAILED)}


@dataclass(frozen=True, slots=True)
class Reconciled:
    state: str  # processed | orphaned | unparseable | skipped (already done)
    statuses: int = 0
    inbound: int = 0
    retry_in: timedelta | None = None  # orphans that may still find their message


def _message_id(status: meta.MetaStatus) -> UUID | None:
    try:
        return UUID(status.biz_opaque_callback_data) if status.biz_opaque_callback_data else None
    except ValueError:
        return None


def reports(body: meta.Notification, raw_event_id: int | None, owned: set[str]) -> tuple[list[Report], list[str]]:
    """The statuses of a notification as reports, for the phone numbers in ``owned``; and notes
    on what was not read."""
    found: list[Report] = []
    notes: list[str] = []
    for value in _values(body):
        phone_number_id = value.metadata.phone_number_id if value.metadata else None
        if phone_number_id not in owned:
            notes.append(f"unknown phone_number_id {phone_number_id}")
            continue
        for status in value.statuses:
            reported = _REPORTABLE.get(status.status)
            if reported is None:
                notes.append(f"status {status.status!r} of {status.id} not tracked")
                continue
            error = status.errors[0] if status.errors else None
            found.append(
                Report(
                    message_id=_message_id(status),
                    provider_message_id=status.id,
                    status=reported,
                    source=SOURCE,
                    dedupe_key=status.dedupe_key,
                    detail=error.describe() if error else None,
                    error_code=error.code if error else None,
                    raw_event_id=raw_event_id,
                    occurred_at=status.occurred_at,
                )
            )
    return found, notes


def _values(body: meta.Notification) -> list[meta.Value]:
    return [change.value for entry in body.entry for change in entry.changes if change.field == "messages"]


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
        parsed: dict[UUID, list[tuple[Any, meta.Notification]]] = defaultdict(list)
        for raw in rows:
            if raw["state"] not in ("received", "orphaned") and not replay:
                continue
            try:
                parsed[raw["tenant_id"]].append((raw, meta.decode(raw["body"])))
            except msgspec.MsgspecError as error:
                marks.append((raw["tenant_id"], raw["id"], "unparseable", str(error)[:500]))
                done[raw["id"]] = Reconciled("unparseable")
                log.warning("unparseable webhook body stored", extra={"fields": {"raw_event_id": raw["id"]}})
        # Tenants in a fixed order, so concurrent reconcilers lock messages in one global order.
        for tenant_id in sorted(parsed):
            events = parsed[tenant_id]
            senders = await repository.tenant_senders(conn, tenant_id)
            found: list[Report] = []
            notes: dict[int, list[str]] = {}
            arrived: list[inbox.Inbound] = []
            for raw, body in events:
                statuses, notes[raw["id"]] = reports(body, raw["id"], set(senders))
                found.extend(statuses)
                for value in _values(body):
                    sender_id = senders.get(value.metadata.phone_number_id) if value.metadata else None
                    if sender_id is not None:
                        arrived.extend(meta.inbound(value, sender_id, raw["id"]))
            orphans = await apply_reports(conn, tenant_id, found)
            await inbox.record(conn, tenant_id, arrived)
            orphaned_by_event: dict[int, int] = defaultdict(int)
            for report in orphans:
                assert report.raw_event_id is not None
                orphaned_by_event[report.raw_event_id] += 1
                notes[report.raw_event_id].append(f"unknown message {report.provider_message_id}")
            applied = Counter(r.raw_event_id for r in found)
            received = Counter(m.raw_event_id for m in arrived)
            for raw, _ in events:
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
