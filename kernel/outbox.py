"""Transactional outbox: side effects are rows written in the same transaction as the change.

A row names an actor (``topic``, e.g. ``"messaging.deliver"``) and its keyword arguments. The relay
(:mod:`kernel.outbox_relay`) publishes committed rows to Dramatiq; because the row commits or rolls
back with the change, a crash can never leave a change without its effect or an effect without
its change. Publication is at-least-once: actors must be idempotent.

Writers also ``NOTIFY`` :data:`CHANNEL` in the same statement, which PostgreSQL delivers at commit,
so the relay wakes at once instead of polling.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Column, DateTime, Index, SmallInteger, Table, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID

from kernel.db import Connection
from kernel.models import metadata

__all__ = ["CHANNEL", "backlog", "enqueue", "outbox"]

CHANNEL = "switchboard_outbox"

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("topic", Text, nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("published_at", DateTime(timezone=True), nullable=True),
    # Set when the row could never be published (e.g. no actor has its topic): the row is set
    # aside, marked published, and kept for operators instead of blocking every row behind it.
    Column("error", Text, nullable=True),
    # 0 first: the relay publishes transactional work before bulk work queued earlier (a tenant's
    # 50,000 marketing messages must not delay another's one-time passwords).
    Column("priority", SmallInteger, nullable=False, server_default="0"),
    # The relay's claim query reads only unpublished rows, in (priority, id) order; keep it tiny.
    # Whose work the row is: bulk rows are dispatched fairly among tenants, so they must say.
    Column("tenant_id", UUID(as_uuid=True), nullable=True),
    CheckConstraint("priority = 0 OR tenant_id IS NOT NULL", name="ck_outbox_bulk_has_tenant"),
    Index("ix_outbox_unpublished", "priority", "id", postgresql_where=text("published_at IS NULL")),
    # The relay's fair bulk claim: the tenants with bulk rows waiting, and each one's oldest.
    Index("ix_outbox_bulk", "tenant_id", "id", postgresql_where=text("published_at IS NULL AND priority > 0")),
)


async def enqueue(conn: Connection, topic: str, **payload: Any) -> int:
    """Write one outbox row (and wake the relay at commit). Returns the row id."""
    row_id: int = await conn.fetchval(
        "WITH o AS (INSERT INTO outbox (topic, payload) VALUES ($1, $2) RETURNING id) "
        f"SELECT id FROM o, pg_notify('{CHANNEL}', '')",
        topic,
        payload,
    )
    return row_id


async def backlog(conn: Connection) -> int:
    """Rows not yet published (the relay's backlog; the partial index makes this cheap)."""
    count: int = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
    return count
