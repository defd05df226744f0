"""``Idempotency-Key`` for REST POSTs that create (the IETF httpapi draft's semantics, as Stripe's).

* the same key with the same request within 24 hours: the stored response is replayed (status and
  body, header ``Idempotent-Replayed: true``), nothing is created again;
* the same key with another request (method, path or body): 422, field ``Idempotency-Key``;
* the same key while the first request is still running: 409 with ``Retry-After: 1``.

A response of 5xx is not kept, so the request may be retried. The stored body is sealed with the
tenant's data key, since a creation's answer may carry a secret shown once (a webhook endpoint's
signing secret). The record is written apart from the handler's own transaction: if the process
dies between the two, the key stays "in flight" for :data:`ABANDONED_AFTER` and a retry after that
runs the request again. Messages do not use this: their key lives in the message's own row, written
in the same statement, so a message is never created twice whatever happens (see messaging.service).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta
from uuid import UUID

import msgspec
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import (
    ASGIApp,
    HTTPDisconnectEvent,
    HTTPReceiveMessage,
    HTTPRequestEvent,
    Message,
    Receive,
    Scope,
    Send,
)

from edge import idempotency_records as records
from edge.rest import problem_body
from kernel.db import Pool
from kernel.errors import ErrorKind, SwitchboardError
from tenants.auth import authenticate
from tenants.vault import Vault

__all__ = ["ABANDONED_AFTER", "WINDOW", "IdempotentCreate", "purge"]

WINDOW = timedelta(hours=24)
ABANDONED_AFTER = timedelta(seconds=60)
MAX_KEY = 255
KIND = "idempotency"


def _problem(kind: ErrorKind, detail: str, field: str | None = None) -> bytes:
    body = problem_body(kind, detail)
    if field:
        body["errors"] = [{"field": field, "rule": "reused", "description": detail}]
    return msgspec.json.encode(body)


async def _answer(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class IdempotentCreate(ASGIMiddleware):
    """Put on a creating POST handler: ``@post(..., middleware=[IdempotentCreate()])``."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        key = headers.get("idempotency-key")
        if key is None:
            await next_app(scope, receive, send)
            return
        app = scope["litestar_app"]
        pool: Pool = app.state.pool
        vault: Vault = app.state.vault
        try:
            principal = await authenticate(pool, headers.get("authorization"))
        except SwitchboardError:
            await next_app(scope, receive, send)  # the guard answers 401, as without a key
            return
        scope.setdefault("state", {})["principal"] = principal  # the guard need not authenticate again
        problem = [(b"content-type", b"application/problem+json")]
        if not 0 < len(key) <= MAX_KEY or not key.isprintable():
            detail = f"Idempotency-Key: 1 to {MAX_KEY} printable characters"
            await _answer(send, 422, _problem(ErrorKind.INVALID, detail, "Idempotency-Key"), problem)
            return

        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        method = scope.get("method", "POST")
        fingerprint = hashlib.sha256(f"{method} {scope['path']}\n".encode() + body).digest()
        record_id = uuid.uuid4()
        claimed = await records.claim(
            pool, principal.tenant_id, key, fingerprint, record_id, window=WINDOW, abandoned_after=ABANDONED_AFTER
        )
        if not claimed:
            await self._existing(send, pool, vault, principal.tenant_id, key, fingerprint)
            return

        replayed = False

        async def replay_body() -> HTTPReceiveMessage:
            nonlocal replayed
            if replayed:
                return HTTPDisconnectEvent(type="http.disconnect")
            replayed = True
            return HTTPRequestEvent(type="http.request", body=body, more_body=False)

        status = 500
        response_headers: list[tuple[bytes, bytes]] = []
        out: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal status, response_headers
            if message["type"] == "http.response.start":
                status = message["status"]
                response_headers = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                out.append(message.get("body", b""))
            await send(message)

        try:
            await next_app(scope, replay_body, capture)
        finally:
            if status >= 500:
                await records.forget(pool, principal.tenant_id, record_id)
            else:
                content_type = next((v.decode() for k, v in response_headers if k.lower() == b"content-type"), "")
                async with pool.acquire() as conn:
                    sealed = await vault.seal(
                        conn,
                        principal.tenant_id,
                        KIND,
                        record_id,
                        {"body": b"".join(out).decode("utf-8", "replace"), "content_type": content_type},
                    )
                    await records.store(conn, principal.tenant_id, record_id, status, sealed)

    async def _existing(
        self, send: Send, pool: Pool, vault: Vault, tenant_id: UUID, key: str, fingerprint: bytes
    ) -> None:
        problem = [(b"content-type", b"application/problem+json")]
        row = await records.find(pool, tenant_id, key)
        if row is None:  # released between our claim and this read: rare; let the client retry
            await _answer(
                send, 409, _problem(ErrorKind.CONFLICT, "retry the request"), [*problem, (b"retry-after", b"1")]
            )
            return
        if row["fingerprint"] != fingerprint:
            detail = "Idempotency-Key: this key was already used with a different request"
            await _answer(send, 422, _problem(ErrorKind.INVALID, detail, "Idempotency-Key"), problem)
            return
        if row["state"] == "in_flight":
            detail = "a request with this Idempotency-Key is still being processed; retry shortly"
            await _answer(send, 409, _problem(ErrorKind.CONFLICT, detail), [*problem, (b"retry-after", b"1")])
            return
        stored = await vault.open(pool, tenant_id, KIND, row["id"], row["sealed_response"])
        headers = [(b"idempotent-replayed", b"true")]
        if stored["content_type"]:
            headers.append((b"content-type", stored["content_type"].encode()))
        await _answer(send, row["status_code"], stored["body"].encode(), headers)


async def purge(pool: Pool) -> int:
    """Delete records past the window (the relay runs this hourly)."""
    return await records.purge_older_than(pool, WINDOW)
