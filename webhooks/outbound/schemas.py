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
    description: str = ""
    event_types: EventTypes = msgspec.field(default_factory=list)


class EndpointUpdate(msgspec.Struct, forbid_unknown_fields=True):
    url: str | None = None
    description: str | None = None
    event_types: EventTypes | None = None
    enabled: Annotated[bool | None, Meta(description="false disables it; true enables it again.")] = None


class EndpointView(msgspec.Struct):
    id: UUID
    url: str
    description: str
    event_types: EventTypes
    status: Annotated[str, Meta(description="enabled or disabled")]
    disabled_reason: str | None
    failing_since: Annotated[datetime | None, Meta(description="Failing without a success since then.")]
    previous_secret_expires_at: Annotated[
        datetime | None, Meta(description="Until then the previous secret signs too (a second signature).")
    ]
    created_at: datetime


class EndpointCreated(msgspec.Struct):
    endpoint: EndpointView
    secret: Annotated[str, Meta(description="whsec_...: shown once; verify our signatures with it.")]


class EndpointList(msgspec.Struct):
    data: list[EndpointView]


class RotateSecret(msgspec.Struct, forbid_unknown_fields=True):
    overlap_hours: Annotated[
        int, Meta(ge=0, le=168, description="How long the old secret keeps signing alongside the new one.")
    ] = 24


class SecretRotated(msgspec.Struct):
    secret: Annotated[str, Meta(description="The new whsec_... secret: shown once.")]
    previous_secret_expires_at: datetime | None


class AttemptView(msgspec.Struct):
    attempt: int
    response_status: int | None
    response_body: Annotated[str | None, Meta(description="The first KiB of the receiver's answer.")]
    error: str | None
    duration_ms: int
    started_at: datetime


class DeliveryView(msgspec.Struct):
    id: int
    event_id: Annotated[str, Meta(description="The webhook-id header: the same on every attempt and resend.")]
    event_type: str
    status: Annotated[str, Meta(description="pending, succeeded or failed")]
    attempts: int
    next_attempt_at: datetime | None
    last_response_status: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    attempt_log: list[AttemptView] = msgspec.field(default_factory=list)


class DeliveryList(msgspec.Struct):
    data: list[DeliveryView]
    next_cursor: str | None


class Recover(msgspec.Struct, forbid_unknown_fields=True):
    since: Annotated[datetime, Meta(description="Every failed delivery created since then is sent again.")]


class Recovered(msgspec.Struct):
    requeued: int


class TestEventSent(msgspec.Struct):
    event_id: str
