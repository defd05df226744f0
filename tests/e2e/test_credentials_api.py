"""Credentials over REST: added with secrets, never shown them back, scoped to the tenant."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx

from kernel import standard_webhooks
from kernel.db import Pool
from tests.conftest import auth, new_tenant
from tests.fixtures.stack import Stack


async def test_secrets_go_in_and_never_come_out(client: httpx.AsyncClient, pool: Pool, tenant: dict[str, Any]) -> None:
    token, password = "twilio-" + uuid.uuid4().hex, "smtp-" + uuid.uuid4().hex
    hook_secret = standard_webhooks.new_secret()
    sms = await client.post(
        "/v1/credentials",
        json={
            "kind": "sms",
            "name": "twilio",
            "account_sid": "AC1",
            "auth_token": token,
            "from_number": "+15550100002",
        },
        headers=auth(tenant),
    )
    assert sms.status_code == 201, sms.text
    email = await client.post(
        "/v1/credentials",
        json={
            "kind": "email",
            "name": "smtp",
            "host": "smtp.example.com",
            "port": 587,
            "tls": "starttls",
            "from_address": "orders@example.com",
            "username": "orders",
            "password": password,
            "webhook_secret": hook_secret,
        },
        headers=auth(tenant),
    )
    assert email.status_code == 201, email.text
    listed = await client.get("/v1/credentials", headers=auth(tenant))
    one = await client.get(f"/v1/credentials/{sms.json()['id']}", headers=auth(tenant))
    for response in (sms, email, listed, one):
        assert token not in response.text and password not in response.text and hook_secret not in response.text
    kinds = {c["kind"]: c for c in listed.json()["data"]}
    assert set(kinds) == {"whatsapp", "sms", "email"}
    assert kinds["sms"]["fingerprints"]["auth_token"].startswith("sha256:")
    assert kinds["sms"]["webhook_path"].startswith("/webhooks/twilio/")
    assert kinds["whatsapp"]["webhook_path"] == f"/webhooks/whatsapp/{tenant['channel_key']}"
    assert kinds["email"]["is_default"] and kinds["email"]["webhook_path"].startswith("/webhooks/email/")
    assert set(kinds["email"]["fingerprints"]) == {"password", "webhook_secret"}
    assert one.json() == kinds["sms"]
    stored = await pool.fetchval("SELECT sealed_secrets FROM credentials WHERE id = $1", uuid.UUID(one.json()["id"]))
    assert token.encode() not in stored


async def test_bad_credentials_are_refused_field_by_field(client: httpx.AsyncClient, tenant: dict[str, Any]) -> None:
    cases = [
        ({"kind": "email", "name": "x", "host": "h", "port": 70000, "tls": "none", "from_address": "a@b.co"}, "port"),
        ({"kind": "email", "name": "x", "host": "h", "port": 25, "tls": "ssl", "from_address": "a@b.co"}, "tls"),
        ({"kind": "sms", "name": "x", "account_sid": "AC1", "auth_token": "t"}, "from_number"),
        (
            {"kind": "email", "name": "x", "host": "h", "port": 25, "tls": "none", "from_address": "a@b.co"}
            | {"webhook_secret": "whsec_not base64!"},
            "webhook_secret",
        ),
        ({"kind": "fax", "name": "x"}, "kind"),
    ]
    for body, field in cases:
        response = await client.post("/v1/credentials", json=body, headers=auth(tenant))
        assert response.status_code == 422, (body, response.text)
        assert field in response.text, (field, response.text)
    listed = (await client.get("/v1/credentials", headers=auth(tenant))).json()["data"]
    assert [c["kind"] for c in listed] == ["whatsapp"]  # nothing was stored


async def test_another_tenants_credential_is_not_found(
    client: httpx.AsyncClient, tenant: dict[str, Any], stack: Stack
) -> None:
    other = await new_tenant(stack)
    theirs = (await client.get("/v1/credentials", headers=auth(other))).json()["data"][0]["id"]
    assert (await client.get(f"/v1/credentials/{theirs}", headers=auth(tenant))).status_code == 404
    assert (await client.get(f"/v1/credentials/{uuid.uuid4()}", headers=auth(tenant))).status_code == 404
    assert (await client.get("/v1/credentials/not-an-id", headers=auth(tenant))).status_code == 404


async def test_the_openapi_document_describes_every_rest_path(client: httpx.AsyncClient) -> None:
    document = await client.get("/schema/openapi.json")
    assert document.status_code == 200
    spec = document.json()
    assert spec["openapi"].startswith("3.1")
    for path in ("/v1/messages", "/v1/messages/{message_id}", "/v1/inbound-messages", "/v1/conversations"):
        assert path in spec["paths"], path
    assert "/v1/credentials" in spec["paths"] and "/v1/credentials/{credential_id}" in spec["paths"]
    for path in ("/v1/messages:batch", "/v1/messages:estimate", "/v1/usage", "/v1/invoices/{month}", "/v1/budget"):
        assert path in spec["paths"], path
    assert "/v1/operator/plans/{plan_id}" in spec["paths"]
    assert "/v1/webhook-endpoints/{endpoint_id}/deliveries" in spec["paths"]
    # Every operation lists its error responses as problems, each naming its problem types.
    for path, item in spec["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            for status in ("401", "422", "500"):
                problem = operation["responses"][status]
                assert "application/problem+json" in problem["content"], (method, path, status)
                assert "https://" in problem["description"], (method, path, status)
            if "{" in path:
                assert "404" in operation["responses"], (method, path)
    created = spec["paths"]["/v1/webhook-endpoints"]["post"]
    assert "Idempotency-Key" in [p["name"] for p in created["parameters"]]
    assert spec["components"]["schemas"]["Problem"]["required"] == ["type", "title", "status", "detail"]
    docs = await client.get("/docs")
    assert docs.status_code == 200 and "/schema/openapi.json" in docs.text


async def test_operators_list_credentials_senders_and_templates_without_secrets(
    stack: Stack, tenant: dict[str, Any]
) -> None:
    credentials = stack.cli("credentials", "list", "--tenant", tenant["tenant_id"])
    assert credentials.returncode == 0, credentials.stderr
    (line,) = credentials.stdout.strip().splitlines()
    assert "whatsapp" in line and "(default)" in line and f"/webhooks/whatsapp/{tenant['channel_key']}" in line
    assert "app_secret sha256:" in line
    for secret in (tenant["app_secret"], tenant["verify_token"], tenant["sandbox_access_token"]):
        assert secret not in credentials.stdout
    senders = stack.cli("senders", "list", "--tenant", tenant["tenant_id"])
    assert senders.returncode == 0 and tenant["phone_number_id"] in senders.stdout and "(default)" in senders.stdout
    templates = stack.cli("templates", "list", "--tenant", tenant["tenant_id"])
    assert templates.stdout.strip() == f"{tenant['waba_id']}  order_shipped  en_US  UTILITY  APPROVED"


async def test_operators_add_credentials_senders_and_templates(
    stack: Stack, tenant: dict[str, Any], tmp_path: Path
) -> None:
    sms = {
        "kind": "sms",
        "name": "twilio",
        "account_sid": "AC9",
        "auth_token": "cli-secret-3kq",
        "from_number": "+15550100009",
    }
    added = stack.cli("credentials", "add", "--tenant", tenant["tenant_id"], stdin=json.dumps(sms))
    assert added.returncode == 0, added.stderr
    assert "sms" in added.stdout and "auth_token sha256:" in added.stdout and "/webhooks/twilio/" in added.stdout
    assert "cli-secret-3kq" not in added.stdout + added.stderr

    refused = stack.cli("credentials", "add", "--tenant", tenant["tenant_id"], stdin=json.dumps({**sms, "port": 1}))
    assert refused.returncode == 1
    assert refused.stderr.strip() == "switchboard: port: Object contains unknown field `port`"
    missing = stack.cli("credentials", "add", "--tenant", tenant["tenant_id"], "--file", str(tmp_path / "nope.json"))
    assert missing.returncode == 1 and "cannot read" in missing.stderr and "Traceback" not in missing.stderr

    sender = stack.cli(
        "senders", "add", "--tenant", tenant["tenant_id"], "--phone-number-id", "880011223344",
        "--display-number", "+14155550880", "--throughput", "250",
    )  # fmt: skip
    assert sender.returncode == 0, sender.stderr
    assert "880011223344" in sender.stdout and "250 mps" in sender.stdout and "(default)" not in sender.stdout

    spec = tmp_path / "template.json"
    spec.write_text(
        json.dumps(
            {
                "name": "pending_cli_notice",
                "language": "en_US",
                "category": "UTILITY",
                "components": [{"type": "BODY", "text": "Hello {{1}}"}],
            }
        )
    )
    created = stack.cli("templates", "create", "--tenant", tenant["tenant_id"], "--file", str(spec))
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip().endswith("pending_cli_notice  en_US  UTILITY  PENDING")
