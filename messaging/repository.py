"""Queries for messages, events and attempts. Every query is scoped by tenant id."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from kernel.db import Connection, Pool
from kernel.outbox import CHANNEL
from kernel.pagination import Params
from tenants.domain import Principal, StaleCaller
from tenants.repository import caller_current

__all__ = [
    "NewMessage",
    "claim_for_delivery",
    "finish_attempt",
    "get_by_idempotency_key",
    "get_by_idempotency_keys",
    "get_message",
    "insert_events",
    "insert_messages",
    "list_events",
    "list_messages",
    "lock_messages",
    "lock_status",
    "record_acceptance",
    "record_event",
    "recorded_facts",
    "settle_pending_attempt",
    "start_attempt",
    "try_claim",
    "update_messages",
]

MESSAGE_COLS = (
    "m.id, m.tenant_id, m.idempotency_key, m.request_hash, m.channel, m.to_number, m.content, m.status, "
    "m.provider_message_id, m.error_code, m.error_reason, m.created_at, m.updated_at, m.sender_id, m.send_at, "
    "m.content->>'type' AS content_type, s.phone_number_id AS sender_phone_number_id"
)
MESSAGE_FROM = "messages m LEFT JOIN senders s ON s.id = m.sender_id"
DELIVER_TOPIC = "messaging.deliver"
BULK_TOPIC = "messaging.deliver_bulk"


class NewMessage(msgspec.Struct, frozen=True):
    """One row for :func:`insert_messages`. (A Struct: made once per message of a batch, it is built
    ten times faster than a frozen dataclass.)"""

    id: UUID
    idempotency_key: str | None
    request_hash: bytes
    sender_id: UUID
    sender_phone_number_id: str
    to_number: str
    content: dict[str, Any]
    bulk: bool = False
    send_at: datetime | None = None

    @property
    def category(self) -> str | None:
        """A template message's category (what it is priced at), None for text."""
        category: str | None = self.content.get("category")
        return category


# One round trip for any number of messages: the messages, their first audit events and their
# delivery outbox rows are written by one statement (so one implicit transaction), and the relay is
# woken once at commit. A message with a future send_at gets its outbox row in scheduled_messages
# instead, which the relay moves to the outbox when it is due (messaging.scheduling). A row whose
# idempotency key is taken is not inserted and not returned.
#
# The rows (``r``) come as parallel arrays (unnest) for a batch: one parse and plan whatever the
# count. One row comes as plain parameters: encoding eleven one-element arrays costs a single send
# about a fifth more CPU in asyncpg than the values themselves. The rest of the statement is shared.
# With a caller ($13 its key's id, $14 its fingerprint), the statement first checks that the key,
# its tenant and plan are as the caller was read (tenants.callers), and fails with SB001 if not,
# in the write's own snapshot. (The EXISTS refers to no row of r: PostgreSQL runs it once.)
_CALLER = (
    f"CASE WHEN $13::uuid IS NULL THEN true WHEN {caller_current('$13', '$14::text')} THEN true "
    "ELSE switchboard_stale_caller() END"
)
_STALE_CALLER = "SB001"
_ROWS = f"""
    SELECT * FROM unnest($2::uuid[], $3::text[], $4::bytea[], $5::uuid[], $6::text[], $7::text[], $8::text[],
                         $9::text[], $10::smallint[], $11::int[], $12::timestamptz[])
        AS r(id, idempotency_key, request_hash, sender_id, to_number, content, sender_phone, topic, priority,
             fallback_after, send_at)
    WHERE {_CALLER}"""
_ROW = f"""
    SELECT $2::uuid AS id, $3::text AS idempotency_key, $4::bytea AS request_hash, $5::uuid AS sender_id,
           $6::text AS to_number, $7::text AS content, $8::text AS sender_phone, $9::text AS topic,
           $10::smallint AS priority, $11::int AS fallback_after, $12::timestamptz AS send_at
    WHERE {_CALLER}"""
