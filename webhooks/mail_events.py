"""A mail provider's delivery events: what became of an email after its SMTP server took it.

SMTP only says whether the provider accepted a message; whether it reached the mailbox, bounced
later or was reported as spam arrives afterwards as an event, posted to
``/webhooks/email/{channel_key}`` and signed per Standard Webhooks (:mod:`kernel.standard_webhooks`)
with the credential's ``webhook_secret``. The shape follows the common providers' (one JSON object
per delivery, ``type`` + ``data``); the email is named by the ``Message-ID`` we gave it::

    {"type": "email.bounced", "created_at": "2026-11-22T10:00:00Z",
     "data": {"message_id": "<0b6f...@shop.example>", "to": ["ada@example.com"],
              "bounce": {"type": "hard", "code": 550, "message": "5.1.1 no such mailbox"}}}

``email.delivered``: it reached the mailbox. ``email.bounced``: it did not; ``hard`` (or a 5yz
code) means the address does not exist and is suppressed, ``soft`` means the provider gave up for
now. ``email.complained``: the recipient marked it as spam; the address is suppressed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

__all__ = ["BOUNCED", "COMPLAINED", "DELIVERED", "Bounce", "Data", "Event", "bounce_code", "decode", "encode"]

DELIVERED = "email.delivered"
BOUNCED = "email.bounced"
COMPLAINED = "email.complained"


class Bounce(msgspec.Struct, frozen=True):
    type: Literal["hard", "soft"]
    code: int | None = None  # the receiving server's SMTP reply code, when the provider gives it
    message: str | None = None


class Data(msgspec.Struct, frozen=True):
    message_id: str
    to: list[str]
    bounce: Bounce | None = None


class Event(msgspec.Struct, frozen=True):
    type: str
    data: Data
    created_at: datetime | None = None


_decoder = msgspec.json.Decoder(Event)


def decode(body: bytes) -> Event:
    """Raises ``msgspec.DecodeError`` or ``msgspec.ValidationError`` for anything else."""
    return _decoder.decode(body)


def encode(event: Event) -> bytes:
    return msgspec.json.encode(event)


def bounce_code(bounce: Bounce) -> int:
    """The reply code a bounce stands for. Its type decides the class (a 552 "mailbox full"
    reported as soft stays soft): the provider's code when it agrees, else 550 or 450."""
    hard = bounce.type == "hard"
    if bounce.code is not None and (500 <= bounce.code < 600 if hard else 400 <= bounce.code < 500):
        return bounce.code
    return 550 if hard else 450
