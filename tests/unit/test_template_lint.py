"""The template linter: each rule refuses what Meta would refuse, naming the component and the
parameter, and accepts what Meta accepts, building the exact Cloud API components."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from messaging.schemas import ButtonParam, TemplateParams
from messaging.template_lint import Shape, _slot, lint, shape
from tenants.domain import Template

TRACK_ORDER = [
    {"type": "HEADER", "format": "IMAGE"},
    {"type": "BODY", "text": "Hi {{1}}, order {{2}} has shipped."},
    {"type": "FOOTER", "text": "Reply STOP to opt out"},
    {
        "type": "BUTTONS",
        "buttons": [
            {"type": "URL", "text": "Track", "url": "https://shop.example/track/{{1}}"},
            {"type": "QUICK_REPLY", "text": "Stop"},
            {"type": "COPY_CODE", "example": "SAVE10"},
            {"type": "PHONE_NUMBER", "text": "Call", "phone_number": "+14155550100"},
        ],
    },
]
WELCOME_NAMED = [
    {"type": "HEADER", "format": "TEXT", "text": "Welcome, {{first_name}}"},
    {"type": "BODY", "text": "Hello {{first_name}}, your code is {{code}}."},
]


def template(components: list[dict[str, Any]], parameter_format: str = "POSITIONAL") -> Shape:
    return shape(
        Template(
            id=uuid.uuid4(),
            tenant_id=uuid.uuid4(),
            waba_id="1",
            name="t",
            language="en_US",
            category="UTILITY",
            status="APPROVED",
            components=components,
            parameter_format=parameter_format,
        )
    )


def params(**given: Any) -> TemplateParams:
    return msgspec.convert(given, TemplateParams)


def rules(found: tuple[list[dict[str, Any]], list[Any]]) -> set[tuple[str, str]]:
    return {(v.field, v.rule) for v in found[1]}


def test_a_fitting_message_builds_the_components_meta_documents() -> None:
    components, problems = lint(
        template(TRACK_ORDER),
        params(
            header_media={"id": "123456789012345"},
            body=["Alex", "A12345"],
            buttons=[{"index": 0, "value": "A12345"}, {"index": 2, "value": "SAVE10"}],
        ),
    )
    assert problems == []
    assert components == [
        {"type": "header", "parameters": [{"type": "image", "image": {"id": "123456789012345"}}]},
        {"type": "body", "parameters": [{"type": "text", "text": "Alex"}, {"type": "text", "text": "A12345"}]},
        {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "A12345"}]},
        {
            "type": "button",
            "sub_type": "copy_code",
            "index": "2",
            "parameters": [{"type": "coupon_code", "coupon_code": "SAVE10"}],
        },
    ]


def test_positional_values_go_in_placeholder_order_not_text_order() -> None:
    shaped = template([{"type": "BODY", "text": "Order {{2}} for {{1}}"}])
    components, problems = lint(shaped, params(body=["Alex", "A1"]))
    assert problems == []
    assert components[0]["parameters"] == [{"type": "text", "text": "Alex"}, {"type": "text", "text": "A1"}]


def test_wrong_number_of_body_parameters() -> None:
    found = lint(template([{"type": "BODY", "text": "Hi {{1}} {{2}}"}]), params(body=["one"]))
    assert rules(found) == {("template.params.body", "param_count")}
    assert "expects 2 parameters, got 1" in found[1][0].description


def test_a_header_without_placeholders_takes_no_values() -> None:
    shaped = template([{"type": "HEADER", "format": "TEXT", "text": "Hello"}, {"type": "BODY", "text": "x"}])
    assert rules(lint(shaped, params(header=["extra"]))) == {("template.params.header", "param_count")}
    assert lint(shaped, params()) == ([], [])


def test_named_parameters_missing_and_extra() -> None:
    shaped = template(WELCOME_NAMED, "NAMED")
    found = lint(shaped, params(header={"first_name": "Ana"}, body={"first_name": "Ana", "coupon": "X"}))
    assert rules(found) == {("template.params.body", "missing_params"), ("template.params.body", "unknown_params")}
    assert "missing code" in found[1][0].description
    components, problems = lint(
        shaped, params(header={"first_name": "Ana"}, body={"first_name": "Ana", "code": "4242"})
    )
    assert problems == []
    assert components[1]["parameters"] == [
        {"type": "text", "parameter_name": "first_name", "text": "Ana"},
        {"type": "text", "parameter_name": "code", "text": "4242"},
    ]


def test_a_list_for_a_named_template_and_an_object_for_a_positional_one() -> None:
    assert rules(lint(template(WELCOME_NAMED, "NAMED"), params(header=["Ana"], body={"first_name": "A"}))) >= {
        ("template.params.header", "param_format")
    }
    assert rules(lint(template([{"type": "BODY", "text": "Hi {{1}}"}]), params(body={"1": "Ana"}))) == {
        ("template.params.body", "param_format")
    }


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("two\nlines", False),
        ("a\ttab", False),
        ("five     spaces", False),
        ("four    spaces", True),
        ("   ", False),
        ("plain text, punctuation & émojis 🎉", True),
    ],
)
def test_text_parameters_without_newlines_tabs_or_runs_of_spaces(value: str, ok: bool) -> None:
    found = lint(template([{"type": "BODY", "text": "Hi {{1}}"}]), params(body=[value]))
    assert (found[1] == []) is ok
    if not ok:
        assert {v.field for v in found[1]} == {"template.params.body.0"}


def test_header_and_body_lengths_as_rendered() -> None:
    shaped = template([{"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"}, {"type": "BODY", "text": "{{1}}"}])
    assert lint(shaped, params(header=["x" * 54], body=["b"]))[1] == []  # "Order " + 54 = 60
    assert rules(lint(shaped, params(header=["x" * 55], body=["b"]))) == {("template.params.header", "max_length")}
    assert rules(lint(shaped, params(header=["x"], body=["b" * 1025]))) == {("template.params.body", "max_length")}
    body_only = template([{"type": "BODY", "text": "{{1}}"}])
    assert lint(body_only, params(body=["b" * 1025]))[1] == []  # a lone body may be longer


@pytest.mark.parametrize(
    ("media", "field", "rule"),
    [
        ({"link": "/home/me/receipt.pdf"}, "template.params.header_media.link", "https_url"),
        ({"link": "file:///tmp/x.png"}, "template.params.header_media.link", "https_url"),
        ({"link": "http://cdn.example/x.png"}, "template.params.header_media.link", "https_url"),
        ({"id": "../x.png"}, "template.params.header_media.id", "media_id"),
        ({"link": "https://cdn.example/x.png", "id": "1"}, "template.params.header_media", "one_of"),
        ({}, "template.params.header_media", "one_of"),
        ({"id": "1", "filename": "x.png"}, "template.params.header_media.filename", "not_allowed"),
    ],
)
def test_header_media_must_be_an_https_url_or_a_media_id(media: dict[str, str], field: str, rule: str) -> None:
    shaped = template([{"type": "HEADER", "format": "IMAGE"}, {"type": "BODY", "text": "x"}])
    assert rules(lint(shaped, params(header_media=media))) == {(field, rule)}


def test_header_media_present_exactly_when_the_template_has_one() -> None:
    image = template([{"type": "HEADER", "format": "IMAGE"}, {"type": "BODY", "text": "x"}])
    assert rules(lint(image, params())) == {("template.params.header_media", "required")}
    assert lint(image, params(header_media={"link": "https://cdn.example/x.png"}))[1] == []
    text = template([{"type": "BODY", "text": "x"}])
    assert rules(lint(text, params(header_media={"id": "1"}))) == {("template.params.header_media", "not_allowed")}
    document = template([{"type": "HEADER", "format": "DOCUMENT"}, {"type": "BODY", "text": "x"}])
    components, problems = lint(document, params(header_media={"id": "77", "filename": "invoice.pdf"}))
    assert problems == []
    assert components[0]["parameters"][0] == {"type": "document", "document": {"id": "77", "filename": "invoice.pdf"}}


def test_buttons() -> None:
    shaped = template(TRACK_ORDER)
    base: dict[str, Any] = {"header_media": {"id": "1"}, "body": ["a", "b"]}
    full = [{"index": 0, "value": "A1"}, {"index": 2, "value": "C"}]
    assert lint(shaped, params(**base, buttons=full))[1] == []
    assert rules(lint(shaped, params(**base, buttons=[*full, {"index": 4, "value": "x"}]))) == {
        ("template.params.buttons.2.index", "out_of_range")
    }
    assert rules(lint(shaped, params(**base, buttons=[*full, {"index": 0, "value": "x"}]))) == {
        ("template.params.buttons.2.index", "duplicate")
    }
    assert rules(lint(shaped, params(**base, buttons=[full[0]]))) == {("template.params.buttons", "missing_button")}
    assert rules(lint(shaped, params(**base, buttons=[full[0], {"index": 2, "value": "x" * 16}]))) == {
        ("template.params.buttons.1.value", "max_length")
    }
    assert rules(lint(shaped, params(**base, buttons=[*full, {"index": 3, "value": "x"}]))) == {
        ("template.params.buttons.2.value", "not_allowed")
    }
    components, problems = lint(shaped, params(**base, buttons=[*full, {"index": 1, "value": "unsubscribe"}]))
    assert problems == []
    assert components[-1] == {
        "type": "button",
        "sub_type": "quick_reply",
        "index": "1",
        "parameters": [{"type": "payload", "payload": "unsubscribe"}],
    }


def test_a_url_button_without_placeholder_takes_no_value_and_long_urls_are_refused() -> None:
    static = template(
        [{"type": "BODY", "text": "x"}, {"type": "BUTTONS", "buttons": [{"type": "URL", "url": "https://a.example"}]}]
    )
    assert rules(lint(static, params(buttons=[{"index": 0, "value": "x"}]))) == {
        ("template.params.buttons.0.value", "not_allowed")
    }
    dynamic = template(
        [
            {"type": "BODY", "text": "x"},
            {"type": "BUTTONS", "buttons": [{"type": "URL", "url": "https://a.example/{{1}}"}]},
        ]
    )
    assert rules(lint(dynamic, params(buttons=[{"index": 0, "value": "x" * 2000}]))) == {
        ("template.params.buttons.0.value", "max_length")
    }


# -- property: the linter accepts exactly the parameter shapes that fit, and renders every value --

value = st.text(alphabet="abcdefghij XYZ0123", min_size=1, max_size=12).filter(lambda v: v.strip() != "")
BUTTON_TYPES = ["URL_DYNAMIC", "URL_STATIC", "QUICK_REPLY", "COPY_CODE", "PHONE_NUMBER"]


@st.composite
def cases(draw: st.DrawFn) -> tuple[list[dict[str, Any]], bool, TemplateParams, bool]:
    named = draw(st.booleans())
    body_names = [f"p{i}" if named else str(i + 1) for i in range(draw(st.integers(0, 4)))]
    header = draw(st.booleans())
    button_types = draw(st.lists(st.sampled_from(BUTTON_TYPES), max_size=3))

    def ref(name: str) -> str:
        return "{{" + name + "}}"

    components: list[dict[str, Any]] = []
    if header:
        components.append({"type": "HEADER", "format": "TEXT", "text": "H " + ref("h" if named else "1")})
    components.append({"type": "BODY", "text": "B " + " ".join(ref(n) for n in body_names)})
    if button_types:
        buttons = []
        for kind in button_types:
            if kind == "URL_DYNAMIC":
                buttons.append({"type": "URL", "url": "https://x.example/" + ref("1")})
            elif kind == "URL_STATIC":
                buttons.append({"type": "URL", "url": "https://x.example/"})
            else:
                buttons.append({"type": kind})
        components.append({"type": "BUTTONS", "buttons": buttons})

    fits = True
    # Body: right names/count, or a perturbation.
    body_count = len(body_names) + draw(st.sampled_from([0, 0, 0, -1, 1]))
    if body_count < 0:
        body_count = 0
    fits &= body_count == len(body_names)
    body_values = [draw(value) for _ in range(body_count)]
    body: list[str] | dict[str, str]
    if named:
        names = body_names[:body_count] + [f"extra{i}" for i in range(body_count - len(body_names))]
        body = dict(zip(names, body_values, strict=True))
    else:
        body = body_values
    header_values: list[str] | dict[str, str] = []
    give_header = draw(st.booleans()) if header else draw(st.sampled_from([False, False, True]))
    fits &= give_header == header
    if give_header:
        header_values = {"h": draw(value)} if named else [draw(value)]
    given_buttons = []
    for index, kind in enumerate(button_types):
        required = kind in ("URL_DYNAMIC", "COPY_CODE")
        takes = required or kind == "QUICK_REPLY"
        give = draw(st.booleans())
        if give:
            given_buttons.append(ButtonParam(index=index, value=draw(value)))
        fits &= (give and takes) or (not give and not required)
    return components, named, TemplateParams(header=header_values, body=body, buttons=given_buttons), fits


def _values(given: list[str] | dict[str, str]) -> list[str]:
    return list(given.values()) if isinstance(given, dict) else given


@given(cases())
def test_the_linter_accepts_exactly_the_shapes_that_fit(case: tuple[list[dict[str, Any]], bool, Any, bool]) -> None:
    components, named, given_params, fits = case
    built, problems = lint(template(components, "NAMED" if named else "POSITIONAL"), given_params)
    assert (problems == []) is fits, problems
    if fits:
        # Each value is sent once, under the key its parameter type names (text, payload, coupon_code).
        sent = [p[p["type"]] for c in built for p in c["parameters"]]
        expected = [*_values(given_params.header), *_values(given_params.body)]
        expected += [b.value for b in given_params.buttons]
        assert sorted(sent) == sorted(expected)
    else:
        assert all(v.field.startswith("template.params") for v in problems)


_WORDS = st.text(alphabet="ab {}_1", max_size=12)


@given(
    st.lists(st.one_of(_WORDS, st.sampled_from(["{{1}}", "{{ 2 }}", "{{name}}", "{{1}}"])), max_size=8),
    st.dictionaries(st.sampled_from(["1", "2", "name"]), st.text(max_size=20)),
)
def test_a_texts_length_is_known_without_filling_it_in(parts: list[str], values: dict[str, str]) -> None:
    # The linter checks lengths through rendered_length on every message; it must equal the real thing.
    slot = _slot("".join(parts), named=False)
    assert slot.rendered_length(values) == len(slot.render(values))
