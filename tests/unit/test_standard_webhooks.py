"""Standard Webhooks signatures agree with the reference library, both ways."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from kernel import standard_webhooks as sw

IDS = st.from_regex(r"msg_[A-Za-z0-9]{1,24}", fullmatch=True)
BODIES = st.text(max_size=200).map(str.encode)
SECRETS = st.binary(min_size=24, max_size=64).map(lambda b: "whsec_" + base64.b64encode(b).decode())


@given(secret=SECRETS, msg_id=IDS, body=BODIES, offset=st.integers(-250, 250))
def test_our_signatures_verify_with_the_reference_and_back(secret: str, msg_id: str, body: bytes, offset: int) -> None:
    stamp = int(time.time()) + offset
    ours = sw.headers([secret], msg_id, body, stamp)
    Webhook(secret).verify(body, ours, json_parse=False)  # raises if it disagrees
    theirs = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": Webhook(secret).sign(msg_id, datetime.fromtimestamp(stamp, UTC), body.decode()),
    }
    assert sw.verify(secret, body, theirs) == msg_id


def test_rotation_any_listed_secret_verifies() -> None:
    old, new = sw.new_secret(), sw.new_secret()
    signed = sw.headers([old, new], "msg_1", b"{}")
    assert sw.verify(old, b"{}", signed) == sw.verify(new, b"{}", signed) == "msg_1"
    with pytest.raises(sw.VerificationError, match="mismatch"):
        sw.verify(sw.new_secret(), b"{}", signed)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda h: {k: v for k, v in h.items() if k != "webhook-signature"}, "missing"),
        (lambda h: {**h, "webhook-timestamp": "soon"}, "malformed"),
        (lambda h: {**h, "webhook-timestamp": str(int(time.time()) - 301)}, "timestamp"),
        (lambda h: {**h, "webhook-timestamp": str(int(time.time()) + 301)}, "timestamp"),
        (lambda h: {**h, "webhook-id": "msg_other"}, "mismatch"),
        (lambda h: {**h, "webhook-signature": "v1," + base64.b64encode(b"x" * 32).decode()}, "mismatch"),
        (lambda h: {**h, "webhook-signature": h["webhook-signature"].replace("v1,", "v2,")}, "mismatch"),
    ],
)
def test_refusals_say_why(change: object, reason: str) -> None:
    secret = sw.new_secret()
    signed = sw.headers([secret], "msg_1", b'{"a":1}')
    with pytest.raises(sw.VerificationError) as refused:
        sw.verify(secret, b'{"a":1}', change(signed))  # type: ignore[operator]
    assert refused.value.reason == reason
    with pytest.raises(WebhookVerificationError):  # the reference agrees it is refused
        Webhook(secret).verify(b'{"a":1}', change(signed), json_parse=False)  # type: ignore[operator]


def test_a_changed_body_is_refused() -> None:
    secret = sw.new_secret()
    with pytest.raises(sw.VerificationError, match="mismatch"):
        sw.verify(secret, b'{"a":2}', sw.headers([secret], "msg_1", b'{"a":1}'))
