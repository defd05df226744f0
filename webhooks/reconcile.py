"""Reconciliation (worker time): apply every status in a stored notification to its message.

Routing stays inside the tenant that owns the webhook URL: a status is matched by our message id
(echoed in ``biz_opaque_callback_data``) or else by the wamid, and only for a phone_number_id the
tenant owns. What matches nothing is kept in the raw log, marked ``orphaned``, and changes nothing.
Each status is recorded once per (wamid, status, timestamp), so a replayed or duplicated
notification changes nothing either.
"""

from __future__ import annotations

import logging
from uuid import UUID

import msgspec

from kernel.db import Connection, Pool, unit_of_work
from messaging.service import Report, apply_reports
from messaging.states import Status
from webhooks import meta, repository

__all__ = ["reconcile"]

log = logging.getLogger("switchboard.reconcile")

SOURCE = "webhook:whatsapp"
_REPORTABLE = {s.value: s for s in (Status.SENT, Status.DELIVERED, Status.READ, Status.FAILED)}


def _message_id(status: meta.MetaStatus) -> UUID | None:
    try:
        return UUID(status.biz_opaque_callback_data) if status.biz_opaque_callback_data else None
    except ValueError:
        return None


async def _apply(
    conn: Connection, tenant_id: UUID, raw_event_id: int, owned: set[str], body: meta.Notification
) -> list[str]:
    """Apply every status of the notification; returns notes on what could not be applied."""
    notes: list[str] = []
    reports: list[Report] = []
    for entry in body.entry:
        for change in entry.changes:
            if change.field != "messages" or change.value.metadata is None:
                continue
            phone_number_id = change.value.metadata.phone_number_id
            if phone_number_id not in owned:
                notes.append(f"unknown phone_number_id {phone_number_id}")
                continue
            for status in change.value.statuses:
                reported = _REPORTABLE.get(status.status)
                if reported is None:
                    notes.append(f"status {status.status!r} of {status.id} not tracked")
                    continue
                error = status.errors[0] if status.errors else None
                reports.append(
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
    orphans = await apply_reports(conn, tenant_id, reports)
    notes.extend(f"unknown message {report.provider_message_id}" for report in orphans)
    return notes


async def reconcile(pool: Pool, tenant_id: UUID, raw_event_id: int) -> None:
    async with unit_of_work(pool) as conn:
        raw = await repository.lock_raw_event(conn, tenant_id, raw_event_id)
        if raw is None or raw["state"] != "received":
            return
        try:
            body = meta.decode(raw["body"])
        except msgspec.MsgspecError as error:
            await repository.mark_raw_event(conn, tenant_id, raw_event_id, "unparseable", str(error)[:500])
            log.warning("unparseable webhook body stored", extra={"fields": {"raw_event_id": raw_event_id}})
            return
        owned = await repository.tenant_phone_number_ids(conn, tenant_id)
        notes = await _apply(conn, tenant_id, raw_event_id, owned, body)
        await repository.mark_raw_event(
            conn, tenant_id, raw_event_id, "orphaned" if notes else "processed", "; ".join(notes)[:2000] or None
        )
