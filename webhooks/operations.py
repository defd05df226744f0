"""Operator work on the raw log: replay, the consistency check, retention, and a status summary.

All of it is safe to run beside live traffic and to run again: replay goes through the same
idempotent reconciliation as the workers, the check only reads, and the purge never removes a
callback that has not been reconciled.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from kernel.db import Pool
from messaging.states import Status, settle
from webhooks import repository
from webhooks.parsing import Unparseable, parse
from webhooks.reconcile import reconcile_batch

__all__ = ["Discrepancy", "check", "purge", "replay", "summary"]

Progress = Callable[[int, int], None]
_PAGE = 200


@dataclass(frozen=True, slots=True)
class Replayed:
    events: int
    statuses: int
    inbound: int


async def replay(
    pool: Pool,
    tenant_id: UUID,
    since: datetime,
    until: datetime | None = None,
    progress: Progress | None = None,
) -> Replayed:
    """Reconcile again every raw event of the tenant received in [since, until), oldest first.
    Facts already recorded are skipped, so replaying twice changes nothing the second time."""
    total = await repository.count_raw_events(pool, tenant_id, since, until)
    done = statuses = inbound = 0
    after = 0
    while True:
        ids = await repository.raw_event_ids(pool, tenant_id, since, until, after=after, limit=_PAGE)
        if not ids:
            break
        results = await reconcile_batch(pool, [(tenant_id, raw_event_id) for raw_event_id in ids], replay=True)
        statuses += sum(r.statuses for r in results.values())
        inbound += sum(r.inbound for r in results.values())
        done += len(ids)
        after = ids[-1]
        if progress:
            progress(done, total)
    return Replayed(done, statuses, inbound)


@dataclass(frozen=True, slots=True)
class Discrepancy:
    message_id: UUID
    live: str
    rebuilt: str


async def check(pool: Pool, tenant_id: UUID, progress: Progress | None = None) -> tuple[int, list[Discrepancy]]:
    """Rebuild every message's status from its facts and compare it with the live status.

    The facts are the statuses in the raw log (parsed again, exactly as reconciliation parses
    them) plus those with no raw event behind them: our own (queued, submitted, a send failure)
    and webhook facts whose raw event has passed retention. Returns (messages checked, differences).
    """
    facts: dict[UUID, set[Status]] = defaultdict(set)
    for message_id, status in await repository.facts_without_raw_event(pool, tenant_id):
        facts[message_id].add(Status(status))
    async with pool.acquire() as conn:
        senders = await repository.tenant_senders(conn, tenant_id)
    by_key: dict[tuple[UUID | None, str], set[Status]] = defaultdict(set)
    total = await repository.count_raw_events(pool, tenant_id, None, None)
    done = after = 0
    while True:
        page = await repository.raw_event_bodies(pool, tenant_id, after=after, limit=_PAGE)
        if not page:
            break
        for raw_event_id, provider, body, query in page:
            try:
                found = parse(provider, body, raw_event_id, senders, query).reports
            except Unparseable:
                continue
            for report in found:
                by_key[(report.message_id, report.provider_message_id)].add(report.status)
        done += len(page)
        after = page[-1][0]
        if progress:
            progress(done, total)
    keys = list(by_key)
    for start in range(0, len(keys), 5000):
        chunk = keys[start : start + 5000]
        ids, wamids = await repository.resolve_messages(
            pool, tenant_id, [k[0] for k in chunk if k[0] is not None], [k[1] for k in chunk]
        )
        for key in chunk:
            matched = (key[0] if key[0] in ids else None) or wamids.get(key[1])
            if matched is not None:
                facts[matched] |= by_key[key]
    live = await repository.message_statuses(pool, tenant_id, list(facts))
    differences = [
        Discrepancy(message_id, live[message_id], settle(statuses).value)
        for message_id, statuses in facts.items()
        if message_id in live and live[message_id] != settle(statuses).value
    ]
    return len(live), differences


async def purge(pool: Pool, progress: Progress | None = None) -> int:
    """Delete raw events older than their tenant's retention (reconciled ones only); the audit
    events they produced stay. Returns how many were deleted."""
    deleted = 0
    while True:
        batch = await repository.purge_expired(pool, limit=5000)
        deleted += batch
        if progress and batch:
            progress(deleted, 0)
        if batch < 5000:
            return deleted


async def summary(pool: Pool, tenant_id: UUID | None) -> list[dict[str, object]]:
    """Raw events per tenant and state, with the oldest not yet reconciled."""
    return await repository.state_counts(pool, tenant_id)
