"""Scripted outcomes: the recipient number's last four digits choose what the sandbox does.

| suffix | outcome |
| --- | --- |
| ``0000`` | accepted, then a ``failed`` status with 131026 (not on WhatsApp / undeliverable) |
| ``1047`` | free-form text: accepted, then ``failed`` with 131047 (24-hour window closed); templates go through |
| ``1050`` | MARKETING templates: accepted, then ``failed`` with 131050 (user stopped marketing); others go through |
| ``0999`` | accepted, then ``sent``, and never ``delivered`` (a phone that is off) |
| ``0429`` | HTTP 400, error 130429 (throughput rate limit hit) |
| ``0500`` | HTTP 500, error 2 (service temporarily unavailable) |
| ``0504`` | accepted at once, answered ``SLOW_SECONDS`` late: a caller that dies meanwhile never learns it was sent |
| ``0408`` | answered ``SLOW_SECONDS`` late, accepted only if the caller is still there: a hang-up sends nothing |
| ``0190`` | HTTP 401, error 190 (access token expired) |
| anything else | accepted, then ``sent`` → ``delivered`` → ``read`` |

``SLOW_SECONDS`` is ``SWITCHBOARD_SANDBOX_SLOW_SECONDS`` (default 5). The Twilio and SMTP sandboxes
script the same two slow outcomes (:func:`hangs_up_within`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from litestar import Request

__all__ = [
    "ASYNC_FAILURES",
    "OUTAGE_FAILURES",
    "RATE_LIMITED",
    "SYNC_FAILURES",
    "MetaFailure",
    "Script",
    "hangs_up_within",
    "script_for",
]


class Script(StrEnum):
    NORMAL = "normal"
    NOT_ON_WHATSAPP = "not_on_whatsapp"
    WINDOW_CLOSED = "window_closed"
    STOPPED_MARKETING = "stopped_marketing"
    NEVER_DELIVERED = "never_delivered"
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    SLOW = "slow"  # accept, then answer late
    SLOW_DROP = "slow_drop"  # wait, then accept unless the caller hung up
    TOKEN_EXPIRED = "token_expired"  # noqa: S105 - a scenario name, not a credential


_SUFFIXES = {
    "0000": Script.NOT_ON_WHATSAPP,
    "1047": Script.WINDOW_CLOSED,
    "1050": Script.STOPPED_MARKETING,
    "0999": Script.NEVER_DELIVERED,
    "0429": Script.RATE_LIMITED,
    "0500": Script.SERVER_ERROR,
    "0504": Script.SLOW,
    "0408": Script.SLOW_DROP,
    "0190": Script.TOKEN_EXPIRED,
}


def script_for(recipient: str) -> Script:
    return _SUFFIXES.get(recipient[-4:], Script.NORMAL)


@dataclass(frozen=True, slots=True)
class MetaFailure:
    http_status: int
    code: int
    message: str
    type: str = "OAuthException"


RATE_LIMITED = MetaFailure(400, 130429, "(#130429) Rate limit hit")

SYNC_FAILURES = {
    Script.RATE_LIMITED: RATE_LIMITED,
    Script.SERVER_ERROR: MetaFailure(500, 2, "Service temporarily unavailable"),
    Script.TOKEN_EXPIRED: MetaFailure(401, 190, "Error validating access token: Session has expired."),
}

# What a number's outage (``PUT /_sandbox/whatsapp/phone_numbers/{id}/outage``) answers, by code.
OUTAGE_FAILURES = {
    130429: RATE_LIMITED,
    131057: MetaFailure(400, 131057, "(#131057) Business Account is in maintenance mode"),
    2: MetaFailure(503, 2, "Service temporarily unavailable"),
}

ASYNC_FAILURES = {
    Script.STOPPED_MARKETING: (
        131050,
        "User has stopped marketing messages",
        "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp.",
    ),
    Script.NOT_ON_WHATSAPP: (131026, "Message undeliverable", "Message Undeliverable."),
    Script.WINDOW_CLOSED: (
        131047,
        "Re-engagement message",
        "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
    ),
}


async def hangs_up_within(request: Request[Any, Any, Any], seconds: float) -> bool:
    """Wait ``seconds``; True if the caller disconnected meanwhile (the body is already read)."""
    listener = asyncio.ensure_future(request.receive())
    done, _ = await asyncio.wait({listener}, timeout=seconds)
    if not done:
        listener.cancel()
        return False
    return bool(listener.result().get("type") == "http.disconnect")
