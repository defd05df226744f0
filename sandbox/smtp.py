"""A real SMTP server (aiosmtpd) that keeps what it receives, for development and tests.

It listens on ``SWITCHBOARD_SANDBOX_SMTP_PORT`` (8025) without TLS or authentication (email
credentials pointing at it use ``"tls": "none"``). ``GET /_sandbox/email/messages?to=`` lists
what arrived. The recipient's local part chooses the outcome:

| local part | outcome |
| --- | --- |
| ``bounce`` | ``550 5.1.1`` at RCPT: no such mailbox (a hard bounce) |
| ``busy`` | ``451 4.3.0`` at RCPT: try again later |
| anything else | accepted and kept |
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from litestar import Controller, get
from litestar.datastructures import State

__all__ = ["EmailControlController", "Mailbox", "serve"]

_REFUSALS = {"bounce": "550 5.1.1 No such user here", "busy": "451 4.3.0 Mailbox busy, try again later"}


@dataclass
class Mailbox:
    received: list[dict[str, Any]] = field(default_factory=list)

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook names)
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        refusal = _REFUSALS.get(address.partition("@")[0].lower())
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        raw = envelope.original_content or envelope.content or b""
        parsed = message_from_bytes(raw if isinstance(raw, bytes) else raw.encode(), policy=policy.default)
        body = parsed.get_body(("plain",))
        html = parsed.get_body(("html",))
        self.received.append(
            {
                "from": envelope.mail_from,
                "to": list(envelope.rcpt_tos),
                "subject": str(parsed["Subject"] or ""),
                "message_id": str(parsed["Message-ID"] or ""),
                "list_unsubscribe": str(parsed["List-Unsubscribe"] or "") or None,
                "text": body.get_content() if body is not None else "",
                "html": html.get_content() if html is not None else None,
            }
        )
        return "250 Message accepted for delivery"


async def serve(mailbox: Mailbox, host: str, port: int) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: SMTP(mailbox, hostname="sandbox.switchboard", loop=loop), host, port)


class EmailControlController(Controller):
    path = "/_sandbox/email"

    @get("/messages")
    async def messages(self, state: State, to: str | None = None) -> dict[str, Any]:
        mailbox: Mailbox = state.mailbox
        found = [m for m in mailbox.received if to is None or to in m["to"]]
        return {"count": len(found), "messages": found}
