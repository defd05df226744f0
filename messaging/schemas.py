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
    params: Annotated[
        TemplateParams, Meta(description="Values for the template's placeholders, header media and buttons.")
    ] = msgspec.field(default_factory=TemplateParams)


class SmsFallback(msgspec.Struct, forbid_unknown_fields=True):
    text: Annotated[str, Meta(description="The SMS text (GSM-7 or UCS-2; long texts are sent in segments).")]


class EmailFallback(msgspec.Struct, forbid_unknown_fields=True):
    to: Annotated[str, Meta(description="The recipient's email address.")]
    subject: Annotated[str, Meta(description="The email's subject.")]
    text: Annotated[str, Meta(description="The plain-text body.")]
    html: Annotated[str | None, Meta(description="An HTML body, sent alongside the text one.")] = None


class Fallback(msgspec.Struct, forbid_unknown_fields=True):
    sms: Annotated[SmsFallback | None, Meta(description="The SMS to send if WhatsApp cannot deliver.")] = None
    email: Annotated[
        EmailFallback | None, Meta(description="The email to send if WhatsApp (and SMS, when given) cannot deliver.")
    ] = None


class SendMessage(msgspec.Struct, forbid_unknown_fields=True):
    """One message to send. Exactly one of ``text`` or ``template``."""

    to: Annotated[str, Meta(description="Recipient in E.164, e.g. +14155550123.", examples=["+14155550123"])]
    text: Annotated[
        TextContent | None,
        Meta(description="Free-form text: only within 24 hours of the contact's last message. Give text or template."),
    ] = None
    template: Annotated[
        TemplateContent | None, Meta(description="An approved template, with its parameters. Give text or template.")
    ] = None
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
    message: Annotated[MessageView | None, Meta(description="The stored (or replayed) message; null when refused.")] = (
        None
    )
    error: Annotated[
        dict[str, Any] | None, Meta(description="An RFC 9457 problem (`type`, `detail`, `errors`...), as alone.")
    ] = None


class BatchResults(msgspec.Struct):
    results: Annotated[list[BatchResult], Meta(description="One result per message, in request order.")]
    accepted: Annotated[int, Meta(description="How many were stored (or replayed).")]
    refused: Annotated[int, Meta(description="How many were refused (each with its error).")]


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
    code: Annotated[int | None, Meta(description="The provider's error code (e.g. Meta's 131026), when there is one.")]
    reason: Annotated[str, Meta(description="Why it failed, in words.")]


class MessageView(msgspec.Struct):
    id: Annotated[UUID, Meta(description="The message's id.")]
    to: Annotated[str, Meta(description="The recipient in E.164.")]
    channel: Annotated[str, Meta(description="The channel it was asked for: whatsapp.")]
    status: Annotated[str, Meta(description="queued, submitted, sent, delivered, read or failed")]
    sender: Annotated[str | None, Meta(description="The phone_number_id it is sent from.")]
    provider_message_id: Annotated[
        str | None, Meta(description="Meta's id of the sent message (wamid); null until Meta accepts it.")
    ]
    error: Annotated[MessageError | None, Meta(description="Why it failed; null unless it failed.")]
    content_type: Annotated[str, Meta(description="text or template.")]
    idempotency_key: Annotated[str | None, Meta(description="The Idempotency-Key it was submitted with.")]
    created_at: Annotated[datetime, Meta(description="When it was accepted.")]
    updated_at: Annotated[datetime, Meta(description="When its status last changed.")]
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
    recipient: Annotated[
        str | None, Meta(description="Where this channel sends: a number in E.164, or an email address.")
    ] = None
    provider_message_id: Annotated[
        str | None,
        Meta(description="The provider's id of the message on this channel (wamid, Twilio SID, Message-ID)."),
    ] = None
    detail: Annotated[str | None, Meta(description="Why it failed or was skipped; why it was taken")] = None
    error_code: Annotated[int | None, Meta(description="The provider's error code, when this channel failed.")] = None
    encoding: Annotated[str | None, Meta(description="SMS: GSM-7 or UCS-2")] = None
    segments: Annotated[int | None, Meta(description="SMS: segments billed")] = None