_WRITE = f"""
), m AS (
    INSERT INTO messages (id, tenant_id, idempotency_key, request_hash, channel, sender_id, to_number,
                          content, status, send_at)
    SELECT id, $1, idempotency_key, request_hash, 'whatsapp', sender_id, to_number, content::jsonb, 'queued', send_at
    FROM r
    ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
    RETURNING *
), j AS (
    SELECT m.id, m.tenant_id, m.idempotency_key, m.channel, m.to_number, m.status, m.provider_message_id,
           m.error_code, m.error_reason, m.created_at, m.updated_at, m.sender_id, m.send_at,
           m.content->>'type' AS content_type, r.sender_phone, r.topic, r.priority, r.fallback_after,
           jsonb_build_object('message_id', m.id, 'tenant_id', m.tenant_id, 'sender', r.sender_phone,
                              'to', m.to_number) AS payload
    FROM m JOIN r USING (id)
), e AS (
    INSERT INTO message_events (tenant_id, message_id, reported_status, from_status, to_status, applied,
                                outcome, source, detail)
    SELECT tenant_id, id, 'queued', NULL, 'queued', true, 'advanced', 'api',
           CASE WHEN send_at > now() THEN 'scheduled for ' || to_char(send_at AT TIME ZONE 'UTC',
                                                                      'YYYY-MM-DD"T"HH24:MI:SS"Z"') END
    FROM j
), o AS (
    INSERT INTO outbox (topic, payload, priority, tenant_id)
    SELECT topic, payload, priority, tenant_id FROM j WHERE send_at IS NULL OR send_at <= now()
), s AS (
    INSERT INTO scheduled_messages (message_id, tenant_id, due_at, topic, priority, payload)
    SELECT id, tenant_id, send_at, topic, priority, payload FROM j WHERE send_at > now()
), t AS (
    -- fallback_after: a durable timer, due that many seconds after the send (kernel jobs fire it).
    INSERT INTO fallback_timers (message_id, tenant_id, due_at)
    SELECT id, tenant_id, greatest(now(), coalesce(send_at, now())) + make_interval(secs => fallback_after)
    FROM j WHERE fallback_after IS NOT NULL
)
SELECT j.id, j.tenant_id, j.idempotency_key, j.channel, j.to_number, j.content_type, j.status,
       j.provider_message_id, j.error_code, j.error_reason, j.created_at, j.updated_at, j.sender_id, j.send_at,
       j.sender_phone AS sender_phone_number_id
FROM j, pg_notify('{CHANNEL}', '')
"""
_INSERT = "WITH r AS (" + _ROWS + _WRITE
_INSERT_ONE = "WITH r AS (" + _ROW + _WRITE


async def insert_messages(
    conn: Connection, tenant_id: UUID, rows: Sequence[NewMessage], caller: Principal | None = None
) -> list[asyncpg.Record]:
    """The messages stored, in no particular order; a row whose idempotency key is already taken is
    not among them. A ``bulk`` message's delivery goes to the bulk queue, published after any
    transactional work. With ``caller``, nothing is stored and :class:`StaleCaller` raised unless
    its key, tenant and plan are still as it was read."""
    check = (caller.api_key_id, caller.fingerprint) if caller is not None else (None, None)
    try:
        if len(rows) == 1:
            return await conn.fetch(_INSERT_ONE, tenant_id, *_columns(rows[0]), *check)
        columns = (list(column) for column in zip(*map(_columns, rows), strict=True))
        return await conn.fetch(_INSERT, tenant_id, *columns, *check)
    except asyncpg.PostgresError as error:
        if error.sqlstate == _STALE_CALLER:
            raise StaleCaller(str(error)) from None
        raise


def _columns(row: NewMessage) -> tuple[Any, ...]:
    return (
        row.id,
        row.idempotency_key,
        row.request_hash,
        row.sender_id,
        row.to_number,
        # As JSON text, cast in the statement: asyncpg's jsonb[] encoding costs three times as much.
        msgspec.json.encode(row.content).decode(),
        row.sender_phone_number_id,
        BULK_TOPIC if row.bulk else DELIVER_TOPIC,
        1 if row.bulk else 0,
        row.content.get("fallback_after"),
        row.send_at,
    )


