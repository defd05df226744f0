"""Where partner webhooks may go (SSRF): https and public addresses only, unless development allows more."""

from __future__ import annotations

import pytest

from webhooks.outbound.ssrf import UnsafeUrl, check_url


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
