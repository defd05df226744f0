"""Sender numbers over REST: one tenant per phone_number_id, one default, messages go out from it."""

from __future__ import annotations

import secrets
from typing import Any

import httpx

from tests.conftest import auth, new_tenant
from tests.fixtures.stack import Stack


def phone_number_id() -> str:
    return "1" + "".join(secrets.choice("0123456789") for _ in range(14))


async def test_numbers_are_added_listed_and_one_is_the_default(
    client: httpx.AsyncClient, tenant: dict[str, Any]
) -> None:
    second = await client.post(
        "/v1/senders",
        json={"phone_number_id": phone_number_id(), "display_phone_number": "+15550100009", "throughput_mps": 250},
        headers=auth(tenant),
    )
    assert second.status_code == 201, second.text
    added = second.json()
    assert (added["is_default"], added["throughput_mps"], added["waba_id"]) == (False, 250, tenant["waba_id"])
    assert added["quality_rating"] == "UNKNOWN" and added["status"] == "active"
    listed = (await client.get("/v1/senders", headers=auth(tenant))).json()["data"]
    assert [s["phone_number_id"] for s in listed] == [tenant["phone_number_id"], added["phone_number_id"]]
    assert (await client.get(f"/v1/senders/{added['id']}", headers=auth(tenant))).json() == added

    third = await client.post(
        "/v1/senders",
        json={"phone_number_id": phone_number_id(), "display_phone_number": "+15550100010", "is_default": True},
        headers=auth(tenant),
    )
    assert third.status_code == 201
    listed = (await client.get("/v1/senders", headers=auth(tenant))).json()["data"]
    assert [s["is_default"] for s in listed] == [True, False, False]
    assert listed[0]["id"] == third.json()["id"]


async def test_a_number_belongs_to_one_tenant_and_bad_numbers_are_refused(
    client: httpx.AsyncClient, tenant: dict[str, Any], stack: Stack
) -> None:
    other = await new_tenant(stack)
    taken = await client.post(
        "/v1/senders",
        json={"phone_number_id": tenant["phone_number_id"], "display_phone_number": "+15550100001"},
        headers=auth(other),
    )
    assert taken.status_code == 409
    for body, field in (
        ({"phone_number_id": "abc", "display_phone_number": "+15550100001"}, "phone_number_id"),
        ({"phone_number_id": phone_number_id(), "display_phone_number": "5550100001"}, "display_phone_number"),
        (
            {"phone_number_id": phone_number_id(), "display_phone_number": "+15550100001", "throughput_mps": 5000},
            "throughput_mps",
        ),
    ):
        refused = await client.post("/v1/senders", json=body, headers=auth(tenant))
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == field
    mine = (await client.get("/v1/senders", headers=auth(tenant))).json()["data"][0]["id"]
    assert (await client.get(f"/v1/senders/{mine}", headers=auth(other))).status_code == 404
    assert len((await client.get("/v1/senders", headers=auth(tenant))).json()["data"]) == 1  # nothing stored