async def get_by_idempotency_key(
    conn: Connection, tenant_id: UUID, key: str, window: timedelta
) -> asyncpg.Record | None:
    """The message stored under this key within ``window``. A key older than that is released in
    the same statement (the old message keeps everything but its key), so the caller may use it again."""
    found = await get_by_idempotency_keys(conn, tenant_id, [key], window)
    return found.get(key)


async def get_by_idempotency_keys(
    conn: Connection, tenant_id: UUID, keys: Sequence[str], window: timedelta
) -> dict[str, asyncpg.Record]:
    """:func:`get_by_idempotency_key` for many keys in one round trip: the messages found, by key."""
    rows = await conn.fetch(
        "WITH released AS (UPDATE messages SET idempotency_key = NULL WHERE tenant_id = $1 "
        "AND idempotency_key = ANY($2::text[]) AND created_at < now() - $3::interval RETURNING id) "
        f"SELECT {MESSAGE_COLS} FROM {MESSAGE_FROM} WHERE m.tenant_id = $1 AND m.idempotency_key = ANY($2::text[]) "
        "AND m.created_at >= now() - $3::interval",
        tenant_id,
        list(keys),
        window,
    )
    return {r["idempotency_key"]: r for r in rows}


async def get_message(conn: Connection, tenant_id: UUID, message_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {MESSAGE_COLS} FROM {MESSAGE_FROM} WHERE m.tenant_id = $1 AND m.id = $2", tenant_id, message_id
    )


async def list_messages(
    conn: Connection,
    tenant_id: UUID,
    *,
    status: str | None,
    channel: str | None,
    to_number: str | None,
    since: datetime | None,
    before: tuple[datetime, UUID] | None,
    limit: int,
) -> list[asyncpg.Record]:
    p = Params(tenant_id)
    clauses = ["m.tenant_id = $1"]
    if status is not None:
        clauses.append(f"m.status = {p(status)}")
    if channel is not None:
        clauses.append(f"m.channel = {p(channel)}")
    if to_number is not None:
        clauses.append(f"m.to_number = {p(to_number)}")
    if since is not None:
        clauses.append(f"m.created_at >= {p(since)}")
    if before is not None:
        clauses.append(f"(m.created_at, m.id) < ({p(before[0])}, {p(before[1])})")
    sql = (
        f"SELECT {MESSAGE_COLS} FROM {MESSAGE_FROM} WHERE {' AND '.join(clauses)} "
        f"ORDER BY m.created_at DESC, m.id DESC LIMIT {p(limit)}"
    )
    return await conn.fetch(sql, *p.values)


# The audit event and the status change it causes, in one statement. A duplicate fact (same
# dedupe key) inserts nothing and therefore updates nothing.
_RECORD = """
WITH e AS (
    INSERT INTO message_events (tenant_id, message_id, reported_status, from_status, to_status, applied, outcome,
                                source, detail, error_code, raw_event_id, dedupe_key, occurred_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
    ON CONFLICT (message_id, dedupe_key) DO NOTHING
    RETURNING id
), u AS (
    UPDATE messages SET
        status = CASE WHEN $6 THEN $5 ELSE status END,
        error_code = CASE WHEN $6 THEN $14 ELSE error_code END,
        error_reason = CASE WHEN $6 THEN $15 ELSE error_reason END,
        provider_message_id = CASE WHEN $17 THEN coalesce($16, provider_message_id)
                                   ELSE coalesce(provider_message_id, $16) END,
        updated_at = now()
    WHERE tenant_id = $1 AND id = $2 AND EXISTS (SELECT 1 FROM e)
      AND ($6 OR $16::text IS DISTINCT FROM provider_message_id)
    RETURNING id
)
SELECT EXISTS (SELECT 1 FROM e)
"""


