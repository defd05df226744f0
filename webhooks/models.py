"""Provider callbacks, stored raw (bytes and headers) before anything parses them."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, Index, LargeBinary, Table, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID

from kernel.models import metadata

__all__ = ["raw_events"]

raw_events = Table(
    "raw_events",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("tenant_id", UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("credential_id", UUID(as_uuid=True), nullable=False),
    Column("provider", Text, nullable=False),  # whatsapp | twilio | email
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("headers", JSONB, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("body_sha256", LargeBinary, nullable=False),
    # The callback URL's query string: a Twilio callback names our message there (as signed).
    Column("query", Text, nullable=False, server_default=""),
    # received -> processed | orphaned (some part matched no message) | unparseable
    Column("state", Text, nullable=False, server_default="received"),
    Column("note", Text, nullable=True),
    Column("processed_at", DateTime(timezone=True), nullable=True),
    Index("ix_raw_events_tenant_id_received_at", "tenant_id", "received_at"),
    # What operators look at (orphaned, unparseable, not yet reconciled) stays a small index.
    Index("ix_raw_events_attention", "tenant_id", "state", postgresql_where=text("state <> 'processed'")),
)
