"""Email through the tenant's SMTP server (aiosmtplib), as the last fallback channel.

Each email carries a ``Message-ID`` made from our message id, so a bounce or a reply can be traced
back to the message, and the same id on a resend lets receivers drop the duplicate. Mail that is
not transactional (MARKETING templates) carries ``List-Unsubscribe``. The server's replies are
classified by RFC 5321 (:func:`messaging.classification.smtp`): 4yz is retried; 5yz to a
recipient is a hard bounce, which suppresses the address for the tenant.
"""

from __future__ import annotations

import time
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

import aiosmtplib
import asyncpg

from kernel.worker import Resources
from messaging import classification
from messaging.outcomes import Outcome, SendResult, failure

__all__ = ["EmailSender", "build", "message_id_header"]


def message_id_header(message_id: object, from_address: str) -> str:
    domain = from_address.rpartition("@")[2] or "switchboard.invalid"
    return f"<{message_id}@{domain}>"


def build(claim: asyncpg.Record | dict[str, Any], from_address: str) -> EmailMessage:
    content = claim["content"]
    email = content["fallback"]["email"]
    message = EmailMessage()
    message["From"] = from_address
    message["To"] = email["to"]
    message["Subject"] = email["subject"]
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = message_id_header(claim["id"], from_address)
    if content.get("category") == "MARKETING":
        message["List-Unsubscribe"] = f"<mailto:{from_address}?subject=unsubscribe>"
    message.set_content(email["text"])
    if email.get("html"):
        message.add_alternative(email["html"], subtype="html")
    return message


class EmailSender:
    """The email channel for :mod:`messaging.channel_delivery`."""

    channel = "email"

    async def send(
        self, res: Resources, claim: asyncpg.Record, secrets: dict[str, str]
    ) -> tuple[SendResult, dict[str, Any]]:
        config = claim["credential_config"]
        message = build(claim, config["from_address"])
        started = time.perf_counter()

        def elapsed() -> int:
            return int((time.perf_counter() - started) * 1000)

        tls = config.get("tls", "starttls")
        try:
            await aiosmtplib.send(
                message,
                hostname=config["host"],
                port=int(config["port"]),
                username=config.get("username"),
                password=secrets.get("password"),
                use_tls=tls == "implicit",
                start_tls=tls == "starttls",
                timeout=res.settings.provider_timeout_seconds,
            )
        except aiosmtplib.SMTPRecipientsRefused as refused:
            first = refused.recipients[0]
            verdict = classification.smtp(first.code, stage="rcpt")
            return failure(verdict, error_code=first.code, detail=first.message, latency_ms=elapsed()), {}
        except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPConnectTimeoutError) as error:
            # Refused or never answered at connect: nothing was sent.
            verdict = classification.transport(reached_provider=False)
            return failure(verdict, detail=f"connect: {error}", latency_ms=elapsed()), {}
        except aiosmtplib.SMTPResponseException as error:
            verdict = classification.smtp(error.code)
            return failure(verdict, error_code=error.code, detail=error.message, latency_ms=elapsed()), {}
        except (aiosmtplib.SMTPException, OSError) as error:
            # Dropped or timed out mid-conversation: the server may have taken the message.
            verdict = classification.transport(reached_provider=True)
            return failure(verdict, detail=f"{type(error).__name__}: {error}", latency_ms=elapsed()), {}
        return SendResult(Outcome.ACCEPTED, provider_id=message["Message-ID"], latency_ms=elapsed()), {}
