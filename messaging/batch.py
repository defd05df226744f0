"""Batch submission: up to the plan's ``max_batch`` messages in one call, each with its own result.

Each message is held to every rule a single send is (:func:`messaging.service.submit`: validation,
resolution, budget, quota, idempotency), so one bad message does not refuse the others: its result
carries the error, the rest are stored. What can be shared is done once for the whole batch: one
read of the replayed keys, one quota take, one budget read, and one statement that stores every
message with its event and outbox row. With a batch ``Idempotency-Key``, message ``i`` uses
``<key>:<i>``, so retrying the whole batch replays each message instead of sending it again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from uuid import UUID

import asyncpg
import msgspec

from billing import budgets
from kernel.db import Connection
from kernel.errors import InvalidInput, SwitchboardError
from messaging import repository, routing_policy, service
from messaging.repository import NewMessage
from messaging.schemas import MessageView, SendMessage
from tenants.quotas import Admission, TenantQuota

__all__ = ["MAX_BATCH", "Item", "submit_batch"]

MAX_BATCH = 1000


# Structs rather than frozen dataclasses: a batch makes two per message, and a Struct is built
# ten times faster.
class Item(msgspec.Struct, frozen=True):
    index: int
    message: MessageView | None = None
    created: bool = False
    error: SwitchboardError | None = None


class _Checked(msgspec.Struct, frozen=True):
    index: int
    request: SendMessage
    to_number: str
    request_hash: bytes
    key: str | None


async def submit_batch(
    conn: Connection,
    tenant_id: UUID,
    requests: list[SendMessage],
    *,
    max_batch: int = MAX_BATCH,
    idempotency_key: str | None = None,
    idempotency_keys: list[str | None] | None = None,
    config_version: int | None = None,
    quota: TenantQuota | None = None,
    budget: int | None = None,
) -> list[Item]:
    """Submit each message; ``idempotency_keys`` (gRPC) gives each its own key instead."""
    if not requests:
        raise InvalidInput("messages", "empty", "give at least one message")
    limit = min(max_batch, MAX_BATCH)
    if len(requests) > limit:
        raise InvalidInput(
            "messages", "too_many", f"at most {limit} messages per batch on this plan, not {len(requests)}"
        )
    results: dict[int, Item] = {}

    checked: list[_Checked] = []
    for index, request in enumerate(requests):
        key = idempotency_keys[index] if idempotency_keys else None
        if idempotency_key is not None:
            key = f"{idempotency_key}:{index}"
        try:
            to_number, request_hash = service.checked(request, key)
        except SwitchboardError as error:
            results[index] = Item(index, error=error)
            continue
        checked.append(_Checked(index, request, to_number, request_hash, key))

    keys = [c.key for c in checked if c.key is not None]
    seen = await repository.get_by_idempotency_keys(conn, tenant_id, keys, service.IDEMPOTENCY_WINDOW) if keys else {}
    policy = None
    if any(routing_policy.needs_policy(c.request) for c in checked):
        policy = await routing_policy.get_policy(conn, tenant_id)
    drafts: list[tuple[int, NewMessage]] = []
    for c in checked:
        if c.key is not None and c.key in seen:
            results[c.index] = _replay(c.index, seen[c.key], c.request_hash)
            continue
        try:
            draft = await service.prepare(
                conn,
                tenant_id,
                c.request,
                c.to_number,
                c.request_hash,
                c.key,
                config_version=config_version,
                policy=policy,
            )
        except SwitchboardError as error:
            results[c.index] = Item(c.index, error=error)
            continue
        drafts.append((c.index, draft))

    if budget is not None and drafts:
        verdicts = await budgets.check_many(conn, tenant_id, budget, [(d.category, d.to_number) for _, d in drafts])
        drafts = _keep_admitted(drafts, verdicts, results)
    admissions: list[Admission] = []
    if quota is not None and drafts:
        admissions, drafts = await _take(quota, drafts, results)
    if drafts:
        await _store(conn, tenant_id, drafts, admissions, results)
    return [results[i] for i in range(len(requests))]


def _keep_admitted(
    drafts: list[tuple[int, NewMessage]],
    refusals: Sequence[SwitchboardError | None],
    results: dict[int, Item],
) -> list[tuple[int, NewMessage]]:
    kept = []
    for (index, draft), refusal in zip(drafts, refusals, strict=True):
        if refusal is None:
            kept.append((index, draft))
        else:
            results[index] = Item(index, error=refusal)
    return kept


async def _take(
    quota: TenantQuota, drafts: list[tuple[int, NewMessage]], results: dict[int, Item]
) -> tuple[list[Admission], list[tuple[int, NewMessage]]]:
    """The whole batch in one take; when that is refused, each message on its own (together in one
    round trip), so a batch larger than what is left stores what fits and names the rest."""
    try:
        return [await quota.take(service.CHANNEL, cost=len(drafts))], drafts
    except SwitchboardError:
        pass
    taken = await asyncio.gather(*(quota.take(service.CHANNEL) for _ in drafts), return_exceptions=True)
    admissions = [a for a in taken if isinstance(a, Admission)]
    unexpected = next((e for e in taken if isinstance(e, BaseException) and not isinstance(e, SwitchboardError)), None)
    if unexpected is not None:
        await _give_back(admissions)
        raise unexpected
    refusals = [e if isinstance(e, SwitchboardError) else None for e in taken]
    return admissions, _keep_admitted(drafts, refusals, results)


async def _give_back(admissions: list[Admission], count: int | None = None) -> None:
    """Return ``count`` messages' worth of what was taken (all of it when None)."""
    for admission in admissions:
        if count is not None and count <= 0:
            return
        share = admission.cost if count is None else min(count, admission.cost)
        await admission.refund(share)
        if count is not None:
            count -= share


async def _store(
    conn: Connection,
    tenant_id: UUID,
    drafts: list[tuple[int, NewMessage]],
    admissions: list[Admission],
    results: dict[int, Item],
) -> None:
    try:
        stored = await repository.insert_messages(conn, tenant_id, [draft for _, draft in drafts])
    except BaseException:
        await _give_back(admissions)
        raise
    by_id = {r["id"]: r for r in stored}
    # Not stored: its key was taken meanwhile (a concurrent request, or an earlier item of this batch).
    lost = [(index, draft) for index, draft in drafts if draft.id not in by_id]
    if lost:
        await _give_back(admissions, len(lost))
    for index, draft in drafts:
        if draft.id in by_id:
            results[index] = Item(index, message=service.view(by_id[draft.id]), created=True)
    if lost:
        keys = [draft.idempotency_key for _, draft in lost if draft.idempotency_key is not None]
        winners = await repository.get_by_idempotency_keys(conn, tenant_id, keys, service.IDEMPOTENCY_WINDOW)
        for index, draft in lost:
            assert draft.idempotency_key is not None  # only a keyed insert can be skipped
            results[index] = _replay(index, winners[draft.idempotency_key], draft.request_hash)


def _replay(index: int, existing: asyncpg.Record, request_hash: bytes) -> Item:
    try:
        return Item(index, message=service.replayed(existing, request_hash))
    except SwitchboardError as error:
        return Item(index, error=error)
