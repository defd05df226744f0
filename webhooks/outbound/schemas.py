"""Partner webhook endpoints and deliveries as the APIs show them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec
from msgspec import Meta

__all__ = [
    "AttemptView",
    "DeliveryList",
    "DeliveryView",
    "EndpointCreated",
    "EndpointList",
    "EndpointUpdate",
    "EndpointView",
    "NewEndpoint",
    "Recover",
    "Recovered",
    "RotateSecret",
    "SecretRotated",
    "TestEventSent",
]

EventTypes = Annotated[
    list[str],
    Meta(
        description="Event types to receive; empty for all: message.queued, message.sent, message.delivered, "
        "message.read, message.failed, message.fallback, message.inbound, template.status_changed, "
        "billing.budget_alert."
    ),
]


class NewEndpoint(msgspec.Struct, forbid_unknown_fields=True):
    url: Annotated[str, Meta(description="An https:// URL that resolves to public addresses.")]
    description: Annotated[str, Meta(description="Free text for the tenant's own use.")] = ""
    event_types: EventTypes = msgspec.field(default_factory=list)


class EndpointUpdate(msgspec.Struct, forbid_unknown_fields=True):
    url: Annotated[str | None, Meta(description="A new https URL (checked as at creation).")] = None
    description: Annotated[str | None, Meta(description="A new description.")] = None
    event_types: EventTypes | None = None
    enabled: Annotated[bool | None, Meta(description="false disables it; true enables it again.")] = None


class EndpointView(msgspec.Struct):
    id: Annotated[UUID, Meta(description="The endpoint's id.")]
    url: Annotated[str, Meta(description="Where events are POSTed.")]
    description: Annotated[str, Meta(description="Free text for the tenant's own use.")]
    event_types: EventTypes
    status: Annotated[str, Meta(description="enabled or disabled")]
    disabled_reason: Annotated[
        str | None,
        Meta(description="Why it was disabled (410 Gone, 5 days of failures, or by hand); null when enabled."),
    ]
    failing_since: Annotated[datetime | None, Meta(description="Failing without a success since then.")]
    previous_secret_expires_at: Annotated[
        datetime | None, Meta(description="Until then the previous secret signs too (a second signature).")
    ]
    created_at: Annotated[datetime, Meta(description="When it was added.")]


class EndpointCreated(msgspec.Struct):
    endpoint: Annotated[EndpointView, Meta(description="The endpoint as stored.")]
    secret: Annotated[str, Meta(description="whsec_...: shown once; verify our signatures with it.")]


class EndpointList(msgspec.Struct):
    data: Annotated[list[EndpointView], Meta(description="The tenant's webhook endpoints.")]


class RotateSecret(msgspec.Struct, forbid_unknown_fields=True):
    overlap_hours: Annotated[
        int, Meta(ge=0, le=168, description="How long the old secret keeps signing alongside the new one.")
    ] = 24


class SecretRotated(msgspec.Struct):
    secret: Annotated[str, Meta(description="The new whsec_... secret: shown once.")]
    previous_secret_expires_at: Annotated[
        datetime | None, Meta(description="Until when the old secret still signs alongside the new one.")
    ]


class AttemptView(msgspec.Struct):
    attempt: Annotated[int, Meta(description="1 for the first try; resends continue the count.")]
    response_status: Annotated[
        int | None,
        Meta(description="The receiver's HTTP status; null when no answer came (timeout, refused connection)."),
    ]
    response_body: Annotated[str | None, Meta(description="The first KiB of the receiver's answer.")]
    error: Annotated[
        str | None, Meta(description="Why the attempt failed without an HTTP answer, or the status it failed with.")
    ]
    duration_ms: Annotated[
        int, Meta(description="From the request's start to the answer (or the failure), in milliseconds.")
    ]
    started_at: Annotated[datetime, Meta(description="When the attempt started.")]


class DeliveryView(msgspec.Struct):
    id: Annotated[int, Meta(description="The delivery's id (one per event and endpoint).")]
    event_id: Annotated[str, Meta(description="The webhook-id header: the same on every attempt and resend.")]
    event_type: Annotated[str, Meta(description="e.g. message.delivered.")]
    status: Annotated[str, Meta(description="pending, succeeded or failed")]
    attempts: Annotated[int, Meta(description="Attempts made so far.")]
    next_attempt_at: Annotated[datetime | None, Meta(description="When the next attempt is due; null when none is.")]
    last_response_status: Annotated[int | None, Meta(description="The receiver's HTTP status on the last attempt.")]
    last_error: Annotated[str | None, Meta(description="Why the last attempt failed.")]
    created_at: Annotated[datetime, Meta(description="When the event was recorded.")]
    updated_at: Annotated[datetime, Meta(description="When the delivery last changed.")]
    attempt_log: Annotated[list[AttemptView], Meta(description="Every attempt, oldest first.")] = msgspec.field(
        default_factory=list
    )


class DeliveryList(msgspec.Struct):
    data: Annotated[list[DeliveryView], Meta(description="Deliveries, the most recent first.")]
    next_cursor: Annotated[str | None, Meta(description="Pass as `cursor` for the next page; null on the last page.")]


class Recover(msgspec.Struct, forbid_unknown_fields=True):
    since: Annotated[datetime, Meta(description="Every failed delivery created since then is sent again.")]


class Recovered(msgspec.Struct):
    requeued: Annotated[int, Meta(description="How many failed deliveries were queued again.")]


class TestEventSent(msgspec.Struct):
    event_id: Annotated[str, Meta(description="The test event's id (its webhook-id header).")]