async def record_event(
    conn: Connection,
    *,
    tenant_id: UUID,
    message_id: UUID,
    reported_status: str,
    from_status: str,
    to_status: str,
    applied: bool,
    outcome: str,
    source: str,
    detail: str | None,
    error_code: int | None,
    raw_event_id: int | None,
    dedupe_key: str | None,
    occurred_at: datetime | None,
    message_error_code: int | None,
    message_error_reason: str | None,
    provider_message_id: str | None,
    replace_provider_message_id: bool,
) -> bool:
    """Record one event and, when ``applied``, move the message to ``to_status`` (and set the
    error fields to the given values). ``provider_message_id`` fills in the wamid when the message
    has none, or replaces it when ``replace_provider_message_id``. False: a duplicate, nothing done.
    """
    recorded: bool = await conn.fetchval(
        _RECORD,
        tenant_id,
        message_id,
        reported_status,
        from_status,
        to_status,
        applied,
        outcome,
        source,
        detail,
        error_code,
        raw_event_id,
        dedupe_key,
        occurred_at,
        message_error_code,
        message_error_reason,
        provider_message_id,
        replace_provider_message_id,
    )
    return recorded


# Everything a delivery needs, in one round trip: the message (locked), its last WhatsApp attempt,
# its sender and the sender's sealed credential.
_CLAIM = """
SELECT m.id, m.tenant_id, m.status, m.to_number, m.content, m.provider_message_id,
       m.attempt_floor, m.throttled_attempts,
       s.phone_number_id, s.credential_id, c.config AS credential_config, c.sealed_secrets,
       c.health AS credential_health,
       a.id AS attempt_id, a.attempt_number, a.state AS attempt_state, now() - a.started_at AS attempt_age
FROM messages m
JOIN senders s ON s.id = m.sender_id AND s.tenant_id = m.tenant_id
JOIN credentials c ON c.id = s.credential_id AND c.tenant_id = m.tenant_id
LEFT JOIN LATERAL (
    SELECT id, attempt_number, state, started_at FROM delivery_attempts
    WHERE message_id = m.id AND channel = $3 ORDER BY attempt_number DESC LIMIT 1
) a ON true
WHERE m.tenant_id = $1 AND m.id = $2
FOR UPDATE OF m
"""


# The common case in one statement: a queued message with no attempt in flight gets its next
# attempt recorded. The unique (message_id, channel, attempt_number) makes it safe without a
# lock: of two concurrent claimers, one inserts attempt N and the other gets nothing.
_FAST_CLAIM = f"""
WITH c AS ({_CLAIM.replace("FOR UPDATE OF m", "")}),
a AS (
    INSERT INTO delivery_attempts (tenant_id, message_id, channel, attempt_number, state)
    SELECT tenant_id, id, $3, coalesce(attempt_number, 0) + 1, 'pending' FROM c
    WHERE status = 'queued' AND attempt_state IS DISTINCT FROM 'pending'
      AND coalesce(attempt_number, 0) - attempt_floor - throttled_attempts < $4
    ON CONFLICT (message_id, channel, attempt_number) DO NOTHING
    RETURNING id, attempt_number
)
SELECT c.*, a.id AS new_attempt_id, a.attempt_number AS new_attempt_number FROM c LEFT JOIN a ON true
"""


async def try_claim(
    conn: Connection | asyncpg.Pool[asyncpg.Record], tenant_id: UUID, message_id: UUID, channel: str, max_attempts: int
) -> asyncpg.Record | None:
    """The delivery facts, with ``new_attempt_id`` set when this caller now owns a new attempt."""
    return await conn.fetchrow(_FAST_CLAIM, tenant_id, message_id, channel, max_attempts)


async def claim_for_delivery(
    conn: Connection, tenant_id: UUID, message_id: UUID, channel: str
) -> asyncpg.Record | None:
    return await conn.fetchrow(_CLAIM, tenant_id, message_id, channel)


async def sender_limits(conn: Connection | Pool, tenant_id: UUID, phone_number_id: str) -> asyncpg.Record | None:
    """A sender's throughput, account and messaging tier, and its tenant's plan's tier policy."""
    return await conn.fetchrow(
        "SELECT s.throughput_mps, s.waba_id, s.messaging_tier, p.tier_policy FROM senders s "
        "JOIN tenants t ON t.id = s.tenant_id JOIN plans p ON p.id = t.plan_id "
        "WHERE s.tenant_id = $1 AND s.phone_number_id = $2",
        tenant_id,
        phone_number_id,
    )


