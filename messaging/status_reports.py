"""Provider status reports applied to messages: one status at a time (:func:`record_status`, for
the workers) and a provider's batch of them (:func:`apply_reports`, for webhook reconciliation),
through the order-free state machine, with metering and fallback.

Functions take the connection and the tenant id explicitly and never commit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from billing import meter
from billing.pricing import country_of
from kernel.db import Connection
from messaging import channels_repository, classification, repository
from messaging.fallback import fall_back
from messaging.service import CHANNEL
from messaging.states import Status, Transition, apply

__all__ = ["Report", "apply_reports", "record_status"]


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
