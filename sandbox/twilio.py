"""Twilio's Messages resource, as the SMS channel calls it, with Twilio's errors and its signed
status callbacks.

``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` takes a form (``To``, ``From`` or
``MessagingServiceSid``, ``Body``, ``StatusCallback``) with HTTP Basic auth (account SID and auth
token), and answers ``201`` with the message resource, or Twilio's error body
(``{"code", "message", "more_info", "status"}``). Accepted messages then report ``sent`` and
``delivered`` (or ``undelivered`` with an ``ErrorCode``) to their ``StatusCallback``, signed with
``X-Twilio-Signature`` as Twilio signs them.

Accounts are registered with ``PUT /_sandbox/twilio/accounts/{sid}`` (``{"auth_token": ...}``), as
if created in Twilio's console. The recipient's last four digits choose the outcome:

| suffix | outcome |
| --- | --- |
| ``2121`` | HTTP 400, error 21211 (invalid 'To' number) |
| ``1614`` | HTTP 400, error 21614 (not a mobile number) |
| ``1610`` | HTTP 400, error 21610 (the recipient replied STOP) |
| ``0429`` | HTTP 429, error 20429 (too many requests) |
| ``0503`` | HTTP 503 (service unavailable) |
| ``3003`` | accepted, then ``undelivered`` with 30003 (unreachable handset) |
| ``0504`` | accepted at once, answered ``SLOW_SECONDS`` late: a caller that dies meanwhile never learns the SID |
| ``0408`` | answered ``SLOW_SECONDS`` late, accepted only if the caller is still there: a hang-up sends nothing |
| anything else | accepted, then ``sent`` → ``delivered`` |

``SLOW_SECONDS`` is ``SWITCHBOARD_SANDBOX_SLOW_SECONDS``, as for the WhatsApp sandbox.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import logging
import secrets
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import aiohttp
import msgspec
from litestar import Controller, Request, Response, get, post, put
from litestar.datastructures import State

from messaging.sms_text import encode_info
from sandbox.scripts import hangs_up_within
from webhooks.twilio import sign

__all__ = ["TwilioControlController", "TwilioController", "TwilioState"]

log = logging.getLogger("switchboard.sandbox.twilio")

API = "https://api.twilio.com"


@dataclass(frozen=True, slots=True)
class _Failure:
    http_status: int
    code: int
    message: str


_SYNC = {
    "2121": _Failure(400, 21211, "The 'To' number is not a valid phone number."),
    "1614": _Failure(400, 21614, "'To' number is not a valid mobile number"),
    "1610": _Failure(400, 21610, "Attempt to send to unsubscribed recipient"),
    "0429": _Failure(429, 20429, "Too Many Requests"),
    "0503": _Failure(503, 20503, "Service Unavailable"),
}
_UNDELIVERED = {"3003": 30003}


@dataclass
class TwilioState:
    status_delays: tuple[float, float]  # sent, delivered (seconds after acceptance)
    slow_seconds: float = 5.0
    accounts: dict[str, str] = field(default_factory=dict)  # account SID -> auth token
    by_recipient: Counter[str] = field(default_factory=Counter)
    sent: list[dict[str, str]] = field(default_factory=list)  # every accepted message's parameters
    _callbacks: set[asyncio.Task[None]] = field(default_factory=set)


class AccountIn(msgspec.Struct):
    auth_token: str


def _error(failure: _Failure) -> Response[Any]:
    return Response(
        {
            "code": failure.code,
            "message": failure.message,
            "more_info": f"https://www.twilio.com/docs/errors/{failure.code}",
            "status": failure.http_status,
        },
        status_code=failure.http_status,
    )


def _authenticated(request: Request[Any, Any, Any], twilio: TwilioState, account_sid: str) -> bool:
    header = request.headers.get("authorization", "")
    if not header.startswith("Basic "):
        return False
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    token = twilio.accounts.get(account_sid)
    return token is not None and user == account_sid and hmac.compare_digest(password, token)


def segments(body: str) -> int:
    """Twilio's segment count (GSM-7 when every character fits it, else UCS-2)."""
    return encode_info(body).segments