async def lock_status(conn: Connection, tenant_id: UUID, message_id: UUID) -> asyncpg.Record | None:
    """The message's id, tenant and status, locked until the transaction ends."""
    return await conn.fetchrow(
        "SELECT id, tenant_id, status, provider_message_id FROM messages WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
        tenant_id,
        message_id,
    )


async def list_events(conn: Connection, tenant_id: UUID, message_id: UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id, reported_status, from_status, to_status, applied, outcome, source, detail, error_code, "
        "raw_event_id, occurred_at, recorded_at FROM message_events "
        "WHERE tenant_id = $1 AND message_id = $2 ORDER BY id",
        tenant_id,
        message_id,
    )


async def list_attempts(conn: Connection, tenant_id: UUID, message_id: UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT channel, attempt_number, state, provider_message_id, http_status, error_code, error_detail, "
        "latency_ms, started_at, finished_at FROM delivery_attempts "
        "WHERE tenant_id = $1 AND message_id = $2 ORDER BY started_at, id",
        tenant_id,
        message_id,
    )


async def start_attempt(conn: Connection, tenant_id: UUID, message_id: UUID, channel: str, number: int) -> int:
    attempt_id: int = await conn.fetchval(
        "INSERT INTO delivery_attempts (tenant_id, message_id, channel, attempt_number, state) "
        "VALUES ($1, $2, $3, $4, 'pending') RETURNING id",
        tenant_id,
        message_id,
        channel,
        number,
    )
    return attempt_id


async def finish_attempt(
    conn: Connection,
    tenant_id: UUID,
    attempt_id: int,
    *,
    state: str,
    provider_message_id: str | None = None,
    http_status: int | None = None,
    error_code: int | None = None,
    error_detail: str | None = None,
    latency_ms: int | None = None,
) -> None:
    await conn.execute(
        "UPDATE delivery_attempts SET state = $3, provider_message_id = $4, http_status = $5, error_code = $6, "
        "error_detail = $7, latency_ms = $8, finished_at = now() WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        attempt_id,
        state,
        provider_message_id,
        http_status,
        error_code,
        error_detail,
        latency_ms,
    )


async def settle_pending_attempt(
    conn: Connection, tenant_id: UUID, attempt_id: int, provider_message_id: str | None
) -> None:
    """A worker died mid-call, and the provider's callback has since shown that the send went
    through: the attempt was accepted (and must not be made again)."""
    await finish_attempt(
        conn,
        tenant_id,
        attempt_id,
        state="accepted",
        provider_message_id=provider_message_id,
        error_detail="outcome settled by the provider's status callback",
    )


async def lock_messages(
    conn: Connection, tenant_id: UUID, message_ids: list[UUID], provider_message_ids: list[str]
) -> list[asyncpg.Record]:
    """The tenant's messages with any of these ids or wamids, locked in id order (one global lock
    order, so concurrent reconcilers cannot deadlock)."""
    return await conn.fetch(
        "SELECT id, tenant_id, status, provider_message_id, error_code, error_reason, to_number FROM messages "
        "WHERE tenant_id = $1 AND (id = ANY($2::uuid[]) OR provider_message_id = ANY($3::text[]) "
        "  OR id IN (SELECT message_id FROM message_channels WHERE tenant_id = $1 AND provider_message_id = ANY($3))) "
        "ORDER BY id FOR UPDATE",
        tenant_id,
        message_ids,
        provider_message_ids,
    )


async def recorded_facts(conn: Connection, facts: list[tuple[UUID, str]]) -> set[tuple[UUID, str]]:
    """Which (message id, dedupe key) pairs are already in the audit trail: one probe of the
    unique index per pair (two ``= ANY`` lists would compare every pair with every row)."""
    if not facts:
        return set()
    rows = await conn.fetch(
        "SELECT e.message_id, e.dedupe_key FROM unnest($1::uuid[], $2::text[]) AS f(message_id, dedupe_key) "
        "JOIN message_events e ON e.message_id = f.message_id AND e.dedupe_key = f.dedupe_key",
        [f[0] for f in facts],
        [f[1] for f in facts],
    )
    return {(r["message_id"], r["dedupe_key"]) for r in rows}


