"""Message use cases, shared by the REST and gRPC edges and the workers.

Functions take the connection and the tenant id explicitly and never commit.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from billing import budgets, meter
from billing.pricing import country_of
from kernel.db import Connection
from kernel.errors import InvalidInput, NotFound
from kernel.pagination import MAX_PAGE, decode_cursor, page
from messaging import (
    channels_repository,
    classification,
    inbox,
    repository,
    routing,
    routing_policy,
    template_lint,
    validation,
)
from messaging.fallback import fall_back
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
from messaging.states import Status, Transition, apply, settle
from tenants import repository as tenants_repository
from tenants.domain import Principal, Sender
from tenants.quotas import Quotas, TenantQuota, for_caller

__all__ = [
    "Report",
    "Submitted",
    "apply_reports",
    "checked",
    "content_of",
    "get_message",
    "list_attempts",
    "list_events",
    "list_messages",
    "prepare",
    "record_status",
    "replayed",
    "resolve",
    "submit",
    "submit_as",
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


async def record_status(
    conn: Connection,
    message: Mapping[str, Any] | asyncpg.Record,
    reported: Status,
    *,
    source: str,
    detail: str | None = None,
    error_code: int | None = None,
    raw_event_id: int | None = None,
    dedupe_key: str | None = None,
    occurred_at: datetime | None = None,
    provider_message_id: str | None = None,
    replace_provider_message_id: bool = False,
) -> Transition | None:
    """Apply a reported status to a message the caller has locked (``id``, ``tenant_id``,
    ``status``), and audit it, in one statement.

    Returns None when the same fact (``dedupe_key``) was already recorded: nothing changes.
    """
    current = Status(message["status"])
    transition = apply(current, reported)
    failed = transition.current is Status.FAILED
    recorded = await repository.record_event(
        conn,
        tenant_id=message["tenant_id"],
        message_id=message["id"],
        reported_status=reported,
        from_status=current,
        to_status=transition.current,
        applied=transition.changed,
        outcome=transition.outcome,
        source=source,
        detail=detail,
        error_code=error_code,
        raw_event_id=raw_event_id,
        dedupe_key=dedupe_key,
        occurred_at=occurred_at,
        message_error_code=error_code if failed else None,
        message_error_reason=detail if failed else None,
        provider_message_id=provider_message_id,
        replace_provider_message_id=replace_provider_message_id,
    )
    return transition if recorded else None


@dataclass(frozen=True, slots=True)
class Report:
    """One status a provider reported about one of our messages."""

    message_id: UUID | None  # ours, when the provider echoed it back
    provider_message_id: str
    status: Status
    source: str
    dedupe_key: str
    detail: str | None = None
    error_code: int | None = None
    raw_event_id: int | None = None
    occurred_at: datetime | None = None
    billable_category: str | None = None  # the provider says this is billable, in this category
    pricing_model: str | None = None  # and under this pricing model (Meta: PMP, or CBP)


# How to read a provider's failure report: its error table, and on which channel and for what an
# opt-out it reports applies.
_CLASSIFIERS: dict[str, tuple[Callable[[int | None, int | None], classification.Verdict], str, str]] = {
    "webhook:whatsapp": (classification.whatsapp, "whatsapp", "marketing"),
    "webhook:twilio": (classification.twilio, "sms", "all"),
    "webhook:email": (classification.email_bounce, "email", "all"),
}


def _channel_of(report: Report) -> str | None:
    known = _CLASSIFIERS.get(report.source)
    return known[1] if known is not None else None


def _worth_another_channel(report: Report) -> bool:
    """Whether the provider's failure leaves room for the next channel (131026 does, 131050 does not)."""
    known = _CLASSIFIERS.get(report.source)
    if known is None:
        return False
    return known[0](report.error_code, None).fallback


def _failure_reason(report: Report) -> str | None:
    """``<stable reason>: <provider's words>``, as the worker writes it for failures at send time."""
    known = _CLASSIFIERS.get(report.source)
    if known is None or report.error_code is None:
        return report.detail
    return f"{known[0](report.error_code, None).reason}: {report.detail or report.error_code}"


def _opt_out(
    tenant_id: UUID, message: dict[str, Any], channel_row: dict[str, Any] | None, report: Report
) -> tuple[Any, ...] | None:
    """The opt-out row a failure report implies (131050: no more marketing; Twilio 21610: STOP; a
    hard bounce). The address is the channel's recipient (an email address for email)."""
    known = _CLASSIFIERS.get(report.source)
    if known is None:
        return None
    classify, channel, scope = known
    verdict = classify(report.error_code, None)
    if verdict.kind is not classification.Kind.OPT_OUT:
        return None
    address = channel_row["recipient"] if channel_row is not None else message["to_number"]
    return (tenant_id, channel, address, scope, verdict.reason, report.error_code, message["id"])


