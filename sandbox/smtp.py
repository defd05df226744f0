"""A real SMTP server (aiosmtpd) that keeps what it receives, for development and tests.

It listens on ``SWITCHBOARD_SANDBOX_SMTP_PORT`` (8025) without TLS or authentication (email
credentials pointing at it use ``"tls": "none"``). ``GET /_sandbox/email/messages?to=`` lists
what arrived. The recipient's local part (before any ``+tag``) chooses the outcome:

| local part | outcome |
| --- | --- |
| ``bounce`` | ``550 5.1.1`` at RCPT: no such mailbox (a hard bounce) |
| ``busy`` | ``451 4.3.0`` at RCPT: try again later |
| ``bounce-later`` | accepted, then an ``email.bounced`` (hard, 550) event |
| ``softbounce`` | accepted, then an ``email.bounced`` (soft, 452) event |
| ``complain`` | accepted, ``email.delivered``, then an ``email.complained`` event |
| ``slow`` | kept and reported at once, answered ``SLOW_SECONDS`` late: a client that dies meanwhile never hears 250 |
| ``slow-drop`` | answered ``SLOW_SECONDS`` late, kept only if the client is still there: a hang-up delivers nothing |
| anything else | accepted and kept, then an ``email.delivered`` event |

``SLOW_SECONDS`` is ``SWITCHBOARD_SANDBOX_SLOW_SECONDS``, as for the WhatsApp and Twilio sandboxes.

Events (:mod:`webhooks.mail_events`) go, signed per Standard Webhooks, to the URL registered for the
envelope sender with ``PUT /_sandbox/email/senders/{address}`` (``{"webhook_url", "webhook_secret"}``),
as a mail provider's dashboard would configure them; mail from an unregistered sender has none.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from typing import Any

import aiohttp
import msgspec
from aiosmtpd.smtp import SMTP, Envelope, Session
from litestar import Controller, get, put
from litestar.datastructures import State

from kernel import standard_webhooks
from webhooks import mail_events

__all__ = ["EmailControlController", "Mailbox", "serve"]

log = logging.getLogger("switchboard.sandbox.smtp")

_REFUSALS = {"bounce": "550 5.1.1 No such user here", "busy": "451 4.3.0 Mailbox busy, try again later"}
_BOUNCES = {
    "bounce-later": mail_events.Bounce(type="hard", code=550, message="5.1.1 mailbox does not exist"),
    "softbounce": mail_events.Bounce(type="soft", code=452, message="4.2.2 mailbox full"),
}
EVENT_DELAY = 0.2  # seconds after acceptance, as providers report a little later
MAX_TRIES = 5


def _local_part(address: str) -> str:
    """``Bounce-Later+tag@example.com`` → ``bounce-later``: a tag keeps test addresses apart."""
    return address.partition("@")[0].partition("+")[0].lower()


class Hook(msgspec.Struct, frozen=True):
    webhook_url: str
    webhook_secret: str


@dataclass
class Mailbox:
    received: list[dict[str, Any]] = field(default_factory=list)
    hooks: dict[str, Hook] = field(default_factory=dict)  # envelope sender → where its events go
    events_posted: int = 0
    slow_seconds: float = 5.0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _http: aiohttp.ClientSession | None = None  # one for all event posts, made on first use

    def _events(self, recipient: str, message_id: str) -> list[mail_events.Event]:
        local = _local_part(recipient)
        now = datetime.now(UTC)
        bounce = _BOUNCES.get(local)
        data = mail_events.Data(message_id=message_id, to=[recipient], bounce=bounce)
        if bounce is not None:
            return [mail_events.Event(mail_events.BOUNCED, data, now)]
        events = [mail_events.Event(mail_events.DELIVERED, data, now)]
        if local == "complain":
            events.append(mail_events.Event(mail_events.COMPLAINED, data, now))
        return events

    def _report(self, hook: Hook, events: list[mail_events.Event]) -> None:
        task = asyncio.create_task(self._post(hook, events))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post(self, hook: Hook, events: list[mail_events.Event]) -> None:
        await asyncio.sleep(EVENT_DELAY)
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        for event in events:
            body = mail_events.encode(event)
            # One webhook-id per event, the same on every retry (the receiver's idempotency key).
            msg_id = "msg_" + secrets.token_hex(12)
            for attempt in range(MAX_TRIES):
                headers = standard_webhooks.headers([hook.webhook_secret], msg_id, body)
                headers["content-type"] = "application/json"
                try:
                    async with self._http.post(hook.webhook_url, data=body, headers=headers) as response:
                        if response.status < 300:
                            self.events_posted += 1
                            break
                except aiohttp.ClientError as error:
                    log.info("email event post failed", extra={"fields": {"error": str(error)}})
                await asyncio.sleep(0.5 * 2**attempt)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._http is not None:
            await self._http.close()

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook names)
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        refusal = _REFUSALS.get(_local_part(address))
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        scripted = {_local_part(address) for address in envelope.rcpt_tos}
        if "slow-drop" in scripted:
            # aiosmtpd cancels this handler when the client hangs up: then nothing is kept.
            await asyncio.sleep(self.slow_seconds)
        self._keep(envelope)
        if "slow" in scripted:
            await asyncio.sleep(self.slow_seconds)
        return "250 Message accepted for delivery"

    def _keep(self, envelope: Envelope) -> None:
        raw = envelope.original_content or envelope.content or b""
        parsed = message_from_bytes(raw if isinstance(raw, bytes) else raw.encode(), policy=policy.default)
        body = parsed.get_body(("plain",))
        html = parsed.get_body(("html",))
        message_id = str(parsed["Message-ID"] or "")
        hook = self.hooks.get((envelope.mail_from or "").lower())
        if hook is not None and message_id:
            for recipient in envelope.rcpt_tos:
                self._report(hook, self._events(recipient, message_id))
        self.received.append(
            {
                "from": envelope.mail_from,
                "to": list(envelope.rcpt_tos),
                "subject": str(parsed["Subject"] or ""),
                "message_id": message_id,
                "list_unsubscribe": str(parsed["List-Unsubscribe"] or "") or None,
                "text": body.get_content() if body is not None else "",
                "html": html.get_content() if html is not None else None,
            }
        )


async def serve(mailbox: Mailbox, host: str, port: int) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: SMTP(mailbox, hostname="sandbox.switchboard", loop=loop), host, port)


class EmailControlController(Controller):
    path = "/_sandbox/email"

    @put("/senders/{address:str}", status_code=200)
    async def register(self, address: str, data: Hook, state: State) -> dict[str, Any]:
        mailbox: Mailbox = state.mailbox
        mailbox.hooks[address.lower()] = data
        return {"registered": True, "address": address}

    @get("/messages")
    async def messages(self, state: State, to: str | None = None) -> dict[str, Any]:
        mailbox: Mailbox = state.mailbox
        found = [m for m in mailbox.received if to is None or to in m["to"]]
        return {"count": len(found), "messages": found}
