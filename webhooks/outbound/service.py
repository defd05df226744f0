"""Partner webhook endpoints: register, change, rotate the secret, read the delivery log, resend
one event, recover everything failed since a time, send a test event.

Secrets (``whsec_...``) are sealed with the tenant's data key and shown once: at creation and at
rotation. Another tenant's endpoint answers exactly like an unknown one.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg

from kernel import standard_webhooks
from kernel.db import Connection
from kernel.errors import InvalidInput, NotFound
from kernel.pagination import MAX_PAGE
from tenants.vault import Vault
from webhooks.outbound import repository
from webhooks.outbound.models import EVENT_TYPES
from webhooks.outbound.schemas import (
    AttemptView,
    DeliveryList,
    DeliveryView,
    EndpointUpdate,
    EndpointView,
    NewEndpoint,
    SecretRotated,
)
from webhooks.outbound.ssrf import UnsafeUrl, check_url

__all__ = [
    "KIND",
    "create_endpoint",
    "delete_endpoint",
    "get_endpoint",
    "list_deliveries",
    "list_endpoints",
    "new_event_id",
    "recover",
    "resend",
    "rotate_secret",
    "send_test_event",
    "update_endpoint",
    "view",
]

KIND = "webhook_endpoint"  # the vault's associated data: a sealed secret opens only on its own row
MAX_DESCRIPTION = 500
DELIVERY_STATUSES = ("pending", "succeeded", "failed")
MAX_OVERLAP = timedelta(hours=168)


def new_event_id() -> str:
    return "msg_" + uuid.uuid4().hex


def view(row: asyncpg.Record) -> EndpointView:
    expires = row["previous_expires_at"]
    return EndpointView(
        id=row["id"],
        url=row["url"],
        description=row["description"],
        event_types=list(row["event_types"]),
        status=row["status"],
        disabled_reason=row["disabled_reason"],
        failing_since=row["failing_since"],
        previous_secret_expires_at=expires if expires and expires > datetime.now(UTC) else None,
        created_at=row["created_at"],
    )


async def _checked_url(url: str, allow_private: bool) -> str:
    url = url.strip()
    try:
        await check_url(url, allow_private=allow_private)
    except UnsafeUrl as unsafe:
        raise InvalidInput("url", "public_https", str(unsafe)) from None
    return url


def _checked_types(event_types: list[str]) -> list[str]:
    unknown = [t for t in event_types if t not in EVENT_TYPES]
    if unknown:
        raise InvalidInput("event_types", "enum", f"unknown {', '.join(unknown)}; known: {', '.join(EVENT_TYPES)}")
    return sorted(set(event_types))


def _checked_description(description: str) -> str:
    if len(description) > MAX_DESCRIPTION:
        raise InvalidInput("description", "length", f"at most {MAX_DESCRIPTION} characters")
    return description


async def create_endpoint(
    conn: Connection, vault: Vault, tenant_id: UUID, new: NewEndpoint, *, allow_private: bool
) -> tuple[EndpointView, str]:
    """The endpoint and its secret (shown once)."""
    url = await _checked_url(new.url, allow_private)
    types = _checked_types(new.event_types)
    description = _checked_description(new.description)
    endpoint_id, secret = uuid.uuid4(), standard_webhooks.new_secret()
    sealed = await vault.seal(conn, tenant_id, KIND, endpoint_id, {"secret": secret})
    row = await repository.insert_endpoint(conn, endpoint_id, tenant_id, url, description, types, sealed)
    return view(row), secret


async def _endpoint(conn: Connection, tenant_id: UUID, endpoint_id: UUID, *, lock: bool = False) -> asyncpg.Record:
    row = await repository.get_endpoint(conn, tenant_id, endpoint_id, lock=lock)
    if row is None:
        raise NotFound(f"webhook endpoint {endpoint_id} not found")
    return row


async def list_endpoints(conn: Connection, tenant_id: UUID) -> list[EndpointView]:
    return [view(r) for r in await repository.list_endpoints(conn, tenant_id)]


async def get_endpoint(conn: Connection, tenant_id: UUID, endpoint_id: UUID) -> EndpointView:
    return view(await _endpoint(conn, tenant_id, endpoint_id))


async def update_endpoint(
    conn: Connection, tenant_id: UUID, endpoint_id: UUID, change: EndpointUpdate, *, allow_private: bool
) -> EndpointView:
    await _endpoint(conn, tenant_id, endpoint_id, lock=True)
    changes: dict[str, object] = {}
    if change.url is not None:
        changes["url"] = await _checked_url(change.url, allow_private)
    if change.description is not None:
        changes["description"] = _checked_description(change.description)
    if change.event_types is not None:
        changes["event_types"] = _checked_types(change.event_types)
    if change.enabled is True:
        changes.update(status="enabled", disabled_reason=None, failing_since=None)
    elif change.enabled is False:
        changes.update(status="disabled", disabled_reason="disabled by the tenant")
    if not changes:
        return await get_endpoint(conn, tenant_id, endpoint_id)
    return view(await repository.update_endpoint(conn, tenant_id, endpoint_id, **changes))


async def delete_endpoint(conn: Connection, tenant_id: UUID, endpoint_id: UUID) -> None:
    if not await repository.delete_endpoint(conn, tenant_id, endpoint_id):
        raise NotFound(f"webhook endpoint {endpoint_id} not found")


async def rotate_secret(
    conn: Connection, vault: Vault, tenant_id: UUID, endpoint_id: UUID, overlap: timedelta
) -> SecretRotated:
    """A new secret; the current one keeps signing alongside it for ``overlap`` (two signatures
    in ``webhook-signature``), so receivers can switch without losing a delivery."""
    if not timedelta(0) <= overlap <= MAX_OVERLAP:
        raise InvalidInput("overlap_hours", "range", "between 0 and 168")
    row = await _endpoint(conn, tenant_id, endpoint_id, lock=True)
    old = (await vault.open(conn, tenant_id, KIND, endpoint_id, row["sealed_secrets"]))["secret"]
    secret = standard_webhooks.new_secret()
    secrets = {"secret": secret, "previous": old} if overlap > timedelta(0) else {"secret": secret}
    sealed = await vault.seal(conn, tenant_id, KIND, endpoint_id, secrets)
    expires = datetime.now(UTC) + overlap if overlap > timedelta(0) else None
    await repository.update_endpoint(conn, tenant_id, endpoint_id, sealed_secrets=sealed, previous_expires_at=expires)
    return SecretRotated(secret=secret, previous_secret_expires_at=expires)


def _before(cursor: str | None) -> int | None:
    if not cursor:
        return None
    if not cursor.isdigit():
        raise InvalidInput("cursor", "cursor", "not a cursor this API gave")
    return int(cursor)


async def list_deliveries(
    conn: Connection,
    tenant_id: UUID,
    endpoint_id: UUID,
    *,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> DeliveryList:
    """The endpoint's delivery log, newest first, each with its attempts."""
    await _endpoint(conn, tenant_id, endpoint_id)
    if status is not None and status not in DELIVERY_STATUSES:
        raise InvalidInput("status", "enum", f"one of {', '.join(DELIVERY_STATUSES)}")
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput("limit", "range", f"between 1 and {MAX_PAGE}")
    rows = await repository.list_deliveries(
        conn, tenant_id, endpoint_id, status=status, before=_before(cursor), limit=limit + 1
    )
    shown = rows[:limit]
    attempts: dict[int, list[AttemptView]] = defaultdict(list)
    for a in await repository.list_attempts(conn, tenant_id, [r["id"] for r in shown]):
        attempts[a["delivery_id"]].append(
            AttemptView(**{k: a[k] for k in a.keys() if k != "delivery_id"})  # noqa: SIM118 - a Record
        )
    return DeliveryList(
        data=[DeliveryView(**dict(r), attempt_log=attempts[r["id"]]) for r in shown],
        next_cursor=str(shown[-1]["id"]) if len(rows) > limit else None,
    )