_EVENT_COLUMNS = (
    "tenant_id, message_id, reported_status, from_status, to_status, applied, outcome, source, detail, "
    "error_code, raw_event_id, dedupe_key, occurred_at"
)


async def insert_events(conn: Connection, events: list[tuple[Any, ...]]) -> None:
    """Many audit events in one statement (tuples in the order of ``_EVENT_COLUMNS``)."""
    if not events:
        return
    columns = list(zip(*events, strict=True))
    await conn.execute(
        f"INSERT INTO message_events ({_EVENT_COLUMNS}) "
        "SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::bool[], $7::text[], "
        "$8::text[], $9::text[], $10::int[], $11::bigint[], $12::text[], $13::timestamptz[]) "
        "ON CONFLICT (message_id, dedupe_key) DO NOTHING",
        *columns,
    )


async def update_messages(conn: Connection, tenant_id: UUID, updates: list[tuple[Any, ...]]) -> None:
    """Many messages' (id, status, error_code, error_reason, provider_message_id) in one statement."""
    if not updates:
        return
    ids, statuses, codes, reasons, provider_ids = (list(c) for c in zip(*updates, strict=True))
    await conn.execute(
        "UPDATE messages m SET status = u.status, error_code = u.error_code, error_reason = u.error_reason, "
        "provider_message_id = coalesce(m.provider_message_id, u.provider_message_id), updated_at = now() "
        "FROM unnest($2::uuid[], $3::text[], $4::int[], $5::text[], $6::text[]) "
        "AS u(id, status, error_code, error_reason, provider_message_id) "
        "WHERE m.tenant_id = $1 AND m.id = u.id",
        tenant_id,
        ids,
        statuses,
        codes,
        reasons,
        provider_ids,
    )


# A send the provider accepted, recorded in one statement when the message is still `queued`:
# the attempt, the wamid, the new status and its audit event. Returns false (nothing written to the
# message) when something else moved the message first; the caller then takes the locked path.
_ACCEPTED = """
WITH u AS (
    UPDATE messages SET status = $5, provider_message_id = $4, error_code = NULL, error_reason = NULL,
                        updated_at = now()
    WHERE tenant_id = $1 AND id = $2 AND status = $6
    RETURNING tenant_id, id
), a AS (
    UPDATE delivery_attempts SET state = 'accepted', provider_message_id = $4, http_status = $8, latency_ms = $9,
                                 finished_at = now()
    WHERE tenant_id = $1 AND id = $3
), e AS (
    INSERT INTO message_events (tenant_id, message_id, reported_status, from_status, to_status, applied, outcome,
                                source, detail)
    SELECT tenant_id, id, $5, $6, $5, true, $7, 'worker', 'accepted as ' || $4 FROM u
)
SELECT EXISTS (SELECT 1 FROM u)
"""


async def record_acceptance(
    conn: Connection | asyncpg.Pool[asyncpg.Record],
    *,
    tenant_id: UUID,
    message_id: UUID,
    attempt_id: int,
    provider_message_id: str,
    from_status: str,
    to_status: str,
    outcome: str,
    http_status: int | None,
    latency_ms: int | None,
) -> bool:
    recorded: bool = await conn.fetchval(
        _ACCEPTED,
        tenant_id,
        message_id,
        attempt_id,
        provider_message_id,
        to_status,
        from_status,
        outcome,
        http_status,
        latency_ms,
    )
    return recorded


async def count_throttled(conn: Connection, tenant_id: UUID, message_id: UUID) -> None:
    """The attempt just made was refused only to slow us down: it does not use up the allowance."""
    await conn.execute(
        "UPDATE messages SET throttled_attempts = throttled_attempts + 1 WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        message_id,
    )


async def round_started_at(
    conn: Connection, tenant_id: UUID, message_id: UUID, channel: str, attempt_floor: int
) -> datetime | None:
    """When the first attempt of the current round (after ``attempt_floor``) started."""
    started: datetime | None = await conn.fetchval(
        "SELECT min(started_at) FROM delivery_attempts "
        "WHERE tenant_id = $1 AND message_id = $2 AND channel = $3 AND attempt_number > $4",
        tenant_id,
        message_id,
        channel,
        attempt_floor,
    )
    return started
