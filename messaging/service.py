"""Message use cases, shared by the REST and gRPC edges and the workers.

Functions take the connection and the tenant id explicitly and never commit.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from billing import budgets
from kernel.db import Connection
from kernel.errors import InvalidInput, NotFound
from kernel.pagination import MAX_PAGE, decode_cursor, page
from messaging import (
    channels_repository,
    inbox,
    repository,
    routing,
    routing_policy,
    template_lint,
    validation,
)
from messaging.schemas import (
    AttemptView,
    ChannelView,
    EventList,
    EventView,
    MessageError,
    MessageList,
    MessageView,
    RoutingPolicy,
    SendMessage,
)
from messaging.states import Status, settle
from tenants import repository as tenants_repository
from tenants.callers import Callers
from tenants.domain import Principal, Sender
from tenants.quotas import Quotas, TenantQuota, for_caller

__all__ = [
    "Submitted",
    "checked",
    "content_of",
    "get_message",
    "list_attempts",
    "list_events",
    "list_messages",
    "prepare",
    "replayed",
    "resolve",
    "submit",
    "submit_as",
    "submit_with_key",
    "view",
]

# An Idempotency-Key replays its message for this long; after that it may name a new one.
IDEMPOTENCY_WINDOW = timedelta(hours=24)

# The channel a submission is counted against (fallback channels are not metered at the edge).
CHANNEL = "whatsapp"


def view(row: asyncpg.Record) -> MessageView:
    error = None
    if row["status"] == Status.FAILED or row["error_code"] is not None:
        error = MessageError(code=row["error_code"], reason=row["error_reason"] or "")
    return MessageView(
        id=row["id"],
        to=row["to_number"],
        channel=row["channel"],
        status=row["status"],
        sender=row["sender_phone_number_id"],
        provider_message_id=row["provider_message_id"],
        error=error,
        content_type=row["content_type"],
        idempotency_key=row["idempotency_key"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        send_at=row.get("send_at"),
    )


async def resolve(
    conn: Connection, tenant_id: UUID, request: SendMessage, config_version: int | None
) -> tuple[Sender, list[dict[str, Any]] | None, bool, str | None]:
    """The sender for this message and, for a template, the Cloud API components its parameters
    make, once the template is known to exist, be APPROVED and fit them (:mod:`template_lint`);
    whether it is bulk (asked for, or a MARKETING template when the request does not say); and the
    template's category."""
    spec = request.template
    route = await routing.resolve(
        conn,
        tenant_id,
        request.sender,
        spec.name if spec else None,
        spec.language if spec else None,
        config_version=config_version,
    )
    if route is None:
        if request.sender is not None:
            raise InvalidInput("sender", "unknown_sender", f"no sender with phone_number_id {request.sender}")
        raise InvalidInput("sender", "no_sender", "this tenant has no WhatsApp sender configured")
    if spec is None:
        return route.sender, None, request.priority == "bulk", None
    template = route.template
    if template is None or route.shape is None:
        languages = await tenants_repository.template_languages(conn, tenant_id, route.sender.waba_id, spec.name)
        if not languages:
            raise InvalidInput("template.name", "unknown_template", f"no template {spec.name!r} for this sender")
        raise InvalidInput(
            "template.language",
            "unknown_language",
            f"{spec.name!r} exists in {', '.join(languages)}, not {spec.language!r}",
        )
    if template.status != "APPROVED":
        raise InvalidInput(
            "template.name", "not_approved", f"template {spec.name!r} is {template.status}, not APPROVED"
        )
    components, problems = template_lint.lint(route.shape, spec.params)
    if problems:
        raise InvalidInput.many(problems)
    bulk = request.priority == "bulk" or (request.priority is None and template.category == "MARKETING")
    return route.sender, components, bulk, template.category


def content_of(request: SendMessage, components: list[dict[str, Any]] | None, category: str | None) -> dict[str, Any]:
    content: dict[str, Any]
    if request.text is not None:
        content = {"type": "text", "text": msgspec.to_builtins(request.text)}
    else:
        # The request as given, and the Cloud API components the linter built from it: the worker
        # sends those verbatim, whatever happens to the template after this point.
        # The category too: a recipient who stopped marketing (131050) is not sent MARKETING again.
        content = {
            "type": "template",
            "template": msgspec.to_builtins(request.template),
            "components": components,
            "category": category,
        }
    if request.fallback is not None:
        content["fallback"] = msgspec.to_builtins(request.fallback)
    if request.channels is not None:
        content["channels"] = list(request.channels)
    if request.fallback_after is not None:
        content["fallback_after"] = request.fallback_after
    return content


