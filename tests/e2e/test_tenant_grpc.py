"""TenantService, SenderService and TemplateService over gRPC: the same operations and rules as
REST, secrets write-only, and another tenant's ids answer NOT_FOUND like unknown ones."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2
from switchboard.senders.v1 import senders_pb2 as senders_pb
from switchboard.senders.v1 import senders_pb2_grpc as senders_grpc
from switchboard.templates.v1 import templates_pb2 as templates_pb
from switchboard.templates.v1 import templates_pb2_grpc as templates_grpc
from switchboard.tenants.v1 import tenants_pb2 as pb
from switchboard.tenants.v1 import tenants_pb2_grpc as pb_grpc

from tests.conftest import new_tenant
from tests.fixtures.rpc import violations
from tests.fixtures.services import free_port
from tests.fixtures.stack import Stack

Metadata = tuple[tuple[str, str], ...]


def metadata(facts: dict[str, Any]) -> Metadata:
    return (("authorization", f"Bearer {facts['api_key']}"),)


@pytest.fixture
async def stub(stack: Stack) -> AsyncIterator[pb_grpc.TenantServiceStub]:
    async with grpc.aio.insecure_channel(stack.grpc_target) as channel:
        yield pb_grpc.TenantServiceStub(channel)


async def test_credentials_are_write_only_and_tenant_scoped(
    stub: pb_grpc.TenantServiceStub, stack: Stack, tenant: dict[str, Any]
) -> None:
    sms = pb.SmsCredential(
        name="twilio", account_sid="AC123", auth_token="tok-7bq2-very-secret", from_number="+15550100002"
    )
    created = await stub.CreateCredential(pb.CreateCredentialRequest(sms=sms), metadata=metadata(tenant))
    credential = created.credential
    assert credential.kind == "sms" and credential.is_default
    assert set(credential.fingerprints) == {"auth_token"}
    assert b"tok-7bq2-very-secret" not in created.SerializeToString()
    assert credential.webhook_path.startswith("/webhooks/twilio/")

    listed = await stub.ListCredentials(pb.ListCredentialsRequest(), metadata=metadata(tenant))
    assert {c.kind for c in listed.credentials} == {"whatsapp", "sms"}
    assert all(b"very-secret" not in c.SerializeToString() for c in listed.credentials)
    got = await stub.GetCredential(pb.GetCredentialRequest(id=credential.id), metadata=metadata(tenant))
    assert got.credential == credential

    other = await new_tenant(stack, windows=False)
    answers = []
    for unknown in (credential.id, str(uuid.uuid4()), "not-a-uuid"):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.GetCredential(pb.GetCredentialRequest(id=unknown), metadata=metadata(other))
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND
        answers.append(raised.value.details().replace(unknown, "<id>"))
    assert len(set(answers)) == 1  # another tenant's id reads exactly like an unknown one


async def test_bad_credentials_name_the_field(stub: pb_grpc.TenantServiceStub, tenant: dict[str, Any]) -> None:
    email = pb.EmailCredential(name="smtp", host="mail.example", port=587, tls="sometimes", from_address="a@b.example")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.CreateCredential(pb.CreateCredentialRequest(email=email), metadata=metadata(tenant))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(raised.value) == {("tls", "schema")}
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.CreateCredential(
            pb.CreateCredentialRequest(sms=pb.SmsCredential(name="x", auth_token="t")), metadata=metadata(tenant)
        )
    assert violations(raised.value) == {("account_sid", "schema")}
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.CreateCredential(pb.CreateCredentialRequest(), metadata=metadata(tenant))
    assert violations(raised.value) == {("kind", "required")}
    unsigned = pb.EmailCredential(
        name="smtp", host="mail.example", port=587, tls="starttls", from_address="a@b.example", webhook_secret="nope!"
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.CreateCredential(pb.CreateCredentialRequest(email=unsigned), metadata=metadata(tenant))
    assert violations(raised.value) == {("webhook_secret", "format")}


async def test_sender_service_and_template_service(stack: Stack, tenant: dict[str, Any]) -> None:
    async with grpc.aio.insecure_channel(stack.grpc_target) as channel:
        senders = senders_grpc.SenderServiceStub(channel)
        templates = templates_grpc.TemplateServiceStub(channel)
        added = await senders.CreateSender(
            senders_pb.CreateSenderRequest(
                phone_number_id="990011223344", display_phone_number="+14155550990", throughput_mps=200
            ),
            metadata=metadata(tenant),
        )
        assert added.sender.throughput_mps == 200 and not added.sender.is_default
        listed = await senders.ListSenders(senders_pb.ListSendersRequest(), metadata=metadata(tenant))
        assert [s.phone_number_id for s in listed.senders] == [tenant["phone_number_id"], "990011223344"]
        got = await senders.GetSender(senders_pb.GetSenderRequest(id=added.sender.id), metadata=metadata(tenant))
        assert got.sender == added.sender
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await senders.CreateSender(
                senders_pb.CreateSenderRequest(phone_number_id="12ab", display_phone_number="+14155550991"),
                metadata=metadata(tenant),
            )
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert {field for field, _ in violations(raised.value)} == {"phone_number_id"}

        body = struct_pb2.Struct()
        body.update({"type": "BODY", "text": "Hi {{first_name}}"})
        created = await templates.CreateTemplate(
            templates_pb.CreateTemplateRequest(
                name="grpc_hello", language="en_US", category="UTILITY", components=[body], parameter_format="NAMED"
            ),
            metadata=metadata(tenant),
        )
        assert created.template.status == "APPROVED" and created.template.parameter_format == "NAMED"
        assert created.template.components[0]["text"] == "Hi {{first_name}}"
        got_template = await templates.GetTemplate(
            templates_pb.GetTemplateRequest(id=created.template.id), metadata=metadata(tenant)
        )
        assert got_template.template == created.template
        synced = await templates.SyncTemplates(templates_pb.SyncTemplatesRequest(), metadata=metadata(tenant))
        assert synced.listed >= 2
        found = await templates.ListTemplates(templates_pb.ListTemplatesRequest(), metadata=metadata(tenant))
        assert {"order_shipped", "grpc_hello"} <= {t.name for t in found.templates}
        # Another tenant's sender and template answer like unknown ones.
        other = await new_tenant(stack)
        for call in (
            senders.GetSender(senders_pb.GetSenderRequest(id=added.sender.id), metadata=metadata(other)),
            templates.GetTemplate(templates_pb.GetTemplateRequest(id=created.template.id), metadata=metadata(other)),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as hidden:
                await call
            assert hidden.value.code() == grpc.StatusCode.NOT_FOUND


async def test_the_deprecated_tenant_calls_answer_as_the_new_services(
    stub: pb_grpc.TenantServiceStub, stack: Stack, tenant: dict[str, Any]
) -> None:
    # Clients built before SenderService and TemplateService keep working, with the same answers.
    async with grpc.aio.insecure_channel(stack.grpc_target) as channel:
        senders = senders_grpc.SenderServiceStub(channel)
        templates = templates_grpc.TemplateServiceStub(channel)
        added = await stub.CreateSender(
            pb.CreateSenderRequest(phone_number_id="990011223355", display_phone_number="+14155550995"),
            metadata=metadata(tenant),
        )
        got = await senders.GetSender(senders_pb.GetSenderRequest(id=added.sender.id), metadata=metadata(tenant))
        assert got.sender.SerializeToString(deterministic=True) == added.sender.SerializeToString(deterministic=True)
        old = await stub.ListTemplates(pb.ListTemplatesRequest(), metadata=metadata(tenant))
        new = await templates.ListTemplates(templates_pb.ListTemplatesRequest(), metadata=metadata(tenant))
        # Deterministic: a template's components are Structs, whose map entries are otherwise
        # written in whatever order the map iterates.
        assert old.SerializeToString(deterministic=True) == new.SerializeToString(deterministic=True)
        assert old.templates
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.CreateSender(
                pb.CreateSenderRequest(phone_number_id="12ab", display_phone_number="+14155550991"),
                metadata=metadata(tenant),
            )
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert {field for field, _ in violations(raised.value)} == {"phone_number_id"}


async def test_without_a_key_every_call_is_unauthenticated(stub: pb_grpc.TenantServiceStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.ListSenders(pb.ListSendersRequest())
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_grpc_runs_as_several_processes_on_one_port_and_stops_cleanly(
    stack: Stack, tenant: dict[str, Any]
) -> None:
    port = free_port()
    stack.start_process(
        "grpc-pair", command="grpc", env={"SWITCHBOARD_GRPC_PORT": str(port), "SWITCHBOARD_GRPC_PROCESSES": "2"}
    )
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            try:
                async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                    stub = pb_grpc.TenantServiceStub(channel)
                    listed = await stub.ListSenders(pb.ListSendersRequest(), metadata=metadata(tenant), timeout=2)
                break
            except grpc.aio.AioRpcError:
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.2)
        assert [s.phone_number_id for s in listed.senders] == [tenant["phone_number_id"]]
        servers = subprocess.run(["pgrep", "-f", "entrypoints.cli grpc --processes 1"], capture_output=True, text=True)
        parent = stack.processes["grpc-pair"]
        assert len([p for p in servers.stdout.split() if p]) >= 2
    finally:
        stack.processes["grpc-pair"].send_signal(signal.SIGTERM)
    assert parent.wait(timeout=30) == 0
