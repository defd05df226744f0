"""Reading customer messages out of Meta notifications (every type Meta documents)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from webhooks import meta

SENDER = uuid.uuid4()


def value(*messages: dict[str, Any], contacts: list[dict[str, Any]] | None = None) -> meta.Value:
    return msgspec.convert(
        {
            "messaging_product": "whatsapp",
            "metadata": {"phone_number_id": "106540352242922"},
            "contacts": contacts or [{"profile": {"name": "Ada"}, "wa_id": "16315551181"}],
            "messages": list(messages),
        },
        meta.Value,
    )


def message(kind: str, body: dict[str, Any] | list[Any], **extra: Any) -> dict[str, Any]:
    return {"from": "16315551181", "id": f"wamid.{kind}", "timestamp": "1504902988", "type": kind, kind: body, **extra}


@pytest.mark.parametrize(
    ("raw", "text", "media_id", "reply_to"),
    [
        (message("text", {"body": "this is a text message"}), "this is a text message", None, None),
        (message("image", {"id": "m-1", "mime_type": "image/jpeg", "caption": "receipt"}), "receipt", "m-1", None),
        (message("document", {"id": "m-2", "filename": "a.pdf"}), None, "m-2", None),
        (message("audio", {"id": "m-3", "voice": True}), None, "m-3", None),
        (message("sticker", {"id": "m-4", "animated": False}), None, "m-4", None),
        (
            message("interactive", {"type": "button_reply", "button_reply": {"id": "yes", "title": "Yes"}}),
            "Yes",
            None,
            None,
        ),
        (
            message("interactive", {"type": "list_reply", "list_reply": {"id": "r2", "title": "Tuesday"}}),
            "Tuesday",
            None,
            None,
        ),
        (message("button", {"payload": "STOP", "text": "Stop promotions"}), "Stop promotions", None, None),
        (message("reaction", {"message_id": "wamid.ours", "emoji": "👍"}), "👍", None, "wamid.ours"),
        (message("location", {"latitude": 52.52, "longitude": 13.4, "name": "Office"}), "Office", None, None),
        (
            message("contacts", [{"name": {"formatted_name": "Grace Hopper"}, "phones": []}]),
            "Grace Hopper",
            None,
            None,
        ),
        (message("unsupported", {}, errors=[{"code": 131051, "title": "Unsupported"}]), None, None, None),
        (
            message("text", {"body": "yes please"}, context={"from": "15550100001", "id": "wamid.ours"}),
            None,
            None,
            None,
        ),
    ],
)
def test_each_type_is_read_and_kept_whole(
    raw: dict[str, Any], text: str | None, media_id: str | None, reply_to: str | None
) -> None:
    (found,) = meta.inbound(value(raw), SENDER, raw_event_id=7)
    assert found.type == raw["type"]
    assert found.payload == raw
    assert found.from_number == "+16315551181"
    assert found.profile_name == "Ada"
    assert found.occurred_at == datetime.fromtimestamp(1504902988, UTC)
    assert found.raw_event_id == 7 and found.sender_id == SENDER
    if "context" in raw:
        assert (found.text, found.reply_to) == ("yes please", "wamid.ours")
    else:
        assert (found.text, found.media_id, found.reply_to) == (text, media_id, reply_to)


def test_entries_without_an_id_or_a_sender_are_skipped() -> None:
    good = message("text", {"body": "hi"})
    assert [m.provider_message_id for m in meta.inbound(value({"type": "text"}, {"id": "x"}, good), SENDER, None)] == [
        "wamid.text"
    ]


def test_a_contact_without_a_profile_still_gives_the_message() -> None:
    (found,) = meta.inbound(value(message("text", {"body": "hi"}), contacts=[{"wa_id": "16315551181"}]), SENDER, None)
    assert found.profile_name is None and found.text == "hi"
