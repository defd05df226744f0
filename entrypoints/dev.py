"""``switchboard dev``: the whole platform on one machine, for a newcomer.

Migrates, provisions a demo tenant (sandbox WhatsApp sender, app secret, verify token, one APPROVED
template), starts sandbox + API + gRPC + workers + relay as child processes, registers the demo
sender with the sandbox (which runs Meta's webhook handshake against our API), prints how to send a
message and writes the same facts to ``.switchboard/dev.json``. Ctrl-C stops everything cleanly.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from uuid import UUID

from admin_ui import accounts
from kernel import db, standard_webhooks
from kernel.crypto import MasterKey
from kernel.settings import Settings
from tenants import service
from tenants.vault import Vault

__all__ = ["DEMO_TEMPLATE", "provision_demo", "register_sender", "run_dev"]

DEMO_TEMPLATE: dict[str, Any] = {
    "name": "order_shipped",
    "language": "en_US",
    "category": "UTILITY",
    "components": [
        {
            "type": "BODY",
            "text": "Hi {{1}}, your order {{2}} has shipped.",
            "example": {"body_text": [["Ada", "#1042"]]},
        },
        {"type": "FOOTER", "text": "Switchboard demo"},
    ],
}
PROCESSES = ("sandbox", "api", "grpc", "worker", "relay")
SANDBOX_SMTP_PORT = 8025  # the sandbox SMTP server (SWITCHBOARD_SANDBOX_SMTP_PORT, not changed by dev)


def _step(text: str) -> None:
    print(f"• {text}", flush=True)


def _master_key(state_dir: Path) -> str:
    existing = os.environ.get("SWITCHBOARD_MASTER_KEY")
    if existing:
        return existing
    path = state_dir / "master.key"
    if not path.exists():
        path.write_text(base64.b64encode(os.urandom(32)).decode())
        path.chmod(0o600)
    return path.read_text().strip()


async def _demo_admin(conn: db.Connection, tenant_id: UUID) -> dict[str, str]:
    """An owner of the demo tenant for the admin console (emails are unique platform-wide)."""
    email, password = f"owner-{tenant_id.hex[:12]}@demo.switchboard.dev", secrets.token_urlsafe(12)
    await accounts.create_user(conn, tenant_id=tenant_id, email=email, password=password, role="owner")
    return {"admin_email": email, "admin_password": password}


async def provision_demo(
    settings: Settings, master: MasterKey, previous: dict[str, Any] | None, *, fallback: bool = False
) -> dict[str, Any]:
    """The demo tenant's facts: reused from a previous run when it still exists, else created.
    With ``fallback``, it also gets a Twilio account and an SMTP server (the sandbox's) for SMS and
    email fallback."""
    pool = await db.create_pool(settings.asyncpg_dsn, min_size=1, max_size=1)
    try:
        if previous is not None:
            exists = await pool.fetchval(
                "SELECT EXISTS (SELECT 1 FROM tenants t JOIN api_keys k ON k.tenant_id = t.id "
                "WHERE t.id = $1 AND k.revoked_at IS NULL)",
                UUID(previous["tenant_id"]),
            )
            if exists:
                if "admin_email" not in previous:  # written before the console existed
                    async with db.unit_of_work(pool) as conn:
                        previous.update(await _demo_admin(conn, UUID(previous["tenant_id"])))
                return previous
        vault = Vault(master)
        app_secret, verify_token = secrets.token_hex(16), secrets.token_urlsafe(16)
        access_token = "sandbox-" + secrets.token_urlsafe(24)
        waba_id = "1" + "".join(secrets.choice("0123456789") for _ in range(14))
        phone_number_id = "1" + "".join(secrets.choice("0123456789") for _ in range(14))
        async with db.unit_of_work(pool) as conn:
            tenant = await service.create_tenant(conn, vault, "Demo")
            _, api_key = await service.create_api_key(conn, tenant.id, "dev")
            credential = await service.add_whatsapp_credential(
                conn,
                vault,
                tenant.id,
                name="sandbox",
                access_token=access_token,
                app_secret=app_secret,
                verify_token=verify_token,
                waba_id=waba_id,
            )
            await service.add_sender(
                conn,
                tenant.id,
                credential.id,
                phone_number_id=phone_number_id,
                display_phone_number="+15550100001",
                waba_id=waba_id,
            )
            await service.put_template(conn, tenant.id, waba_id=waba_id, status="APPROVED", **DEMO_TEMPLATE)
            extra: dict[str, Any] = await _demo_admin(conn, tenant.id)
            if fallback:
                extra["twilio_account_sid"] = "AC" + secrets.token_hex(16)
                extra["twilio_auth_token"] = secrets.token_hex(16)
                await service.add_sms_credential(
                    conn,
                    vault,
                    tenant.id,
                    name="sandbox",
                    account_sid=extra["twilio_account_sid"],
                    auth_token=extra["twilio_auth_token"],
                    from_number="+15550100002",
                )
                extra["email_from"] = "orders@demo.switchboard.dev"
                extra["email_webhook_secret"] = standard_webhooks.new_secret()
                mail = await service.add_email_credential(
                    conn,
                    vault,
                    tenant.id,
                    name="sandbox",
                    host="127.0.0.1",
                    port=SANDBOX_SMTP_PORT,
                    tls="none",
                    from_address=extra["email_from"],
                    webhook_secret=extra["email_webhook_secret"],
                )
                extra["email_channel_key"] = mail.channel_key
        return {
            **extra,
            "tenant_id": str(tenant.id),
            "api_key": api_key,
            "channel_key": credential.channel_key,
            "phone_number_id": phone_number_id,
            "waba_id": waba_id,
            "app_secret": app_secret,
            "verify_token": verify_token,
            "sandbox_access_token": access_token,
        }
    finally:
        await pool.close()


def _wait_http(url: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    return False


def _wait_port(port: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.2)
    return False


def _put(url: str, body: object) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="PUT", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=15) as response:
        answer: dict[str, Any] = json.load(response)
    return answer


def register_twilio(sandbox_url: str, facts: dict[str, Any]) -> None:
    """Create the demo Twilio account in the sandbox, as one would in Twilio's console."""
    if "twilio_account_sid" not in facts:  # a demo tenant from before SMS fallback
        return
    _put(
        f"{sandbox_url}/_sandbox/twilio/accounts/{facts['twilio_account_sid']}",
        {"auth_token": facts["twilio_auth_token"]},
    )


def register_email(sandbox_url: str, rest_url: str, facts: dict[str, Any]) -> None:
    """Point the sandbox mail provider's delivery and bounce events at us, as one would in a mail
    provider's dashboard."""
    if "email_channel_key" not in facts:  # a demo tenant from before email events
        return
    _put(
        f"{sandbox_url}/_sandbox/email/senders/{facts['email_from']}",
        {
            "webhook_url": f"{rest_url}/webhooks/email/{facts['email_channel_key']}",
            "webhook_secret": facts["email_webhook_secret"],
        },
    )


def register_sender(sandbox_url: str, facts: dict[str, Any]) -> None:
    """Register the demo number with the sandbox, as one would in Meta's app dashboard."""
    body = {
        "access_token": facts["sandbox_access_token"],
        "app_secret": facts["app_secret"],
        "verify_token": facts["verify_token"],
        "webhook_url": facts["webhook_url"],
        "display_phone_number": "15550100001",
        **({"throughput_mps": facts["throughput_mps"]} if "throughput_mps" in facts else {}),
    }
    result = _put(f"{sandbox_url}/_sandbox/whatsapp/phone_numbers/{facts['phone_number_id']}", body)
    if not result.get("registered"):
        raise RuntimeError(f"sandbox did not accept the demo sender: {result.get('reason')}")
    # The demo template, approved, in the sandbox's listing too: a template sync then keeps it.
    templates = [{**DEMO_TEMPLATE, "status": "APPROVED"}]
    _put(f"{sandbox_url}/_sandbox/whatsapp/wabas/{facts['waba_id']}/templates", templates)


def _stop(children: dict[str, subprocess.Popen[bytes]]) -> None:
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for child in children.values():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()


def _summary(facts: dict[str, Any]) -> str:
    body = json.dumps(facts["example_message"])
    return f"""
Switchboard is running.

  REST API      {facts["rest_url"]}   (docs: {facts["rest_url"]}/docs)
  gRPC          {facts["grpc_target"]}
  Sandbox       {facts["sandbox_url"]}
  Tenant        {facts["tenant_id"]}
  API key       {facts["api_key"]}
  Webhook URL   {facts["webhook_url"]}
  Admin console {facts["rest_url"]}/admin   ({facts["admin_email"]} / {facts["admin_password"]})

Send a message:

  curl -s -X POST {facts["rest_url"]}/v1/messages \\
    -H 'Authorization: Bearer {facts["api_key"]}' -H 'Content-Type: application/json' \\
    -d '{body}'

Then follow it (replace ID):

  curl -s {facts["rest_url"]}/v1/messages/ID -H 'Authorization: Bearer {facts["api_key"]}'
  curl -s {facts["rest_url"]}/v1/messages/ID/events -H 'Authorization: Bearer {facts["api_key"]}'

Over gRPC (buf curl, reflection):

  buf curl --protocol grpc --http2-prior-knowledge -H 'authorization: Bearer {facts["api_key"]}' \\
    -d '{body}' http://{facts["grpc_target"]}/switchboard.messaging.v1.MessagingService/SendMessage

These facts are in .switchboard/dev.json. Ctrl-C stops everything.
"""


def run_dev(settings: Settings, workdir: str) -> int:
    from entrypoints.database import migrate

    state_dir = Path(workdir) / ".switchboard"
    state_dir.mkdir(exist_ok=True)
    master_b64 = _master_key(state_dir)
    env = {
        **os.environ,
        "SWITCHBOARD_MASTER_KEY": master_b64,
        "SWITCHBOARD_GRAPH_URL": f"http://127.0.0.1:{settings.sandbox_port}",
        "SWITCHBOARD_TWILIO_URL": f"http://127.0.0.1:{settings.sandbox_port}",
        "PYTHONUNBUFFERED": "1",
        # A partner webhook receiver on this machine (http://127.0.0.1:...) is fine in development.
        "SWITCHBOARD_WEBHOOK_ALLOW_PRIVATE": os.environ.get("SWITCHBOARD_WEBHOOK_ALLOW_PRIVATE", "1"),
    }
    from kernel import settings as settings_module

    settings = settings_module.load(env)
    _step(f"migrating {settings.database_url.rsplit('@', 1)[-1]}")
    migrate(settings.asyncpg_dsn, settings.database_url)
    dev_file = state_dir / "dev.json"
    previous = json.loads(dev_file.read_text()) if dev_file.exists() else None
    _step("provisioning the demo tenant")
    facts = asyncio.run(provision_demo(settings, MasterKey(settings.require_master_key()), previous, fallback=True))
    rest_url = f"http://127.0.0.1:{settings.http_port}"
    facts.update(
        rest_url=rest_url,
        grpc_target=f"127.0.0.1:{settings.grpc_port}",
        sandbox_url=f"http://127.0.0.1:{settings.sandbox_port}",
        webhook_url=f"{rest_url}/webhooks/whatsapp/{facts['channel_key']}",
        example_message={
            "to": "+14155550123",
            "template": {"name": "order_shipped", "language": "en_US", "params": {"body": ["Ada", "#1042"]}},
            "fallback": {
                "sms": {"text": "Hi Ada, order #1042 shipped."},
                "email": {"to": "ada@example.com", "subject": "Order shipped", "text": "Your order #1042 shipped."},
            },
        },
    )
    children: dict[str, subprocess.Popen[bytes]] = {}
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        for name in PROCESSES:
            _step(f"starting {name}")
            # Children get their own process group: Ctrl-C reaches only us, and we stop them in order.
            children[name] = subprocess.Popen(
                [sys.executable, "-m", "entrypoints.cli", name], env=env, cwd=workdir, start_new_session=True
            )
        ready = (
            _wait_http(f"{facts['sandbox_url']}/healthz", 30)
            and _wait_http(f"{rest_url}/readyz", 60)
            and _wait_port(settings.grpc_port, 30)
        )
        if not ready:
            failed = [n for n, c in children.items() if c.poll() is not None]
            print(
                f"switchboard dev: did not start ({', '.join(failed) or 'timed out'}); see the logs above",
                file=sys.stderr,
            )
            return 1
        register_sender(facts["sandbox_url"], facts)
        register_twilio(facts["sandbox_url"], facts)
        register_email(facts["sandbox_url"], rest_url, facts)
        dev_file.write_text(json.dumps(facts, indent=2) + "\n")
        dev_file.chmod(0o600)
        print(_summary(facts), flush=True)
        while not stopping:
            for name, child in children.items():
                if child.poll() is not None:
                    print(f"switchboard dev: {name} exited with status {child.returncode}; stopping", file=sys.stderr)
                    return 1
            time.sleep(0.5)
        return 0
    finally:
        _step("stopping")
        _stop(children)