def checked(request: SendMessage, idempotency_key: str | None) -> tuple[str, bytes]:
    """The recipient in E.164 and the request's hash (what a replayed key must match), or
    :class:`InvalidInput` naming every rule the request breaks. Pure: no I/O."""
    to_number, problems = validation.validate(request, idempotency_key)
    if problems:
        raise InvalidInput.many(problems)
    assert to_number is not None
    return to_number, hashlib.sha256(msgspec.json.encode(request)).digest()


async def prepare(
    conn: Connection,
    tenant_id: UUID,
    request: SendMessage,
    to_number: str,
    request_hash: bytes,
    idempotency_key: str | None,
    *,
    config_version: int | None,
    policy: RoutingPolicy | None = None,
) -> repository.NewMessage:
    """The message to store: a checked request resolved against the tenant's senders, templates
    and routing policy (``policy``: the tenant's, when the caller already has it)."""
    sender, components, bulk, category = await resolve(conn, tenant_id, request, config_version)
    if request.text is not None and not await inbox.window_open(conn, tenant_id, sender.id, to_number):
        # Meta would accept it, then fail it with 131047: refuse it here, before it is queued.
        raise InvalidInput(
            "text",
            "window_closed",
            f"{to_number} has not written to this number in the last 24 hours: free-form text is only allowed "
            "within 24 hours of the customer's last message; send an approved template instead",
        )
    routed = await routing_policy.apply(conn, tenant_id, request, policy)
    return repository.NewMessage(
        id=uuid.uuid4(),
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        sender_id=sender.id,
        sender_phone_number_id=sender.phone_number_id,
        to_number=to_number,
        content=content_of(routed, components, category),
        bulk=bulk,
        send_at=request.send_at,
    )


async def submit(
    conn: Connection,
    tenant_id: UUID,
    request: SendMessage,
    idempotency_key: str | None = None,
    *,
    config_version: int | None = None,
    quota: TenantQuota | None = None,
    budget: int | None = None,
    verify: Principal | None = None,
) -> tuple[MessageView, bool]:
    """Validate, resolve and store one message with its delivery outbox row.

    Returns the message and whether it was created (False: the idempotency key was seen before
    with the same request, and the original message is returned).

    ``config_version`` (from the caller's :class:`~tenants.domain.Principal`) lets the sender and
    template come from the process's route cache. ``quota`` is taken once the request is known to be
    valid, and given back if nothing is stored. ``budget`` (the caller's monthly cap, if any) refuses
    a message that would take the month's spend past it. ``verify`` (a remembered caller: see
    :mod:`tenants.callers`) makes the write check that the caller is still current, and raise
    :class:`~tenants.domain.StaleCaller` instead of storing anything if not.

    Needs no explicit transaction: its one write (message, first event and outbox row) is a single
    statement, so callers may pass a plain connection and save the BEGIN/COMMIT round trips.
    """
    to_number, request_hash = checked(request, idempotency_key)
    if idempotency_key is not None:
        existing = await repository.get_by_idempotency_key(conn, tenant_id, idempotency_key, IDEMPOTENCY_WINDOW)
        if existing is not None:
            return replayed(existing, request_hash), False
    new = await prepare(
        conn, tenant_id, request, to_number, request_hash, idempotency_key, config_version=config_version
    )
    if budget is not None:
        await budgets.check(conn, tenant_id, budget, new.category, to_number)
    admission = await quota.take(CHANNEL) if quota is not None else None
    try:
        rows = await repository.insert_messages(conn, tenant_id, [new], verify)
    except BaseException:
        if admission is not None:
            await admission.refund()
        raise
    if not rows:  # a concurrent request with the same key won the insert
        if admission is not None:
            await admission.refund()
        assert idempotency_key is not None
        existing = await repository.get_by_idempotency_key(conn, tenant_id, idempotency_key, IDEMPOTENCY_WINDOW)
        assert existing is not None
        return replayed(existing, request_hash), False
    return view(rows[0]), True


@dataclass(frozen=True, slots=True)
class Submitted:
    message: MessageView
    created: bool
    quota: TenantQuota | None  # what the caller's quota admitted, for the RateLimit fields


