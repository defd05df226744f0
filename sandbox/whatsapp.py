"""A WhatsApp Cloud API emulator: Meta's request validation, response and error bodies.

Control endpoints under ``/_sandbox`` stand in for Meta's app dashboard (register a phone number
with its token, app secret and webhook URL) and let tests read what was sent.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import msgspec
from litestar import Controller, Request, Response, get, post, put
from litestar.datastructures import State

from sandbox.scripts import (
    ASYNC_FAILURES,
    OUTAGE_FAILURES,
    RATE_LIMITED,
    SYNC_FAILURES,
    MetaFailure,
    Script,
    hangs_up_within,
    script_for,
)
from sandbox.webhooks import Dispatcher, PendingStatus

__all__ = ["CloudApiController", "ControlController", "SandboxState"]


class PhoneNumberIn(msgspec.Struct, forbid_unknown_fields=True):
    access_token: str
    app_secret: str
    webhook_url: str
    verify_token: str | None = None
    display_phone_number: str = "15550000000"
    # Messages/s this number may send, as Meta enforces it (130429 beyond); None: no limit.
    throughput_mps: int | None = None


class OutageIn(msgspec.Struct, forbid_unknown_fields=True):
    code: int
    seconds: float


PAYLOADS_KEPT = 10_000


@dataclass
class SandboxState:
    status_delays: tuple[float, float, float]  # sent, delivered, read (seconds after acceptance)
    slow_seconds: float
    numbers: dict[str, PhoneNumberIn] = field(default_factory=dict)
    dispatcher: Dispatcher = field(default_factory=Dispatcher)
    accepted: int = 0
    by_tracker: Counter[str] = field(default_factory=Counter)
    by_recipient: Counter[str] = field(default_factory=Counter)
    # The last accepted request body per tracker, so tests can see exactly what reached "Meta"
    # (bounded: oldest first out).
    last_payload: dict[str, Any] = field(default_factory=dict)
    # Sends per one-second window, to report any window over a number's limit (bench use).
    per_second: Counter[tuple[str, int]] = field(default_factory=Counter)
    over_limit: Counter[str] = field(default_factory=Counter)  # sends refused with 130429, per number
    # An outage per number: until when (monotonic) every send is refused, and with what.
    outages: dict[str, tuple[float, MetaFailure]] = field(default_factory=dict)
    refused_in_outage: Counter[str] = field(default_factory=Counter)


def meta_error(
    status: int, code: int, message: str, *, kind: str = "OAuthException", details: str | None = None
) -> Response[Any]:
    error: dict[str, Any] = {"message": message, "type": kind, "code": code, "fbtrace_id": secrets.token_urlsafe(12)}
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return Response({"error": error}, status_code=status)


def _invalid(message: str) -> Response[Any]:
    return meta_error(400, 100, f"(#100) {message}", details=message)


def _validate(payload: Any) -> str | None:
    """Meta's checks on a send request; returns the problem, or None."""
    if not isinstance(payload, dict):
        return "Invalid parameter"
    if payload.get("messaging_product") != "whatsapp":
        return "The parameter messaging_product is required."
    to = payload.get("to")
    if not isinstance(to, str) or not to.lstrip("+").isdigit():
        return "The parameter to is required."
    kind = payload.get("type", "text")
    if kind == "text":
        body = (payload.get("text") or {}).get("body")
        if not isinstance(body, str) or not body:
            return "The parameter text['body'] is required."
        if len(body) > 4096:
            return "Param text['body'] must be at most 4096 characters long."
    elif kind == "template":
        template = payload.get("template") or {}
        if not template.get("name"):
            return "The parameter template['name'] is required."
        if not (template.get("language") or {}).get("code"):
            return "The parameter template['language']['code'] is required."
    else:
        return f"Unsupported message type {kind!r} in this sandbox."
    return None


def _status(wamid: str, status: str, recipient: str, tracker: str | None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": wamid,
        "status": status,
        "timestamp": str(int(time.time())),
        "recipient_id": recipient,
    }
    if tracker:
        body["biz_opaque_callback_data"] = tracker
    body.update(extra)
    return body


