"""The reference handler for the submission benchmark: Switchboard's submit SQL, no framework.

A bare ASGI app served by the same uvicorn setup as ``switchboard api``. Per request it does what
the real submit path does against the database, and nothing else: look the API key up by prefix and
compare its hash, resolve the default sender and its template in one query, and run the same single-statement
insert (message + audit event + outbox row + NOTIFY). The ratio of Switchboard's throughput to this
one is the cost of everything else (Litestar, validation, msgspec schemas, error mapping, the service
layer).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import uuid
from typing import Any

import asyncpg
import msgspec

from kernel import db
from messaging.repository import NewMessage, insert_messages  # the very statement the service runs
from tenants.repository import ROUTE

AUTH = (
    "SELECT k.id, k.tenant_id, k.secret_hash, t.status AS tenant_status FROM api_keys k "
    "JOIN tenants t ON t.id = k.tenant_id WHERE k.prefix = $1 AND k.revoked_at IS NULL"
)
_pool: asyncpg.Pool[asyncpg.Record] | None = None


async def _respond(send: Any, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    global _pool
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                _pool = await db.create_pool(os.environ["REFERENCE_DSN"], min_size=2, max_size=16)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if _pool is not None:
                    await _pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    assert _pool is not None
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    headers = dict(scope["headers"])
    key = headers.get(b"authorization", b"").decode().removeprefix("Bearer ")
    request = msgspec.json.decode(body)
    async with _pool.acquire() as conn:
        row = await conn.fetchrow(AUTH, key.split("_")[1])
        if row is None or not hmac.compare_digest(hashlib.sha256(key.encode()).digest(), row["secret_hash"]):
            await _respond(send, 401, b"{}")
            return
        tenant_id = row["tenant_id"]
        template = request["template"]
        sender = await conn.fetchrow(ROUTE, tenant_id, None, template["name"], template["language"])
        assert sender is not None and sender["t_id"] is not None
        (created,) = await insert_messages(
            conn,
            tenant_id,
            [
                NewMessage(
                    id=uuid.uuid4(),
                    idempotency_key=None,
                    request_hash=hashlib.sha256(body).digest(),
                    sender_id=sender["id"],
                    sender_phone_number_id=sender["phone_number_id"],
                    to_number=request["to"],
                    content={"type": "template", "template": template},
                )
            ],
        )
    await _respond(send, 202, msgspec.json.encode({"id": str(created["id"]), "status": "queued"}))
