"""Known secrets sent through every path that handles them never reach our processes' logs."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import uuid
from typing import Any
from urllib.parse import urlencode

import grpc
import httpx
import pytest
from switchboard.messaging.v1 import messaging_pb2 as pb
from switchboard.messaging.v1 import messaging_pb2_grpc as pb_grpc
from switchboard.tenants.v1 import tenants_pb2 as tenants_pb
from switchboard.tenants.v1 import tenants_pb2_grpc as tenants_grpc

from kernel import db
from kernel import settings as settings_module
from kernel.db import Pool
from tenants import service as tenants_service
from tenants.vault import Vault
from tests.conftest import auth, wait_for_status
from tests.fixtures.stack import Stack

# Our processes; the sandbox plays the provider, which is given the tokens by design.
OURS = ("api", "grpc", "worker", "relay")


async def test_secrets_never_appear_in_logs(
    client: httpx.AsyncClient, pool: Pool, stack: Stack, tenant: dict[str, Any]
) -> None:
    auth_token = "twilio-" + uuid.uuid4().hex
    settings = settings_module.load(stack.env)
    async with db.unit_of_work(pool) as conn:
        sms = await tenants_service.add_sms_credential(
            conn,
            Vault(settings.keyring()),
            uuid.UUID(tenant["tenant_id"]),
            name="sms",
            account_sid="AC" + "1" * 32,
            auth_token=auth_token,
            from_number="+15550100002",
        )
    secrets = {
        "api key": tenant["api_key"],
        "access token": tenant["sandbox_access_token"],
        "app secret": tenant["app_secret"],
        "verify token": tenant["verify_token"],
        "twilio auth token": auth_token,
    }

    # Deliveries that succeed, fail on the token (190), and are retried (5xx).
    ids = []
    for to in ("+14155550123", "+14155550190", "+14155550500"):
        sent = await client.post("/v1/messages", json={"to": to, "text": {"body": "hi"}}, headers=auth(tenant))
        ids.append(sent.json()["id"])
    await wait_for_status(client, tenant, ids[0], {"read"})
    await wait_for_status(client, tenant, ids[1], {"failed"})
    # gRPC with the key, and with the key garbled.
    async with grpc.aio.insecure_channel(stack.grpc_target) as channel:
        stub = pb_grpc.MessagingServiceStub(channel)
        await stub.GetMessage(
            pb.GetMessageRequest(id=ids[0]), metadata=(("authorization", f"Bearer {secrets['api key']}"),)
        )
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.GetMessage(
                pb.GetMessageRequest(id=ids[0]), metadata=(("authorization", f"Bearer {secrets['api key']}x"),)
            )
    # REST with a garbled key; the handshake right and wrong; webhooks signed right and wrong.
    await client.get("/v1/messages", headers={"Authorization": f"Bearer {secrets['api key']}x"})
    webhook = f"/webhooks/whatsapp/{tenant['channel_key']}"
    for token in (secrets["verify token"], secrets["verify token"] + "x"):
        await client.get(webhook, params={"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "1"})
    body = json.dumps({"object": "whatsapp_business_account", "entry": []}).encode()
    for secret in (secrets["app secret"], secrets["app secret"] + "x"):
        signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        await client.post(webhook, content=body, headers={"X-Hub-Signature-256": signature})
    await client.post(
        f"/webhooks/twilio/{sms.channel_key}",
        content=urlencode({"MessageSid": "SM1", "MessageStatus": "sent", "Note": auth_token}),
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "forged"},
    )
    # Credentials created, and refused, over both edges.
    password = "smtp-" + uuid.uuid4().hex
    secrets["smtp password"] = password
    email = {"name": "mail", "host": "127.0.0.1", "port": 2525, "from_address": "a@b.example", "password": password}
    for tls in ("none", "sometimes"):
        await client.post("/v1/credentials", json={"kind": "email", "tls": tls, **email}, headers=auth(tenant))
    async with grpc.aio.insecure_channel(stack.grpc_target) as channel:
        tenants_stub = tenants_grpc.TenantServiceStub(channel)
        for tls in ("starttls", "sometimes"):
            with contextlib.suppress(grpc.aio.AioRpcError):
                await tenants_stub.CreateCredential(
                    tenants_pb.CreateCredentialRequest(email=tenants_pb.EmailCredential(tls=tls, **email)),
                    metadata=(("authorization", f"Bearer {secrets['api key']}"),),
                )
    await asyncio.sleep(1.0)

    logs = {name: (stack.log_dir / f"{name}.log").read_text(errors="replace") for name in OURS}
    assert any("webhook signature rejected" in text for text in logs.values())  # the logs are being read
    leaks = [(what, name) for what, value in secrets.items() for name, text in logs.items() if value in text]
    assert leaks == []
