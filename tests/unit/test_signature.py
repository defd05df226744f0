"""Meta's X-Hub-Signature-256 check."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from webhooks.signature import sign, verify

BODY = b'{"object":"whatsapp_business_account","entry":[{"changes":[{"value":{"note":"caf\\u00e9 \\/"}}]}]}'


def test_valid_signature_over_raw_bytes() -> None:
    expected = "sha256=" + hmac.new(b"app-secret", BODY, hashlib.sha256).hexdigest()
    assert sign("app-secret", BODY) == expected
    assert verify("app-secret", BODY, expected)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256=",
        "sha1=" + hashlib.sha1(BODY).hexdigest(),
        sign("other-secret", BODY),
        sign("app-secret", BODY).upper(),
        sign("app-secret", BODY.replace(b"\\/", b"/")),
    ],
)
def test_everything_else_is_rejected(header: str | None) -> None:
    assert not verify("app-secret", BODY, header)