async def apply_reports(conn: Connection, tenant_id: UUID, reports: list[Report]) -> list[Report]:
    """Apply many reports in four statements, whatever their number; returns those that match no
    message of this tenant (the caller keeps them as orphans).

    The messages are locked for the caller's transaction. Each message's reports go through the
    state machine one by one, in the order given; a fact already recorded (same dedupe key) is
    skipped, so replays and duplicates change nothing.
    """
    if not reports:
        return []
    locked = await repository.lock_messages(
        conn,
        tenant_id,
        [r.message_id for r in reports if r.message_id is not None],
        [r.provider_message_id for r in reports],
    )
    by_id = {row["id"]: dict(row) for row in locked}
    by_wamid = {row["provider_message_id"]: by_id[row["id"]] for row in locked if row["provider_message_id"]}
    # Reports of a fallback channel (an SMS's SID) find their message through its channel row.
    # A report also names its channel row by our id when the row has no provider id yet: the
    # worker died between the provider's acceptance and its own record of it.
    named = [
        (r.message_id, channel)
        for r in reports
        if r.message_id and (channel := _channel_of(r)) is not None and channel != CHANNEL  # WhatsApp has none
    ]
    legs: dict[str, dict[str, Any]] = {}
    legs_by_key: dict[tuple[UUID, str], dict[str, Any]] = {}
    for row in await channels_repository.lock_channels(
        conn, tenant_id, [r.provider_message_id for r in reports], named
    ):
        leg = dict(row)
        legs_by_key[(leg["message_id"], leg["channel"])] = leg
        if leg["provider_message_id"]:
            legs[leg["provider_message_id"]] = leg
    for sid, leg in legs.items():
        if leg["message_id"] in by_id:
            by_wamid.setdefault(sid, by_id[leg["message_id"]])
    matched: list[tuple[Report, dict[str, Any] | None]] = []
    for report in reports:
        message = by_id.get(report.message_id) if report.message_id else None
        matched.append((report, message or by_wamid.get(report.provider_message_id)))
    seen = await repository.recorded_facts(
        conn, [(message["id"], report.dedupe_key) for report, message in matched if message is not None]
    )
    events: list[tuple[Any, ...]] = []
    changed: dict[UUID, dict[str, Any]] = {}
    orphans: list[Report] = []
    opt_outs: list[tuple[Any, ...]] = []
    leg_updates: dict[tuple[UUID, str], tuple[Any, ...]] = {}
    fallbacks: list[tuple[UUID, str, str]] = []
    billables: list[meter.Billable] = []
    for report, message in matched:
        if message is None:
            orphans.append(report)
            continue
        if report.billable_category is not None:
            billables.append(
                meter.Billable(
                    key=f"{_channel_of(report)}:{report.provider_message_id}",
                    message_id=message["id"],
                    channel=_channel_of(report) or "whatsapp",
                    category=report.billable_category,
                    pricing_model=report.pricing_model,
                    country=country_of(message["to_number"]),
                    source=report.source,
                    occurred_at=report.occurred_at,
                )
            )
        fact = (message["id"], report.dedupe_key)
        if fact in seen:
            continue
        seen.add(fact)
        current = Status(message["status"])
        transition = apply(current, report.status)
        events.append(
            (
                tenant_id,
                message["id"],
                report.status.value,
                current.value,
                transition.current.value,
                transition.changed,
                transition.outcome.value,
                report.source,
                report.detail,
                report.error_code,
                report.raw_event_id,
                report.dedupe_key,
                report.occurred_at,
            )
        )
        channel_row = legs.get(report.provider_message_id) or legs_by_key.get(
            (message["id"], _channel_of(report) or "")
        )
        if report.status is Status.FAILED and report.error_code is not None:
            opt_out = _opt_out(tenant_id, message, channel_row, report)
            if opt_out is not None:
                opt_outs.append(opt_out)
        if channel_row is not None and channel_row["status"] in Status.__members__.values():
            channel_row["status"] = apply(Status(channel_row["status"]), report.status).current.value
            leg_updates[(channel_row["message_id"], channel_row["channel"])] = (
                channel_row["message_id"],
                channel_row["channel"],
                channel_row["status"],
                report.error_code,
                report.detail,
                report.provider_message_id,
            )
        if report.status is Status.FAILED:
            failed_channel = channel_row["channel"] if channel_row is not None else _channel_of(report)
            if failed_channel is not None and _worth_another_channel(report):
                fallbacks.append((message["id"], failed_channel, _failure_reason(report) or "failed"))
        # The status may overtake the worker's own commit of the wamid.
        needs_wamid = message["provider_message_id"] is None
        if transition.changed or needs_wamid:
            if transition.changed:
                failed = transition.current is Status.FAILED
                message["status"] = transition.current.value
                message["error_code"] = report.error_code if failed else None
                message["error_reason"] = _failure_reason(report) if failed else None
            message["provider_message_id"] = message["provider_message_id"] or report.provider_message_id
            changed[message["id"]] = message
    await repository.insert_events(conn, events)
    await channels_repository.add_opt_outs(conn, opt_outs)
    await channels_repository.update_channels(conn, list(leg_updates.values()))
    await repository.update_messages(
        conn,
        tenant_id,
        [
            (m["id"], m["status"], m["error_code"], m["error_reason"], m["provider_message_id"])
            for m in changed.values()
        ],
    )
    await meter.record(conn, tenant_id, billables)
    for message_id, channel, reason in fallbacks:
        await fall_back(conn, tenant_id, message_id, channel, f"{channel} failed: {reason}", source="reconcile")
    return orphans
