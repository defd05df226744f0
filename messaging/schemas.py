"""Message shapes shared by both edges: REST decodes JSON into these, gRPC converts into them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from msgspec import Meta

__all__ = [
    "AttemptView",
    "BatchResult",
    "BatchResults",
    "ButtonParam",
    "ConversationList",
    "ConversationView",
    "EmailFallback",
    "EventList",
    "EventView",
    "Fallback",
    "HeaderMedia",
    "InboundMessageList",
    "InboundMessageView",
    "MessageBatch",
    "MessageError",
    "MessageList",
    "MessageView",
    "SendMessage",
    "SmsFallback",
    "TemplateContent",
    "TemplateParams",
    "TextContent",
]

MAX_TEXT = 4096


class TextContent(msgspec.Struct, forbid_unknown_fields=True):
    body: Annotated[str, Meta(description=f"Message text, 1 to {MAX_TEXT} characters.")]


class HeaderMedia(msgspec.Struct, forbid_unknown_fields=True):
    """The image, video or document of a template whose header is media."""

    link: Annotated[str | None, Meta(description="An https:// URL Meta fetches the file from.")] = None
    id: Annotated[str | None, Meta(description="A media id from the WhatsApp media upload API.")] = None
    filename: Annotated[str | None, Meta(description="Shown for a document header.")] = None


class ButtonParam(msgspec.Struct, forbid_unknown_fields=True):
    index: Annotated[int, Meta(ge=0, description="The button's position in the template, from 0.")]
    value: Annotated[
        str,
        Meta(
            description="A URL button's {{1}} suffix, a quick reply's payload, a copy-code button's code "
            "or an authentication template's one-time password."
        ),
    ]


# A list for a POSITIONAL template ({{1}}, {{2}}...), an object for a NAMED one ({{first_name}}).
Values = list[str] | dict[str, str]


class TemplateParams(msgspec.Struct, forbid_unknown_fields=True):
    header: Annotated[
        Values,
        Meta(
            description="The text header's placeholder value: a list (positional templates) or an object "
            "{name: value} (named templates)."
        ),
    ] = []
    body: Annotated[
        Values,
        Meta(
            description="The body's placeholder values: a list in {{1}}, {{2}}... order (positional templates) "
            "or an object {name: value} (named templates)."
        ),
    ] = []
    header_media: Annotated[
        HeaderMedia | None, Meta(description="Required when the template's header is an image, video or document.")
    ] = None
    buttons: Annotated[
        list[ButtonParam], Meta(description="Values for the template's buttons that take one, by index.")
    ] = []


class TemplateContent(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, Meta(description="An APPROVED template of the sender's WhatsApp Business Account.")]
    language: Annotated[str, Meta(description="The template's language code, e.g. en_US.")]
    params: TemplateParams = msgspec.field(default_factory=TemplateParams)


class SmsFallback(msgspec.Struct, forbid_unknown_fields=True):
    text: str


class EmailFallback(msgspec.Struct, forbid_unknown_fields=True):
    to: str
    subject: str
    text: str
    html: str | None = None


class Fallback(msgspec.Struct, forbid_unknown_fields=True):
    sms: SmsFallback | None = None
    email: EmailFallback | None = None


class SendMessage(msgspec.Struct, forbid_unknown_fields=True):
    """One message to send. Exactly one of ``text`` or ``template``."""

    to: Annotated[str, Meta(description="Recipient in E.164, e.g. +14155550123.", examples=["+14155550123"])]
    text: TextContent | None = None
    template: TemplateContent | None = None
    sender: Annotated[
        str | None, Meta(description="phone_number_id to send from; the tenant's default sender when omitted.")
    ] = None
    priority: Annotated[
        Literal["transactional", "bulk"] | None,
        Meta(
            description="transactional messages (one-time passwords, receipts) are delivered before bulk ones. "
            "Omitted: bulk for MARKETING templates, transactional otherwise."
        ),
    ] = None
    fallback: Annotated[
        Fallback | None,
        Meta(
            description=(
                "Content for SMS and email fallback: when WhatsApp cannot deliver, the next channel with content "
                "takes over, once."
            )
        ),
    ] = None
    channels: Annotated[
        list[Literal["whatsapp", "sms", "email"]] | None,
        Meta(
            description=(
                "The route's order, WhatsApp first; each other channel needs its fallback content. "
                "Omitted: whatsapp, sms, email (those with content)."
            ),
            examples=[["whatsapp", "email", "sms"]],
        ),
    ] = None
    fallback_after: Annotated[
        int | None,
        Meta(
            description=(
                "Seconds: if the message is not delivered by then, the next channel takes over even though "
                "WhatsApp has not failed (1 to 86400; needs fallback content)."
            )
        ),
    ] = None
    send_at: Annotated[
        datetime | None,
        Meta(
            description="When to send it, with its offset, up to 30 days ahead (RFC 3339). Until then it can be "
            "canceled (`POST /v1/messages/{id}/cancel`). Omitted: now.",
            examples=["2026-12-24T09:00:00Z"],
        ),
    ] = None


class MessageBatch(msgspec.Struct, forbid_unknown_fields=True):
    messages: Annotated[
        list[SendMessage], Meta(description="1 to 1,000 messages, each as `POST /v1/messages` takes it.")
    ]


class BatchResult(msgspec.Struct):
    index: Annotated[int, Meta(description="The message's position in the request.")]
    status: Annotated[int, Meta(description="202 if stored, else the HTTP status its error would have alone.")]
    created: Annotated[bool, Meta(description="False when its idempotency key replayed an earlier message.")] = False
    message: MessageView | None = None
    error: Annotated[
        dict[str, Any] | None, Meta(description="An RFC 9457 problem (`type`, `detail`, `errors`...), as alone.")
    ] = None


class BatchResults(msgspec.Struct):
    results: list[BatchResult]
    accepted: Annotated[int, Meta(description="How many were stored (or replayed).")]
    refused: int


class RoutingPolicy(msgspec.Struct, forbid_unknown_fields=True):
    """A tenant's default fallback route, for messages that do not give their own."""

    channels: Annotated[
        list[Literal["whatsapp", "sms", "email"]] | None,
        Meta(description="Order of the channels, WhatsApp first. Omitted: whatsapp, sms, email."),
    ] = None
    fallback_after: Annotated[
        int | None,
        Meta(description="Seconds without delivery before the next channel takes over (1 to 86400). Omitted: none."),
    ] = None


