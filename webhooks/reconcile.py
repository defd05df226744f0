"""Reconciliation (worker time): apply every status in a stored notification to its message.

Routing stays inside the tenant that owns the webhook URL: a status is matched by our message id
(echoed in ``biz_opaque_callback_data``) or else by the wamid, and only for a phone_number_id the
tenant owns. What matches nothing is kept in the raw log, marked ``orphaned``, and changes nothing.
Each status is recorded once per (wamid, status, timestamp), so a replayed or duplicated
notification changes nothing either.
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from kernel.db import Connection, Pool, unit_of_work
from messaging import repository as messages
from messaging.service import record_status
from messaging.states import Status
from webhooks import meta, repository

__all__ = ["reconcile"]

log = logging.getLogger("switchboard.reconcile")

SOURCE = "webhook:whatsapp"
_REPORTABLE = {s.value: s for s in (Status.SENT, Status.DELIVERED, Status.READ, Status.FAILED)}


async def _find_message(conn: Connection, tenant_id: UUID, status: meta.MetaStatus) -> asyncpg.Record | None:
    if status.biz_opaque_callback_data:
        try:
            message_id = UUID(status.biz_opaque_callback_data)
        except ValueError:
            pass
        else:
            found = await messages.lock_status(conn, tenant_id, message_id)
            if found is not None:
                return found
    return await messages.lock_message_by_provider_id(conn, tenant_id, status.id)


async def _apply(
    conn: Connection, tenant_id: UUID, raw_event_id: int, owned: set[str], body: meta.Notification
) -> list[str]:
    """Apply each status; returns notes on what could not be applied."""
    notes: list[str] = []
    pending: list[meta.MetaStatus] = []
    for entry in body.entry:
        for change in entry.changes:
            if change.field != "messages" or change.value.metadata is None:
                continue
            phone_number_id = change.value.metadata.phone_number_id
            if phone_number_id not in owned:
                notes.append(f"unknown phone_number_id {phone_number_id}")
                continue
            pending.extend(change.value.statuses)
    # Lock messages in one global order so concurrent reconcilers cannot deadlock.
    pending.sort(key=lambda status: status.biz_opaque_callback_data or status.id)
    # Each message is locked once per transaction; its status is then tracked here.
    locked: dict[str, dict[str, Any]] = {}
    for status in pending:
        reported = _REPORTABLE.get(status.status)
        if reported is None:
            notes.append(f"status {status.status!r} of {status.id} not tracked")
            continue
        key = status.biz_opaque_callback_data or status.id
        message = locked.get(key)
        if message is None:
            row = await _find_message(conn, tenant_id, status)
            if row is None:
                notes.append(f"unknown message {status.id}")
                continue
            message = locked[key] = {"id": row["id"], "tenant_id": row["tenant_id"], "status": row["status"]}
        error = status.errors[0] if status.errors else None
        transition = await record_status(
            conn,
            message,
            reported,
            source=SOURCE,
            detail=error.describe() if error else None,
            error_code=error.code if error else None,
            raw_event_id=raw_event_id,
            dedupe_key=status.dedupe_key,
            occurred_at=status.occurred_at,
            # The status may overtake the worker's own commit of the wamid.
            provider_message_id=status.id,
        )
        if transition is not None:
            message["status"] = transition.current
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
