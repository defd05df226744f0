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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import msgspec

from kernel.db import Connection, Pool, unit_of_work
from messaging import inbox
from messaging.service import Report, apply_reports
from messaging.states import Status
from webhooks import meta, repository

__all__ = ["ORPHAN_RETRY_FOR", "Reconciled", "reconcile", "reports"]

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


async def _apply(
    conn: Connection, tenant_id: UUID, raw_event_id: int, senders: dict[str, UUID], body: meta.Notification
) -> tuple[int, int, list[str], bool]:
    """Apply statuses and store inbound messages; returns (statuses, inbound, notes, orphans)."""
    found, notes = reports(body, raw_event_id, set(senders))
    arrived: list[inbox.Inbound] = []
    for value in _values(body):
        sender_id = senders.get(value.metadata.phone_number_id) if value.metadata else None
        if sender_id is not None:
            arrived.extend(meta.inbound(value, sender_id, raw_event_id))
    orphans = await apply_reports(conn, tenant_id, found)
    notes.extend(f"unknown message {report.provider_message_id}" for report in orphans)
    await inbox.record(conn, tenant_id, arrived)
    return len(found) - len(orphans), len(arrived), notes, bool(orphans)


async def reconcile(pool: Pool, tenant_id: UUID, raw_event_id: int, *, replay: bool = False) -> Reconciled:
    """Reconcile one raw event. Already processed ones are skipped unless ``replay``: replaying is
    safe because every fact is recorded once."""
    async with unit_of_work(pool) as conn:
        raw = await repository.lock_raw_event(conn, tenant_id, raw_event_id)
        if raw is None or (raw["state"] not in ("received", "orphaned") and not replay):
            return Reconciled("skipped")
        try:
            body = meta.decode(raw["body"])
        except msgspec.MsgspecError as error:
            await repository.mark_raw_event(conn, tenant_id, raw_event_id, "unparseable", str(error)[:500])
            log.warning("unparseable webhook body stored", extra={"fields": {"raw_event_id": raw_event_id}})
            return Reconciled("unparseable")
        senders = await repository.tenant_senders(conn, tenant_id)
        statuses, arrived, notes, orphans = await _apply(conn, tenant_id, raw_event_id, senders, body)
        state = "orphaned" if notes else "processed"
        await repository.mark_raw_event(conn, tenant_id, raw_event_id, state, "; ".join(notes)[:2000] or None)
    retry_in = None
    age = datetime.now(UTC) - raw["received_at"]
    if orphans and age < ORPHAN_RETRY_FOR and not replay:
        retry_in = min(max(age, timedelta(seconds=2)), timedelta(minutes=2))
    return Reconciled(state, statuses, arrived, retry_in)