def _template_category(state: State, payload: dict[str, Any]) -> str | None:
    """The category (lowercase, as pricing reports it) of the template the payload sends, as
    registered in this sandbox (``utility`` if it is not); None for anything but a template."""
    if payload.get("type") != "template":
        return None
    name = payload.get("template", {}).get("name")
    for templates in state.templates.by_waba.values():
        for template in templates:
            if template.get("name") == name and template.get("category"):
                return str(template["category"]).lower()
    return "utility"


class CloudApiController(Controller):
    path = "/"

    @post("/{version:str}/{phone_number_id:str}/messages", status_code=200)
    async def send(
        self, version: str, phone_number_id: str, request: Request[Any, Any, Any], state: State
    ) -> Response[Any]:
        sandbox: SandboxState = state.sandbox
        number = sandbox.numbers.get(phone_number_id)
        if number is None:
            return meta_error(
                400,
                100,
                f"Unsupported post request. Object with ID '{phone_number_id}' does not exist, cannot be loaded due to "
                "missing permissions, or does not support this operation.",
                kind="GraphMethodException",
            )
        auth = request.headers.get("authorization", "")
        if not hmac.compare_digest(auth, f"Bearer {number.access_token}"):
            return meta_error(401, 190, "Invalid OAuth access token - Cannot parse access token")
        try:
            payload = json.loads(await request.body())
        except ValueError:
            return _invalid("Invalid JSON")
        problem = _validate(payload)
        if problem:
            return _invalid(problem)
        recipient = payload["to"].lstrip("+")
        script = script_for(recipient)
        failure = SYNC_FAILURES.get(script) or self._outage(sandbox, phone_number_id)
        if failure is not None:
            return meta_error(failure.http_status, failure.code, failure.message)
        if number.throughput_mps is not None:
            window = (phone_number_id, int(time.time()))
            if sandbox.per_second[window] >= number.throughput_mps:
                sandbox.over_limit[phone_number_id] += 1
                return meta_error(RATE_LIMITED.http_status, RATE_LIMITED.code, RATE_LIMITED.message)
        if script is Script.SLOW_DROP and await hangs_up_within(request, sandbox.slow_seconds):
            return Response(None, status_code=499)  # nobody is listening; nothing was sent
        category = _template_category(state, payload)
        if script is Script.STOPPED_MARKETING and category != "marketing":
            script = Script.NORMAL  # only marketing is refused to someone who stopped marketing
        response = self._accept(sandbox, phone_number_id, number, recipient, payload, script, category)
        if script is Script.SLOW:
            await asyncio.sleep(sandbox.slow_seconds)
        return response

    @staticmethod
    def _outage(sandbox: SandboxState, phone_number_id: str) -> MetaFailure | None:
        outage = sandbox.outages.get(phone_number_id)
        if outage is None or outage[0] <= time.monotonic():
            return None
        sandbox.refused_in_outage[phone_number_id] += 1
        return outage[1]

    @staticmethod
    def _accept(
        sandbox: SandboxState,
        phone_number_id: str,
        number: PhoneNumberIn,
        recipient: str,
        payload: dict[str, Any],
        script: Script,
        category: str | None,
    ) -> Response[Any]:
        wamid = "wamid." + secrets.token_urlsafe(30)
        tracker = payload.get("biz_opaque_callback_data")
        sandbox.accepted += 1
        sandbox.by_tracker[tracker or ""] += 1
        if tracker:
            if len(sandbox.last_payload) >= PAYLOADS_KEPT:
                del sandbox.last_payload[next(iter(sandbox.last_payload))]
            sandbox.last_payload[tracker] = payload
        sandbox.by_recipient[recipient] += 1
        sandbox.per_second[(phone_number_id, int(time.time()))] += 1
        is_template = payload.get("type") == "template"
        now = time.monotonic()

        def schedule(delay: float, status: dict[str, Any]) -> None:
            sandbox.dispatcher.schedule(
                PendingStatus(
                    now + delay,
                    number.webhook_url,
                    number.app_secret,
                    phone_number_id,
                    number.display_phone_number,
                    status,
                )
            )

        failure = ASYNC_FAILURES.get(script)
        if script is Script.WINDOW_CLOSED and is_template:
            failure = None
        if failure is not None:
            code, title, details = failure
            error = {
                "code": code,
                "title": title,
                "message": title,
                "error_data": {"details": details},
                "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
            }
            schedule(sandbox.status_delays[0], _status(wamid, "failed", recipient, tracker, errors=[error]))
        else:
            pricing = {
                "billable": is_template,
                "pricing_model": "PMP",
                "type": "regular" if is_template else "free_customer_service",
                "category": category or "service",
            }
            sent, delivered, read = sandbox.status_delays
            schedule(sent, _status(wamid, "sent", recipient, tracker, pricing=pricing))
            if script is not Script.NEVER_DELIVERED:
                schedule(delivered, _status(wamid, "delivered", recipient, tracker, pricing=pricing))
                schedule(read, _status(wamid, "read", recipient, tracker))
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "contacts": [{"input": payload["to"], "wa_id": recipient}],
            "messages": [{"id": wamid, **({"message_status": "accepted"} if is_template else {})}],
        }
        return Response(body, status_code=200)