async def submit_as(
    conn: Connection,
    caller: Principal,
    request: SendMessage,
    idempotency_key: str | None,
    quotas: Quotas | None,
    *,
    remembered: bool = False,
) -> Submitted:
    """:func:`submit` for an authenticated caller, under its tenant, plan, budget and configuration
    version; both edges' SendMessage. ``remembered``: the caller comes from
    :class:`tenants.callers.Callers`, and the write checks that it is still current."""
    quota = for_caller(quotas, caller)
    message, created = await submit(
        conn,
        caller.tenant_id,
        request,
        idempotency_key,
        config_version=caller.config_version,
        quota=quota,
        budget=caller.monthly_budget,
        verify=caller if remembered else None,
    )
    return Submitted(message, created, quota)


async def submit_with_key(
    conn: Connection,
    callers: Callers,
    authorization: str | None,
    request: Callable[[], SendMessage],
    idempotency_key: str | None,
    quotas: Quotas | None,
) -> Submitted:
    """:func:`submit_as` for the caller an ``Authorization`` value names, remembered when it was seen
    recently (:class:`tenants.callers.Callers`); ``request`` is made once the caller is known, so a
    bad key is refused before the body is looked at."""

    async def work(caller: Principal, remembered: bool) -> Submitted:
        return await submit_as(conn, caller, request(), idempotency_key, quotas, remembered=remembered)

    return await callers.run(conn, authorization, work, proved=lambda sent: sent.created)


def replayed(existing: asyncpg.Record, request_hash: bytes) -> MessageView:
    if existing["request_hash"] != request_hash:
        raise InvalidInput("Idempotency-Key", "reused", "this key was already used with a different request body")
    return view(existing)


# The sources of a message's WhatsApp facts (the others are its fallback channels').
_WHATSAPP_SOURCES = frozenset({"api", "worker", "webhook:whatsapp", "operator"})


async def get_message(conn: Connection, tenant_id: UUID, message_id: UUID) -> MessageView:
    row = await repository.get_message(conn, tenant_id, message_id)
    if row is None:
        raise NotFound(f"message {message_id} not found")
    message = view(row)
    legs = await channels_repository.list_channels(conn, tenant_id, message_id)
    if not legs:
        return message
    # WhatsApp's own status: its facts alone, through the same order-free rule as the message's.
    events = await repository.list_events(conn, tenant_id, message_id)
    whatsapp = settle(Status(e["reported_status"]) for e in events if e["source"] in _WHATSAPP_SOURCES)
    first = ChannelView(
        channel="whatsapp",
        status=whatsapp.value,
        recipient=row["to_number"],
        provider_message_id=row["provider_message_id"],
    )
    message.channels = [first, *(ChannelView(**dict(leg)) for leg in legs)]
    return message


async def list_events(conn: Connection, tenant_id: UUID, message_id: UUID) -> EventList:
    if await repository.get_message(conn, tenant_id, message_id) is None:
        raise NotFound(f"message {message_id} not found")
    rows = await repository.list_events(conn, tenant_id, message_id)
    return EventList(data=[EventView(**dict(r)) for r in rows])


async def list_attempts(conn: Connection, tenant_id: UUID, message_id: UUID) -> list[AttemptView]:
    """Every provider call made for the message, on every channel, with the provider's answer."""
    if await repository.get_message(conn, tenant_id, message_id) is None:
        raise NotFound(f"message {message_id} not found")
    return [AttemptView(**dict(r)) for r in await repository.list_attempts(conn, tenant_id, message_id)]


def _before(cursor: str) -> tuple[datetime, UUID]:
    at, (ident,) = decode_cursor(cursor, UUID)
    return at, ident


async def list_messages(
    conn: Connection,
    tenant_id: UUID,
    *,
    status: str | None = None,
    channel: str | None = None,
    to: str | None = None,
    since: datetime | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> MessageList:
    if status is not None and status not in Status.__members__.values():
        raise InvalidInput("status", "enum", f"one of {', '.join(s.value for s in Status)}")
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput("limit", "range", f"between 1 and {MAX_PAGE}")
    to_number = None
    if to is not None:
        to_number = validation.normalize_e164(to)
        if to_number is None:
            raise InvalidInput("to", "e164", f"{to!r} is not a valid phone number in E.164 form")
    rows = await repository.list_messages(
        conn,
        tenant_id,
        status=status,
        channel=channel,
        to_number=to_number,
        since=since,
        before=_before(cursor) if cursor else None,
        limit=limit + 1,
    )
    shown, next_cursor = page(rows, limit, lambda r: (r["created_at"], r["id"]))
    return MessageList(data=[view(r) for r in shown], next_cursor=next_cursor)
