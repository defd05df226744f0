"""``POST /v1/messages`` answers exactly as the framework route would (messaging/send_route.py).

The fast path serves ``/v1/messages``; ``/v1/messages/`` is not its path, so Litestar's handler
serves it. Each case goes to both, on the real API process, and the answers must match: status,
the headers a client reads, and the body (ids and times aside).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import auth, new_tenant
from tests.fixtures.stack import Stack

FAST, FRAMEWORK = "/v1/messages", "/v1/messages/"
TEMPLATE = {"name": "order_shipped", "language": "en_US", "params": {"body": ["Ada", "#1042"]}}
HEADERS = (
    "content-type",
    "www-authenticate",
    "retry-after",
    "idempotent-replayed",
    "ratelimit-policy",
)
VOLATILE = {"id", "created_at", "updated_at"}


def _answer(response: httpx.Response) -> tuple[int, dict[str, str | None], Any]:
    headers = {name: response.headers.get(name) for name in HEADERS}
    # Its remaining count and reset time move between requests; that it is there must not.
    headers["ratelimit"] = "present" if "ratelimit" in response.headers else None
    if "location" in response.headers:
        headers["location"] = response.headers["location"].rsplit("/", 1)[0]
    try:
        body = response.json()
    except ValueError:
        body = response.text
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k not in VOLATILE}
        if isinstance(body.get("detail"), str):  # "retry after 1981 ms": the clock moved between the two
            body["detail"] = re.sub(r"\d+ ms", "… ms", body["detail"])
        if body.get("instance") == FRAMEWORK:
            body["instance"] = FAST
    return response.status_code, headers, body


async def _both(client: httpx.AsyncClient, **request: Any) -> tuple[Any, Any]:
    fast = await client.post(FAST, **request)
    framework = await client.post(FRAMEWORK, **request)
    return _answer(fast), _answer(framework)


def _json(facts: dict[str, Any] | None, **extra: str) -> dict[str, str]:
    return {**(auth(facts) if facts else {}), "Content-Type": "application/json", **extra}


CASES: dict[str, tuple[bytes, str | None]] = {
    # name: (body, API key: "own", "wrong" or None)
    "accepted": (b'{"to": "+14155550123", "template": %s}', "own"),
    "no key": (b'{"to": "+14155550123", "template": %s}', None),
    "wrong key": (b'{"to": "+14155550123", "template": %s}', "wrong"),
    "no key, malformed body": (b'{"to": ', None),
    "malformed json": (b'{"to": ', "own"),
    "schema: to is a number": (b'{"to": 14155550123, "template": %s}', "own"),
    "schema: unknown field": (b'{"to": "+14155550123", "template": %s, "colour": "red"}', "own"),
    "bad number": (b'{"to": "12", "template": %s}', "own"),
    "unknown template": (b'{"to": "+14155550123", "template": {"name": "nope", "language": "en_US"}}', "own"),
    "text and template": (b'{"to": "+14155550123", "template": %s, "text": {"body": "hi"}}', "own"),
    "over the limit": (b'{"to": "+14155550123", "text": {"body": "' + b"x" * 70_000 + b'"}}', "own"),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_each_answer_matches_the_framework_route(
    client: httpx.AsyncClient, tenant: dict[str, Any], case: str
) -> None:
    body, key = CASES[case]
    if b"%s" in body:
        body = body % httpx.Request("POST", "/", json=TEMPLATE).content
    facts = {"own": tenant, "wrong": {"api_key": "sb_nope_" + "x" * 32}, None: None}[key]
    fast, framework = await _both(client, content=body, headers=_json(facts))
    assert fast == framework
    assert fast[0] != 500


async def test_idempotent_replay_and_reuse_match(client: httpx.AsyncClient, tenant: dict[str, Any]) -> None:
    for path in (FAST, FRAMEWORK):
        key = f"order-{uuid.uuid4()}"
        first = await client.post(
            path, json={"to": "+14155550123", "template": TEMPLATE}, headers=_json(tenant, **{"Idempotency-Key": key})
        )
        again = await client.post(
            path, json={"to": "+14155550123", "template": TEMPLATE}, headers=_json(tenant, **{"Idempotency-Key": key})
        )
        reused = await client.post(
            path, json={"to": "+14155550199", "template": TEMPLATE}, headers=_json(tenant, **{"Idempotency-Key": key})
        )
        assert (first.status_code, again.status_code, reused.status_code) == (202, 202, 422), path
        assert again.json()["id"] == first.json()["id"] and again.headers["idempotent-replayed"] == "true"
        assert reused.json()["errors"][0]["field"] == "Idempotency-Key"
    # Both paths' replays read the same.
    fast, framework = await _both(
        client, json={"to": "+14155550123", "template": TEMPLATE}, headers=_json(tenant, **{"Idempotency-Key": "same"})
    )
    assert fast[0] == 202 and framework[0] == 202 and framework[1]["idempotent-replayed"] == "true"


async def test_rate_limited_answers_match(client: httpx.AsyncClient, stack: Stack) -> None:
    facts = await new_tenant(stack)
    plan = "p" + uuid.uuid4().hex[:12]
    assert stack.cli("plans", "set", plan, "--rate", "0.5", "--burst", "2").returncode == 0
    assert stack.cli("tenant", "plan", "--tenant", facts["tenant_id"], plan).returncode == 0
    request = {"json": {"to": "+14155550123", "template": TEMPLATE}, "headers": _json(facts)}
    accepted = await _both(client, **request)
    refused = await _both(client, **request)
    assert accepted[0] == accepted[1] and accepted[0][0] == 202
    assert accepted[0][1]["ratelimit-policy"] == '"burst";q=2;w=4'
    assert refused[0] == refused[1] and refused[0][0] == 429
    assert refused[0][1]["retry-after"] == "2"