async def resend(conn: Connection, tenant_id: UUID, endpoint_id: UUID, event_id: str) -> None:
    await _endpoint(conn, tenant_id, endpoint_id)
    if not await repository.resend(conn, tenant_id, endpoint_id, event_id):
        raise NotFound(f"event {event_id} was not delivered to this endpoint")


async def recover(conn: Connection, tenant_id: UUID, endpoint_id: UUID, since: datetime) -> int:
    """Send again every delivery to the endpoint that failed, created since ``since``."""
    await _endpoint(conn, tenant_id, endpoint_id)
    if since.tzinfo is None:
        raise InvalidInput("since", "timezone", "give a time with its offset, e.g. 2026-11-30T00:00:00Z")
    return await repository.recover(conn, tenant_id, endpoint_id, since)


async def send_test_event(conn: Connection, tenant_id: UUID, endpoint_id: UUID) -> str:
    """A ``webhook.test`` event for this endpoint only, delivered like any other."""
    row = await _endpoint(conn, tenant_id, endpoint_id)
    event_id = new_event_id()
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    payload = {"type": "webhook.test", "timestamp": now, "data": {"endpoint_id": str(row["id"])}}
    await repository.insert_test_event(conn, tenant_id, endpoint_id, event_id, payload)
    return event_id