async def _callback(url: str, token: str, delay: float, params: dict[str, str], session: aiohttp.ClientSession) -> None:
    await asyncio.sleep(delay)
    signature = sign(token, url, {k: [v] for k, v in params.items()})
    for attempt in range(5):  # Twilio retries a callback that fails to connect
        try:
            async with session.post(url, data=params, headers={"X-Twilio-Signature": signature}) as response:
                if response.status < 500:
                    return
        except (aiohttp.ClientError, TimeoutError):
            pass
        await asyncio.sleep(0.5 * 2**attempt)
    log.warning("status callback dropped", extra={"fields": {"url": url}})


class TwilioController(Controller):
    path = "/2010-04-01/Accounts"

    @get("/{resource:str}")
    async def fetch_account(self, resource: str, request: Request[Any, Any, Any], state: State) -> Response[Any]:
        """Twilio's account resource (``/Accounts/{sid}.json``): what a credential check reads."""
        account_sid = resource.removesuffix(".json")
        twilio: TwilioState = state.twilio
        if not _authenticated(request, twilio, account_sid):
            return _error(_Failure(401, 20003, "Authenticate"))
        return Response({"sid": account_sid, "status": "active", "type": "Full", "friendly_name": "Sandbox"})

    @post("/{account_sid:str}/Messages.json", status_code=201)
    async def create_message(self, account_sid: str, request: Request[Any, Any, Any], state: State) -> Response[Any]:
        twilio: TwilioState = state.twilio
        if not _authenticated(request, twilio, account_sid):
            return _error(_Failure(401, 20003, "Authenticate"))
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode(), keep_blank_values=True).items()}
        to, body = form.get("To", ""), form.get("Body", "")
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return _error(_Failure(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required."))
        if not body:
            return _error(_Failure(400, 21602, "Message body is required."))
        if not to.startswith("+") or not to[1:].isdigit():
            return _error(_SYNC["2121"])
        failure = _SYNC.get(to[-4:])
        if failure is not None:
            return _error(failure)
        if to.endswith("0408") and await hangs_up_within(request, twilio.slow_seconds):
            return Response(None, status_code=499)  # nobody is listening; nothing was sent
        response = _accept(twilio, state.twilio_http, account_sid, form)
        if to.endswith("0504"):
            await asyncio.sleep(twilio.slow_seconds)
        return response


def _accept(
    twilio: TwilioState, session: aiohttp.ClientSession, account_sid: str, form: dict[str, str]
) -> Response[Any]:
    """Keep the message, schedule its status callbacks, and answer with its resource."""
    to, body = form["To"], form["Body"]
    sid = "SM" + secrets.token_hex(16)
    twilio.by_recipient[to] += 1
    twilio.sent.append({**form, "Sid": sid})
    callback = form.get("StatusCallback")
    if callback:
        base = {"MessageSid": sid, "SmsSid": sid, "AccountSid": account_sid, "To": to, "From": form.get("From", "")}
        token = twilio.accounts[account_sid]
        sent_after, delivered_after = twilio.status_delays
        steps = [(sent_after, {"MessageStatus": "sent", "SmsStatus": "sent"})]
        code = _UNDELIVERED.get(to[-4:])
        if code is not None:
            steps.append((delivered_after, {"MessageStatus": "undelivered", "ErrorCode": str(code)}))
        else:
            steps.append((delivered_after, {"MessageStatus": "delivered", "SmsStatus": "delivered"}))
        for delay, extra in steps:
            task = asyncio.create_task(_callback(callback, token, delay, {**base, **extra}, session))
            twilio._callbacks.add(task)
            task.add_done_callback(twilio._callbacks.discard)
    return Response(
        {
            "sid": sid,
            "account_sid": account_sid,
            "to": to,
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "body": body,
            "status": "queued",
            "num_segments": str(segments(body)),
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json",
        },
        status_code=201,
    )


class TwilioControlController(Controller):
    path = "/_sandbox/twilio"

    @put("/accounts/{account_sid:str}", status_code=200)
    async def register(self, account_sid: str, data: AccountIn, state: State) -> dict[str, Any]:
        state.twilio.accounts[account_sid] = data.auth_token
        return {"registered": True, "account_sid": account_sid}

    @get("/messages")
    async def messages(self, state: State, to: str | None = None) -> dict[str, Any]:
        twilio: TwilioState = state.twilio
        sent = [m for m in twilio.sent if to is None or m.get("To") == to]
        return {"count": len(sent), "messages": sent}


async def close(state: TwilioState) -> None:
    for task in list(state._callbacks):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
