"""X-Twilio-Signature: our check agrees with Twilio's own validator."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from webhooks import twilio

URL = "https://example.com/myapp"
PARAMS = {"MessageSid": ["SM1234567890ABCDE"], "MessageStatus": ["delivered"], "To": ["+18005551212"]}


def test_default_port_either_way_and_nothing_else() -> None:
    signature = twilio.sign("tok", "https://example.com:443/hook?x=1", PARAMS)
    assert twilio.verify("tok", "https://example.com/hook?x=1", PARAMS, signature)
    assert not twilio.verify("tok", "https://example.com:8443/hook?x=1", PARAMS, signature)
    assert not twilio.verify("tok", "http://example.com/hook?x=1", PARAMS, signature)
    assert not twilio.verify("tok", "https://example.com/hook?x=1", {**PARAMS, "To": ["+1"]}, signature)
    assert not twilio.verify("other", "https://example.com/hook?x=1", PARAMS, signature)
    assert not twilio.verify("tok", "https://example.com/hook?x=1", PARAMS, None)


NAMES = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=12)
VALUES = st.lists(st.text(max_size=20), min_size=1, max_size=3)


@given(
    token=st.text(min_size=1, max_size=40),
    path=st.from_regex(r"/[a-z0-9/_-]{0,30}", fullmatch=True),
    params=st.dictionaries(NAMES, VALUES, max_size=6),
)
def test_agrees_with_twilios_validator(token: str, path: str, params: dict[str, list[str]]) -> None:
    url = f"https://switchboard.example{path}"
    validator = RequestValidator(token)
    multi = _Multi(params)
    expected = validator.compute_signature(url, multi)
    assert twilio.sign(token, url, params) == expected
    assert twilio.verify(token, url, params, expected) == validator.validate(url, multi, expected)


class _Multi(dict[str, list[str]]):
    """A multi-valued form as Twilio's validator reads one (Flask's MultiDict interface)."""

    def getall(self, name: str) -> list[str]:
        return self[name]


def test_form_parsing_keeps_blank_and_repeated_values() -> None:
    assert twilio.form(b"MessageSid=SM1&ErrorCode=&To=%2B1&To=%2B2") == {
        "MessageSid": ["SM1"],
        "ErrorCode": [""],
        "To": ["+1", "+2"],
    }
