"""Dead letters: messages that failed for good, which an operator may send again or set aside.

A message is a dead letter when its status is ``failed`` (a permanent error, or retries used up)
and nobody has discarded it. Both operator actions are audited as events with source
``operator``:

* **retry** puts the message back to ``queued`` with a fresh round of attempts (the earlier
  attempts stay on record; ``attempt_floor`` marks where the new round starts) and publishes it
  as transactional work;
* **discard** keeps the message ``failed`` and takes it off the dead-letter list.

Only a dead letter can be retried or discarded: anything else answers FAILED_PRECONDITION, and
another tenant's message answers exactly like an unknown one.
"""

from __future__ import annotations

from uuid import UUID

import asyncpg

from kernel.db import Connection
from kernel.errors import FailedPrecondition, InvalidInput, NotFound
from kernel.pagination import MAX_PAGE, decode_cursor, page
from messaging import dead_letters_repository
from messaging.schemas import DeadLetterList, DeadLetterView, MessageView
from messaging.service import get_message, view
from messaging.states import Status

__all__ = ["count_all_tenants", "discard", "list_dead_letters", "retry"]


async def list_dead_letters(conn: Connection, tenant_id: UUID, *, cursor: str | None, limit: int) -> DeadLetterList:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput("limit", "range", f"between 1 and {MAX_PAGE}")
    before = None
    if cursor:
        at, (ident,) = decode_cursor(cursor, UUID)
        before = (at, ident)
    rows = await dead_letters_repository.list_dead_letters(conn, tenant_id, before=before, limit=limit + 1)
    shown, next_cursor = page(rows, limit, lambda r: (r["updated_at"], r["id"]))
    return DeadLetterList(
        data=[DeadLetterView(message=view(r), attempts=r["attempts"], failed_at=r["updated_at"]) for r in shown],
        next_cursor=next_cursor,
    )


async def _dead_letter(conn: Connection, tenant_id: UUID, message_id: UUID, action: str) -> asyncpg.Record:
    row = await dead_letters_repository.lock_for_operator(conn, tenant_id, message_id)
    if row is None:
        raise NotFound(f"message {message_id} not found")
    if row["status"] != Status.FAILED or row["discarded_at"] is not None:
        state = "discarded" if row["discarded_at"] is not None else row["status"]
        raise FailedPrecondition(f"only a failed message that is not discarded can be {action}; this one is {state}")
    return row


async def retry(conn: Connection, tenant_id: UUID, message_id: UUID, *, by: str = "operator") -> MessageView:
    """Send a dead letter again (the caller's connection; one transaction)."""
    async with conn.transaction():
        row = await _dead_letter(conn, tenant_id, message_id, "retried")
        await dead_letters_repository.requeue(
            conn,
            tenant_id,
            message_id,
            attempt_floor=row["last_attempt"] or 0,
            detail=f"retried by {by}",
            sender=row["phone_number_id"],
        )
    return await get_message(conn, tenant_id, message_id)


async def discard(conn: Connection, tenant_id: UUID, message_id: UUID, *, by: str = "operator") -> MessageView:
    """Set a dead letter aside: it stays failed and leaves the list."""
    async with conn.transaction():
        await _dead_letter(conn, tenant_id, message_id, "discarded")
        await dead_letters_repository.discard(conn, tenant_id, message_id, f"discarded by {by}")
    return await get_message(conn, tenant_id, message_id)


async def count_all_tenants(conn: Connection) -> int:
    """Dead letters across the platform (the operator's health page)."""
    count: int = await conn.fetchval("SELECT count(*) FROM messages WHERE status = 'failed' AND discarded_at IS NULL")
    return count