class MessageError(msgspec.Struct):
    code: int | None
    reason: str


class MessageView(msgspec.Struct):
    id: UUID
    to: str
    channel: str
    status: Annotated[str, Meta(description="queued, submitted, sent, delivered, read or failed")]
    sender: str | None
    provider_message_id: str | None
    error: MessageError | None
    content_type: str
    idempotency_key: str | None
    created_at: datetime
    updated_at: datetime
    send_at: Annotated[datetime | None, Meta(description="When it is (or was) scheduled to be sent.")] = None
    channels: Annotated[
        list[ChannelView] | None,
        Meta(
            description=(
                "Per channel, in route order (WhatsApp, then each fallback taken); shown when one message "
                "is fetched. The message's own status is the overall one: delivered if any channel delivered."
            )
        ),
    ] = None


class ChannelView(msgspec.Struct):
    channel: Annotated[str, Meta(description="whatsapp, sms or email")]
    status: Annotated[
        str, Meta(description="This channel's own status: queued, submitted, sent, delivered, read, failed or skipped")
    ]
    recipient: str | None = None
    provider_message_id: str | None = None
    detail: Annotated[str | None, Meta(description="Why it failed or was skipped; why it was taken")] = None
    error_code: int | None = None
    encoding: Annotated[str | None, Meta(description="SMS: GSM-7 or UCS-2")] = None
    segments: Annotated[int | None, Meta(description="SMS: segments billed")] = None


class MessageList(msgspec.Struct):
    data: list[MessageView]
    next_cursor: str | None


class DeadLetterView(msgspec.Struct):
    message: MessageView
    attempts: Annotated[int, Meta(description="Delivery attempts made, over every round")]
    failed_at: datetime


class DeadLetterList(msgspec.Struct):
    data: list[DeadLetterView]
    next_cursor: str | None


class EventView(msgspec.Struct):
    id: int
    reported_status: str
    from_status: str | None
    to_status: str
    applied: bool
    outcome: str
    source: Annotated[str, Meta(description="api, worker, webhook:whatsapp or operator")]
    detail: str | None
    error_code: int | None
    raw_event_id: int | None
    occurred_at: datetime | None
    recorded_at: datetime
    message_id: Annotated[UUID | None, Meta(description="Set in the event stream (gRPC WatchMessageEvents).")] = None


class AttemptView(msgspec.Struct):
    channel: str
    attempt_number: int
    state: Annotated[str, Meta(description="pending, accepted, failed, ambiguous or skipped")]
    provider_message_id: str | None
    http_status: int | None
    error_code: int | None
    error_detail: str | None
    latency_ms: int | None
    started_at: datetime
    finished_at: datetime | None


class EventList(msgspec.Struct):
    data: list[EventView]


class InboundMessageView(msgspec.Struct):
    id: UUID
    sender: Annotated[str, Meta(description="phone_number_id of the tenant's number the message was sent to")]
    from_: Annotated[str, Meta(description="The customer's number, E.164")] = msgspec.field(name="from")
    type: Annotated[
        str,
        Meta(
            description="text, image, audio, video, document, sticker, interactive, button, reaction, "
            "location, contacts, or the provider's type name for anything else (unsupported, order, ...)"
        ),
    ] = ""
    text: Annotated[
        str | None, Meta(description="The text, caption, chosen reply title, reaction emoji or place name")
    ] = None
    media_id: Annotated[str | None, Meta(description="Provider media id; fetch it from the provider when needed")] = (
        None
    )
    reply_to: Annotated[str | None, Meta(description="Provider id of the message this one replies or reacts to")] = None
    provider_message_id: str = ""
    payload: Annotated[dict[str, Any], Meta(description="The provider's message object, as received")] = {}
    occurred_at: datetime | None = None
    received_at: datetime | None = None


class InboundMessageList(msgspec.Struct):
    data: list[InboundMessageView]
    next_cursor: str | None


class ConversationView(msgspec.Struct):
    sender: Annotated[str, Meta(description="phone_number_id of the tenant's number")]
    contact: Annotated[str, Meta(description="The customer's number, E.164")]
    profile_name: str | None
    first_inbound_at: datetime
    last_inbound_at: datetime
    inbound_count: int
    window_open: Annotated[
        bool, Meta(description="Free-form messages are allowed: the last inbound message is under 24 hours old")
    ]
    window_expires_at: datetime


class ConversationList(msgspec.Struct):
    data: list[ConversationView]
    next_cursor: str | None
