"""The receiver's check in the client package, against what our sender signs."""

from __future__ import annotations

import pytest

from kernel import standard_webhooks
from switchboard_client import VerificationError, verify_webhook

BODY = b'{"type": "message.delivered", "data": {"id": "9787e3d7"}}'


def test_a_receiver_accepts_our_signature_and_refuses_a_changed_body() -> None:
    secret = standard_webhooks.new_secret()
    headers = standard_webhooks.headers([secret], "msg_1", BODY, timestamp=1_700_000_000)
    assert verify_webhook(secret, headers, BODY, now=1_700_000_010) == "msg_1"
    with pytest.raises(VerificationError) as changed:
        verify_webhook(secret, headers, BODY.replace(b"delivered", b"failed"), now=1_700_000_010)
    assert changed.value.reason == "mismatch"
    with pytest.raises(VerificationError) as late:
        verify_webhook(secret, headers, BODY, now=1_700_000_000 + 3600)
    assert late.value.reason == "timestamp"
