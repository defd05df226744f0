"""Routes are cached in every API process, and a change made through any process is seen by the
next request on every other one (the cache is keyed by the tenant's config_version)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.conftest import auth
from tests.fixtures.stack import Stack


@pytest.fixture(scope="module")
async def replica(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    url = stack.start_api_replica("api-replica")
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            yield http
    finally:
        stack.stop_process("api-replica")


ORDER_SHIPPED = {
    "to": "+14155550123",
    "template": {"name": "order_shipped", "language": "en_US", "params": {"body": ["Ada", "#1042"]}},
}


def welcome(name: str) -> dict[str, Any]:
    return {"to": "+14155550123", "template": {"name": name, "language": "en_US", "params": {"body": ["Ada"]}}}


async def test_a_template_created_on_one_process_is_sendable_through_another_at_once(
    client: httpx.AsyncClient, replica: httpx.AsyncClient, tenant: dict[str, Any]
) -> None:
    # The replica learns (and caches) that the template does not exist...
    for _ in range(3):
        missing = await replica.post("/v1/messages", json=welcome("flash_sale"), headers=auth(tenant))
        assert missing.status_code == 422 and missing.json()["errors"][0]["rule"] == "unknown_template"
    created = await client.post(
        "/v1/templates",
        json={
            "name": "flash_sale",
            "language": "en_US",
            "category": "MARKETING",
            "components": [{"type": "BODY", "text": "Hi {{1}}, 20% off today"}],
        },
        headers=auth(tenant),
    )
    assert created.status_code == 201 and created.json()["status"] == "APPROVED"
    # ...and its very next request sees the template the other process created.
    sent = await replica.post("/v1/messages", json=welcome("flash_sale"), headers=auth(tenant))
    assert sent.status_code == 202, sent.text


async def test_a_new_default_sender_is_used_by_every_process_from_the_next_request(
    client: httpx.AsyncClient, replica: httpx.AsyncClient, tenant: dict[str, Any]
) -> None:
    text = {"to": "+14155550123", "text": {"body": "hello"}}
    first = await replica.post("/v1/messages", json=text, headers=auth(tenant))
    assert first.status_code == 202 and first.json()["sender"] == tenant["phone_number_id"]
    added = await client.post(
        "/v1/senders",
        json={"phone_number_id": "777000111222", "display_phone_number": "+14155550777", "is_default": True},
        headers=auth(tenant),
    )
    assert added.status_code == 201, added.text
    # The free-form window is per sender: a template goes out from the new default at once.
    then = await replica.post(
        "/v1/messages",
        json={
            **welcome("order_shipped"),
            "template": {**welcome("order_shipped")["template"], "params": {"body": ["Ada", "#1"]}},
        },
        headers=auth(tenant),
    )
    assert then.status_code == 202 and then.json()["sender"] == "777000111222"
