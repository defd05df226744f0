"""A small client for tenant apps: Switchboard's gRPC API with auth, deadlines, safe retries and
typed errors, and the receiver's check of our signed webhooks.

    async with Client("127.0.0.1:50051", api_key) as client:
        message = await client.send_message(to="+14155550123", text="Your table is ready")

The generated stubs (``switchboard.messaging.v1`` and friends) stay available for anything the
wrapper does not cover: ``client.messaging`` and ``client.billing`` are the raw stubs.
"""

from __future__ import annotations

from switchboard_client.client import Client
from switchboard_client.errors import (
    BudgetExceeded,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    SwitchboardError,
    Unauthenticated,
    Unavailable,
)
from switchboard_client.webhooks import VerificationError, verify_webhook

__all__ = [
    "BudgetExceeded",
    "Client",
    "FailedPrecondition",
    "InvalidArgument",
    "NotFound",
    "ResourceExhausted",
    "SwitchboardError",
    "Unauthenticated",
    "Unavailable",
    "VerificationError",
    "verify_webhook",
]