class MessageList(msgspec.Struct):
    data: Annotated[list[MessageView], Meta(description="Messages, the most recent first.")]
    next_cursor: Annotated[str | None, Meta(description="Pass as `cursor` for the next page; null on the last page.")]


class DeadLetterView(msgspec.Struct):
    message: Annotated[MessageView, Meta(description="The failed message.")]
    attempts: Annotated[int, Meta(description="Delivery attempts made, over every round")]
    failed_at: Annotated[datetime, Meta(description="When it failed.")]


class DeadLetterList(msgspec.Struct):
    data: Annotated[
        list[DeadLetterView], Meta(description="Failed messages not yet retried or discarded, the most recent first.")
    ]
    next_cursor: Annotated[str | None, Meta(description="Pass as `cursor` for the next page; null on the last page.")]


class EventView(msgspec.Struct):
    id: Annotated[int, Meta(description="The event's id, increasing in recording order.")]
    reported_status: Annotated[str, Meta(description="The status the source reported.")]
    from_status: Annotated[str | None, Meta(description="The message's status before this event.")]
    to_status: Annotated[str, Meta(description="The message's status after it.")]
    applied: Annotated[
        bool, Meta(description="Whether the event changed the message's status (a late or duplicate report does not).")
    ]
    outcome: Annotated[str, Meta(description="What the state machine made of it: advanced, late, duplicate, ...")]
    source: Annotated[str, Meta(description="api, worker, webhook:whatsapp or operator")]
    detail: Annotated[
        str | None,
        Meta(description="The source's words: a provider's error title, a fallback's reason, an operator's action."),
    ]
    error_code: Annotated[int | None, Meta(description="The provider's error code, when it reported one.")]
    raw_event_id: Annotated[int | None, Meta(description="The stored provider callback this event came from.")]
    occurred_at: Annotated[datetime | None, Meta(description="When the provider says it happened.")]
    recorded_at: Annotated[datetime, Meta(description="When Switchboard recorded it.")]
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
    data: Annotated[list[EventView], Meta(description="The message's events, in the order they were recorded.")]


class InboundMessageView(msgspec.Struct):
    id: Annotated[UUID, Meta(description="The inbound message's id.")]
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
    provider_message_id: Annotated[str, Meta(description="Meta's id of the message (wamid).")] = ""
    payload: Annotated[dict[str, Any], Meta(description="The provider's message object, as received")] = {}
    occurred_at: Annotated[datetime | None, Meta(description="When the contact sent it, as Meta reports it.")] = None
    received_at: Annotated[datetime | None, Meta(description="When Switchboard received it.")] = None


class InboundMessageList(msgspec.Struct):
    data: Annotated[list[InboundMessageView], Meta(description="Inbound messages, the most recent first.")]
    next_cursor: Annotated[str | None, Meta(description="Pass as `cursor` for the next page; null on the last page.")]


class ConversationView(msgspec.Struct):
    sender: Annotated[str, Meta(description="phone_number_id of the tenant's number")]
    contact: Annotated[str, Meta(description="The customer's number, E.164")]
    profile_name: Annotated[
        str | None, Meta(description="The contact's WhatsApp profile name, as Meta last reported it.")
    ]
    first_inbound_at: Annotated[datetime, Meta(description="When the contact first wrote to this sender.")]
    last_inbound_at: Annotated[datetime, Meta(description="When the contact last wrote to this sender.")]
    inbound_count: Annotated[int, Meta(description="How many messages the contact has sent to this sender.")]
    window_open: Annotated[
        bool, Meta(description="Free-form messages are allowed: the last inbound message is under 24 hours old")
    ]
    window_expires_at: Annotated[
        datetime,
        Meta(description="When the 24-hour customer service window closes (free-form text is allowed until then)."),
    ]


class ConversationList(msgspec.Struct):
    data: Annotated[list[ConversationView], Meta(description="Conversations, the most recent inbound first.")]
    next_cursor: Annotated[str | None, Meta(description="Pass as `cursor` for the next page; null on the last page.")]