class ControlController(Controller):
    path = "/_sandbox"

    @put("/whatsapp/phone_numbers/{phone_number_id:str}", status_code=200)
    async def register(self, phone_number_id: str, data: PhoneNumberIn, state: State) -> dict[str, Any]:
        """Register a number as Meta's dashboard would; with a verify token, run the handshake first."""
        if data.verify_token:
            challenge = secrets.token_hex(8)
            params = {"hub.mode": "subscribe", "hub.verify_token": data.verify_token, "hub.challenge": challenge}
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
                session.get(data.webhook_url, params=params) as response,
            ):
                echoed = await response.text()
            if response.status != 200 or echoed != challenge:
                return {"registered": False, "reason": f"webhook verification failed ({response.status})"}
        state.sandbox.numbers[phone_number_id] = data
        return {"registered": True, "phone_number_id": phone_number_id}

    @put("/whatsapp/phone_numbers/{phone_number_id:str}/outage", status_code=200)
    async def outage(self, phone_number_id: str, data: OutageIn, state: State) -> dict[str, Any]:
        """Refuse every send from this number for ``seconds`` with one of Meta's transient errors
        (130429 throughput, 131057 maintenance, 2 service unavailable), then recover."""
        failure = OUTAGE_FAILURES.get(data.code)
        if failure is None:
            return {"scheduled": False, "reason": f"code must be one of {sorted(OUTAGE_FAILURES)}"}
        sandbox: SandboxState = state.sandbox
        sandbox.outages[phone_number_id] = (time.monotonic() + data.seconds, failure)
        return {"scheduled": True, "phone_number_id": phone_number_id, "code": data.code, "seconds": data.seconds}

    @get("/whatsapp/sends")
    async def sends(self, state: State, tracker: str | None = None, to: str | None = None) -> dict[str, Any]:
        sandbox: SandboxState = state.sandbox
        if tracker is not None:
            return {
                "tracker": tracker,
                "count": sandbox.by_tracker[tracker],
                "last_payload": sandbox.last_payload.get(tracker),
            }
        if to is not None:
            return {"to": to, "count": sandbox.by_recipient[to.lstrip("+")]}
        return {"count": sandbox.accepted}

    @get("/whatsapp/phone_numbers/{phone_number_id:str}/stats")
    async def number_stats(self, phone_number_id: str, state: State) -> dict[str, Any]:
        """What one number sent: per one-second window, the busiest, and refusals over its limit."""
        sandbox: SandboxState = state.sandbox
        windows = {second: n for (number, second), n in sandbox.per_second.items() if number == phone_number_id}
        return {
            "phone_number_id": phone_number_id,
            "sent": sum(windows.values()),
            "max_per_second": max(windows.values(), default=0),
            "refused_over_limit": sandbox.over_limit[phone_number_id],
            "refused_in_outage": sandbox.refused_in_outage[phone_number_id],
            "per_second": [[second, windows[second]] for second in sorted(windows)],
        }

    @get("/stats")
    async def stats(self, state: State) -> dict[str, Any]:
        sandbox: SandboxState = state.sandbox
        return {
            "accepted": sandbox.accepted,
            # Messages (by our tracker) the sandbox accepted more than once: double sends.
            "sent_twice": sum(1 for tracker, n in sandbox.by_tracker.items() if tracker and n > 1),
            "webhook_posts": sandbox.dispatcher.posts,
            "webhook_statuses": sandbox.dispatcher.statuses,
            "webhook_failures": sandbox.dispatcher.failures,
            "pending_statuses": sandbox.dispatcher.pending,
            "max_per_second": max(sandbox.per_second.values(), default=0),
        }
