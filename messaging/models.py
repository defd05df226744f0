"""Messages, their audit trail (events) and delivery attempts; inbound messages and conversations."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from kernel.models import metadata

__all__ = [
    "conversations",
    "delivery_attempts",
    "fallback_timers",
    "inbound_messages",
    "message_channels",
    "message_events",
    "messages",
    "opt_outs",
    "scheduled_messages",
]

# The id of the transaction writing a row, as a bigint (xid8 is 64-bit).
XACT = "((pg_current_xact_id())::text)::bigint"

messages = Table(
    "messages",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("idempotency_key", Text, nullable=True),
    # SHA-256 of the canonical request, so a reused Idempotency-Key with another body is refused.
    Column("request_hash", LargeBinary, nullable=False),
    Column("channel", Text, nullable=False),
    Column("sender_id", UUID(as_uuid=True), ForeignKey("senders.id"), nullable=True),
    Column("to_number", Text, nullable=False),
    Column("content", JSONB, nullable=False),
    Column("status", Text, nullable=False),
    Column("provider_message_id", Text, nullable=True),
    Column("error_code", Integer, nullable=True),
    Column("error_reason", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Attempts before this number belong to earlier rounds: an operator's retry of a dead letter
    # starts a new round with the channel's full allowance of attempts.
    Column("attempt_floor", Integer, nullable=False, server_default="0"),
    # Attempts of this round the provider refused only to slow us down (130429, 131056): they
    # are on record like any attempt but do not use up the allowance.
    Column("throttled_attempts", Integer, nullable=False, server_default="0"),
    # An operator set this failed message aside: it leaves the dead letters.
    Column("discarded_at", DateTime(timezone=True), nullable=True),
    # A scheduled message: its delivery waits in scheduled_messages until then.
    Column("send_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("tenant_id", "idempotency_key"),
    Index("ix_messages_tenant_id_created_at", "tenant_id", text("created_at DESC"), text("id DESC")),
    Index("ix_messages_provider_message_id", "provider_message_id"),
    Index(
        "ix_messages_dead_letters",
        "tenant_id",
        text("updated_at DESC"),
        text("id DESC"),
        postgresql_where=text("status = 'failed' AND discarded_at IS NULL"),
    ),
    # Room on each page, so that the status updates (which touch no indexed column) are HOT
    # updates that skip the indexes: a message is updated about four times after its insert.
    postgresql_with={"fillfactor": 70},
)

message_events = Table(
    "message_events",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("message_id", UUID(as_uuid=True), ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
    Column("reported_status", Text, nullable=False),
    Column("from_status", Text, nullable=True),
    Column("to_status", Text, nullable=False),
    Column("applied", Boolean, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("source", Text, nullable=False),  # api | worker | webhook:whatsapp | operator
    Column("detail", Text, nullable=True),
    Column("error_code", Integer, nullable=True),
    Column("raw_event_id", BigInteger, nullable=True),
    # Provider message id + status + provider timestamp: the same fact arriving twice (in one body
    # or in two) is recorded once.
    Column("dedupe_key", Text, nullable=True),
    Column("occurred_at", DateTime(timezone=True), nullable=True),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # The writing transaction's id: WatchMessageEvents' gap-free cursor (migration 0029).
    Column("xact_id", BigInteger, nullable=False, server_default=text(XACT)),
    Index("ix_message_events_tenant_id_xact_id", "tenant_id", "xact_id", "id"),
    # Also serves listing a message's events (a prefix of it); a separate index would cost one
    # more index insert per event, five per message.
    UniqueConstraint("message_id", "dedupe_key"),
)

delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("message_id", UUID(as_uuid=True), ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
    Column("channel", Text, nullable=False),
    Column("attempt_number", Integer, nullable=False),
    # pending (recorded before the provider call) | accepted | failed | ambiguous | skipped (not
    # sent: the recipient opted out)
    Column("state", Text, nullable=False),
    Column("provider_message_id", Text, nullable=True),
    Column("http_status", Integer, nullable=True),
    Column("error_code", Integer, nullable=True),
    Column("error_detail", Text, nullable=True),
    Column("latency_ms", Integer, nullable=True),
    Column("started_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("message_id", "channel", "attempt_number"),
)

inbound_messages = Table(
    "inbound_messages",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("sender_id", UUID(as_uuid=True), ForeignKey("senders.id"), nullable=False),
    Column("channel", Text, nullable=False, server_default="whatsapp"),
    Column("provider_message_id", Text, nullable=False),
    Column("from_number", Text, nullable=False),  # E.164
    Column("type", Text, nullable=False),  # text | image | ... | interactive | reaction | location | unsupported
    Column("text", Text, nullable=True),  # body, caption, reply title, emoji: whatever reads as text
    Column("media_id", Text, nullable=True),  # fetched lazily from the provider, never at ingest
    Column("reply_to", Text, nullable=True),  # the provider id of the message this one answers
    Column("payload", JSONB, nullable=False),  # the provider's message object, as received
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("raw_event_id", BigInteger, nullable=True),
    Column("xact_id", BigInteger, nullable=False, server_default=text(XACT)),  # see message_events
    # Providers deliver at least once: each provider message is stored once per tenant.
    UniqueConstraint("tenant_id", "provider_message_id"),
    Index("ix_inbound_messages_tenant_id_xact_id", "tenant_id", "xact_id", "id"),
    Index("ix_inbound_messages_tenant_id_occurred_at", "tenant_id", text("occurred_at DESC"), text("id DESC")),
)

# One row per (sender, contact): who wrote to which of the tenant's numbers, and when last. The
# last inbound message opens the 24-hour customer service window for free-form replies.
conversations = Table(
    "conversations",
    metadata,
    Column("sender_id", UUID(as_uuid=True), ForeignKey("senders.id", ondelete="CASCADE"), primary_key=True),
    Column("contact", Text, primary_key=True),  # E.164
    Column("tenant_id", UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("profile_name", Text, nullable=True),
    Column("wa_id", Text, nullable=True),
    Column("first_inbound_at", DateTime(timezone=True), nullable=False),
    Column("last_inbound_at", DateTime(timezone=True), nullable=False),
    Column("inbound_count", Integer, nullable=False, server_default="0"),
    Index("ix_conversations_tenant_id_last_inbound_at", "tenant_id", text("last_inbound_at DESC")),
)

# Recipients who asked not to be sent a kind of message on a channel (WhatsApp 131050: no more
# marketing; Twilio 21610: no SMS at all until START). Checked before each such send.
opt_outs = Table(
    "opt_outs",
    metadata,
    Column("tenant_id", UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True),
    Column("channel", Text, primary_key=True),
    Column("address", Text, primary_key=True),  # E.164 number or email address
    Column("scope", Text, primary_key=True),  # marketing | all
    Column("reason", Text, nullable=False),
    Column("error_code", Integer, nullable=True),
    Column("message_id", UUID(as_uuid=True), nullable=True),  # the message whose failure told us
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# The channels a message fell back to (WhatsApp itself is the message row). The primary key is the
# exactly-once guarantee: however many triggers fire (a synchronous error, a failed status
# webhook, the timer), a message takes each channel at most once.
message_channels = Table(
    "message_channels",
    metadata,
    Column("message_id", UUID(as_uuid=True), ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True),
    Column("channel", Text, primary_key=True),  # sms | email
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("position", SmallInteger, nullable=False),  # 1 for the first fallback, 2 for the next
    # queued | submitted | sent | delivered | read | failed | skipped (no recipient or content)
    Column("status", Text, nullable=False),
    Column("recipient", Text, nullable=True),  # E.164 number or email address
    Column("provider_message_id", Text, nullable=True, index=True),  # Twilio SID, email Message-ID
    Column("detail", Text, nullable=True),
    Column("error_code", Integer, nullable=True),
    Column("encoding", Text, nullable=True),  # SMS: GSM-7 | UCS-2
    Column("segments", SmallInteger, nullable=True),  # SMS: what the carrier bills
    Column("reason", Text, nullable=False),  # why this channel was taken: what failed before it
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# send_at, durably: a scheduled message's delivery outbox row, moved to the outbox by the relay
# when it is due (messaging.scheduling), so a schedule survives restarts.
scheduled_messages = Table(
    "scheduled_messages",
    metadata,
    Column("message_id", UUID(as_uuid=True), ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    # The outbox row to write when it is due, as the submission would have written it.
    Column("topic", Text, nullable=False),
    Column("priority", SmallInteger, nullable=False),
    Column("payload", JSONB, nullable=False),
    Index("ix_scheduled_messages_due_at", "due_at"),
)

# fallback_after, durably: a row per message whose next channel starts at due_at unless the message
# is delivered first. Fired (and deleted) by the relay's housekeeping, so it survives restarts.
fallback_timers = Table(
    "fallback_timers",
    metadata,
    Column("message_id", UUID(as_uuid=True), ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False, index=True),
)
