"""Where partner webhooks may go (SSRF): https and public addresses only, unless development allows more;
and an attempt connects to the address that was checked."""

from __future__ import annotations

import asyncio
import socket
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from webhooks.outbound.ssrf import Target, UnsafeUrl, check_url, pinned


@pytest.mark.parametrize(
    "url",
    [
        "http://93.184.216.34/hooks",  # not https
        "https://127.0.0.1/hooks",
        "https://localhost/hooks",
        "https://10.1.2.3/hooks",
        "https://192.168.0.10/hooks",
        "https://169.254.169.254/latest/meta-data",  # cloud metadata
        "https://[::1]/hooks",
        "https://[::ffff:127.0.0.1]/hooks",
        "https://100.64.0.1/hooks",  # carrier-grade NAT
        "https://0.0.0.0/hooks",
        "https://user:secret@93.184.216.34/hooks",
        "https://no-such-host.invalid/hooks",
    ],
)
async def test_private_or_unsafe_urls_are_refused(url: str) -> None:
    with pytest.raises(UnsafeUrl):
        await check_url(url, allow_private=False)


async def test_a_public_https_address_is_allowed() -> None:
    await check_url("https://93.184.216.34/hooks", allow_private=False)


async def test_development_may_allow_loopback_over_http() -> None:
    await check_url("http://127.0.0.1:8080/hooks", allow_private=True)
    with pytest.raises(UnsafeUrl):
        await check_url("ftp://127.0.0.1/hooks", allow_private=True)


def _resolving_to(monkeypatch: pytest.MonkeyPatch, *answers: list[str]) -> list[str]:
    """Make the running loop's resolver give these addresses, one answer per lookup; returns the
    names looked up."""
    loop = asyncio.get_running_loop()
    asked: list[str] = []
    queue = list(answers)

    async def getaddrinfo(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        asked.append(host)
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in queue.pop(0)
        ]

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    return asked


async def test_an_attempt_connects_to_the_address_that_was_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    # DNS rebinding: the name answers a public address to the check, then loopback. The request
    # goes to the checked address; only the Host header and TLS's server name carry the name.
    asked = _resolving_to(monkeypatch, ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"], ["127.0.0.1"])
    target = await pinned("https://hooks.example.com:8443/in?x=1", allow_private=False)
    assert target.url == "https://93.184.216.34:8443/in?x=1"
    assert target.headers == {"host": "hooks.example.com:8443"}
    assert target.extensions == {"sni_hostname": "hooks.example.com"}
    assert asked == ["hooks.example.com"]
    with pytest.raises(UnsafeUrl):  # the next attempt checks again, and refuses
        await pinned("https://hooks.example.com:8443/in?x=1", allow_private=False)


async def test_an_ipv6_address_is_pinned_in_brackets(monkeypatch: pytest.MonkeyPatch) -> None:
    _resolving_to(monkeypatch, ["2606:2800:220:1:248:1893:25c8:1946"])
    target = await pinned("https://hooks.example.com/in", allow_private=False)
    assert target.url == "https://[2606:2800:220:1:248:1893:25c8:1946]/in"


async def test_a_pinned_request_still_verifies_the_certificate_against_the_name(tmp_path: Path) -> None:
    # A real TLS server on loopback with a certificate for hooks.test only: the pinned request
    # (to 127.0.0.1, server name hooks.test) is verified and answered; the same address without
    # the name fails verification.
    cert, key = _self_signed("hooks.test", tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    hosts: list[str] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        hosts.extend(line.split(":", 1)[1].strip() for line in head.split("\r\n") if line.lower().startswith("host:"))
        writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server_tls)
    port = server.sockets[0].getsockname()[1]
    client_tls = ssl.create_default_context(cafile=str(cert))
    target = Target(f"https://127.0.0.1:{port}/in", {"host": f"hooks.test:{port}"}, {"sni_hostname": "hooks.test"})
    try:
        async with httpx.AsyncClient(verify=client_tls) as http:
            response = await http.post(target.url, headers=target.headers, extensions=target.extensions)
            assert response.status_code == 204 and hosts == [f"hooks.test:{port}"]
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await http.post(target.url)
    finally:
        server.close()
        await server.wait_closed()


def _self_signed(name: str, directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path
