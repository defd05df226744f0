"""``POST /v1/messages`` served straight from ASGI: the hottest route without the framework's cost.

Tenant apps call this route more than all the others together, and Litestar's per-request work
(routing, the guard's copy of its handler, the signature model, the response object) is about a
third of a submission's CPU. :class:`SendRoute` wraps the Litestar application and answers exactly
``POST /v1/messages`` itself, through the same pieces the framework route uses: the one
:func:`~tenants.auth.authenticate`, :func:`messaging.service.submit_with_key`,
:func:`~messaging.controllers.sent_headers` and the problem table of :mod:`edge.rest`. It also saves
a pool checkout (the key is looked up on the connection the message is stored on) and, for a key
seen recently, the lookup itself: :class:`tenants.callers.Callers` remembers the caller and the
insert checks it is still current.

The Litestar handler (``MessageController.send_message``) stays the route's definition: the OpenAPI
document describes it, and it answers every request this path declines, with the body replayed:
one that is not a JSON ``SendMessage`` (so schema problems read as on every other route), a body
over the limit, or another content type. tests/e2e/test_send_route.py holds the two to the same
answers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import msgspec
from litestar import Litestar

from edge.rest import PROBLEM_JSON, domain_problem, unexpected_problem
from kernel.db import Pool
from kernel.errors import SwitchboardError
from messaging import service
from messaging.controllers import sent_headers
from messaging.schemas import SendMessage
from tenants.callers import Callers
from tenants.quotas import Quotas

__all__ = ["PATH", "SendRoute"]

PATH = "/v1/messages"

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_encode = msgspec.json.Encoder().encode
# strict=False as Litestar decodes a request body (numbers in strings, and so on, convert).
_decode = msgspec.json.Decoder(SendMessage, strict=False).decode


class SendRoute:
    """An ASGI app: ``POST /v1/messages`` here, everything else to ``app``."""

    def __init__(self, app: Litestar, max_body: int) -> None:
        self.app = app
        self._max_body = max_body

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            return await self.app(scope, receive, send)  # type: ignore[arg-type]
        headers = _headers(scope)
        if headers.get(b"content-type", b"application/json").split(b";")[0].strip() != b"application/json":
            return await self.app(scope, receive, send)  # type: ignore[arg-type]
        read = await _read(receive, self._max_body)
        if read is None:
            return None  # the client left before its body arrived: there is no one to answer
        body, more = read
        try:
            if len(body) > self._max_body:  # Litestar answers the 413, as on every route
                raise _Decline
            status, extra, payload = await self._submit(headers, body)
        except _Decline:
            return await self.app(scope, _replay(body, receive, more=more), send)  # type: ignore[arg-type]
        except SwitchboardError as error:
            status, extra, problem = domain_problem(error, PATH)
            return await _respond(send, status, PROBLEM_JSON, extra, _encode(problem))
        except Exception:
            status, problem = unexpected_problem(PATH)
            return await _respond(send, status, PROBLEM_JSON, {}, _encode(problem))
        return await _respond(send, status, "application/json", extra, payload)

    async def _submit(self, headers: dict[bytes, bytes], body: bytes) -> tuple[int, dict[str, str], bytes]:
        state = self.app.state
        db: Pool = state.pool
        quotas: Quotas | None = state.quotas
        callers: Callers = state.callers
        authorization = headers.get(b"authorization")
        key = headers.get(b"idempotency-key")

        def request() -> SendMessage:
            # Decoded once the caller is known, as the framework route's guard authenticates first.
            try:
                return _decode(body)
            except (msgspec.ValidationError, msgspec.DecodeError):
                raise _Decline from None

        async with db.acquire() as conn:
            sent = await service.submit_with_key(
                conn,
                callers,
                authorization.decode("latin-1") if authorization is not None else None,
                request,
                key.decode("latin-1") if key is not None else None,
                quotas,
            )
        return 202, sent_headers(sent), _encode(sent.message)


class _Decline(Exception):
    """The framework route answers this request instead (see the module docstring)."""


def _headers(scope: Message) -> dict[bytes, bytes]:
    """The request's headers by lower-case name; the first of a repeated header wins."""
    found: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        found.setdefault(name.lower(), value)
    return found


async def _read(receive: Receive, limit: int) -> tuple[bytes, bool] | None:
    """The body, read until it ends or passes ``limit``, and whether more of it is still unread;
    None when the client left first."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk: bytes = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        more: bool = message.get("more_body", False)
        if not more or size > limit:
            return b"".join(chunks), more


def _replay(body: bytes, receive: Receive, *, more: bool) -> Receive:
    """``receive`` with what was already read given back first."""
    given = False

    async def replayed() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": more}
        return await receive()

    return replayed


async def _respond(send: Send, status: int, media_type: str, headers: dict[str, str], body: bytes) -> None:
    raw = [(b"content-type", media_type.encode()), (b"content-length", str(len(body)).encode())]
    raw.extend((name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items())
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
