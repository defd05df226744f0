"""What one provider call came to, whichever the channel: accepted with the provider's id, or a
failure with its :class:`~messaging.classification.Verdict`. Adapters return these as values,
never raise, so the delivery code reads the same for WhatsApp, SMS and email."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from uuid import UUID

import httpx

from kernel.db import Connection
from messaging import classification, repository
from messaging.classification import Kind, Verdict

__all__ = ["Outcome", "SendResult", "failure", "finish_attempt", "transport_failure"]


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    RETRYABLE = "retryable"
    PERMANENT = "permanent"  # any failure that a retry cannot fix (the verdict says which kind)
    # The request may or may not have reached the provider (timeout, connection lost mid-call):
    # never retried blindly, because Meta has no idempotency key.
    AMBIGUOUS = "ambiguous"


_OUTCOMES = {Kind.RETRYABLE: Outcome.RETRYABLE, Kind.AMBIGUOUS: Outcome.AMBIGUOUS}


@dataclass(frozen=True, slots=True)
class SendResult:
    outcome: Outcome
    provider_id: str | None = None  # wamid, Twilio SID, email Message-ID
    http_status: int | None = None
    error_code: int | None = None
    detail: str | None = None
    latency_ms: int = 0
    verdict: Verdict | None = None  # what a failure means (messaging.classification); None if accepted


def failure(verdict: Verdict, **fields: Any) -> SendResult:
    return SendResult(_OUTCOMES.get(verdict.kind, Outcome.PERMANENT), verdict=verdict, **fields)


def transport_failure(error: httpx.HTTPError, latency_ms: int) -> SendResult:
    """A call that failed below the provider's protocol: a refused connection never reached it
    (retry), anything later may have (ambiguous: never resent blindly)."""
    if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout):
        return failure(
            classification.transport(reached_provider=False), detail=f"connect: {error}", latency_ms=latency_ms
        )
    return failure(
        classification.transport(reached_provider=True),
        detail=f"{type(error).__name__}: {error}",
        latency_ms=latency_ms,
    )


async def finish_attempt(conn: Connection, tenant_id: UUID, attempt_id: int, result: SendResult) -> None:
    """Record a settled call (accepted or failed) on its attempt row."""
    await repository.finish_attempt(
        conn,
        tenant_id,
        attempt_id,
        state="accepted" if result.outcome is Outcome.ACCEPTED else "failed",
        provider_message_id=result.provider_id,
        http_status=result.http_status,
        error_code=result.error_code,
        error_detail=result.detail,
        latency_ms=result.latency_ms,
    )
