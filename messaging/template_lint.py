"""The template linter: a message's parameters checked against the template Meta approved, and the
Cloud API ``components`` built from them (pure: no I/O).

Everything Meta would refuse after queueing (132000 parameter count mismatch, 132005 text too long,
132012 format mismatch, 132018 newlines in a parameter, 131008 missing parameter, ...) is refused
here instead, with the exact component and parameter named. A template's :class:`Shape` is parsed
once and cached with its route (:mod:`tenants.routing`); :func:`lint` then costs microseconds.

Limits (Meta's, as of Graph API v23): a text header renders to at most 60 characters; the body to
at most 1,024 (32,768 when the body is the template's only component); a URL button's final URL to
2,000; copy-code and one-time-password values to 15. A text parameter may not hold a newline, a
tab or more than four consecutive spaces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from kernel.errors import FieldViolation
from messaging.schemas import ButtonParam, HeaderMedia, TemplateParams
from tenants.domain import Template

__all__ = ["ButtonShape", "Shape", "Slot", "lint", "shape"]

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
HEADER_MAX = 60
BODY_MAX = 1024
BODY_ALONE_MAX = 32768
URL_MAX = 2000
CODE_MAX = 15
_BAD_TEXT = re.compile(r"[\n\r\t]| {5,}")
_MEDIA_ID = re.compile(r"[0-9]{1,40}")
MEDIA_FORMATS = {"IMAGE": "image", "VIDEO": "video", "DOCUMENT": "document"}
# Button types that take a value when sent, and the sub_type Meta expects for each.
_SUB_TYPES = {"URL": "url", "QUICK_REPLY": "quick_reply", "COPY_CODE": "copy_code", "OTP": "url"}

PREFIX = "template.params"
_FIELDS = {part: f"{PREFIX}.{part}" for part in ("header", "body")}  # built once: every message names them


@dataclass(frozen=True, slots=True)
class Slot:
    """A text with placeholders: their names in order (``"1"``, ``"2"``... when positional)."""

    text: str
    names: tuple[str, ...]
    # Every placeholder as it occurs (a name may occur twice), with its own length: enough to know
    # a filled-in text's length without building it, on every message's path.
    occurrences: tuple[tuple[str, int], ...] = ()

    def render(self, values: dict[str, str]) -> str:
        return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), self.text)

    def rendered_length(self, values: dict[str, str]) -> int:
        """``len(self.render(values))``."""
        length = len(self.text)
        for name, token in self.occurrences:
            value = values.get(name)
            if value is not None:
                length += len(value) - token
        return length


@dataclass(frozen=True, slots=True)
class ButtonShape:
    index: int
    type: str
    url: Slot | None  # a URL button's url, when it has a placeholder

    @property
    def sub_type(self) -> str | None:
        """Meta's ``sub_type`` when the button takes a value, else None."""
        if self.type == "URL" and self.url is None:
            return None
        return _SUB_TYPES.get(self.type)

    @property
    def required(self) -> bool:
        return self.sub_type is not None and self.type != "QUICK_REPLY"


@dataclass(frozen=True, slots=True)
class Shape:
    named: bool
    header: Slot | None  # a TEXT header
    media: str | None  # image, video or document, for a media header
    body: Slot
    body_max: int
    buttons: tuple[ButtonShape, ...]


def _slot(text: str, named: bool) -> Slot:
    occurrences = tuple((m.group(1), len(m.group(0))) for m in PLACEHOLDER.finditer(text))
    found = dict.fromkeys(name for name, _ in occurrences)
    names = tuple(found) if named else tuple(sorted(found, key=lambda n: int(n) if n.isdigit() else 0))
    return Slot(text, names, occurrences)


def shape(template: Template) -> Shape:
    named = template.parameter_format.upper() == "NAMED"
    header: Slot | None = None
    media: str | None = None
    body = Slot("", ())
    buttons: list[ButtonShape] = []
    kinds = set()
    for component in template.components:
        kind = str(component.get("type", "")).upper()
        kinds.add(kind)
        if kind == "HEADER":
            form = str(component.get("format", "TEXT")).upper()
            if form == "TEXT":
                header = _slot(str(component.get("text", "")), named)
            else:
                media = MEDIA_FORMATS.get(form)
        elif kind == "BODY":
            body = _slot(str(component.get("text", "")), named)
        elif kind == "BUTTONS":
            for index, button in enumerate(component.get("buttons") or []):
                button_type = str(button.get("type", "")).upper()
                url = str(button.get("url", ""))
                slot = _slot(url, False) if button_type == "URL" and PLACEHOLDER.search(url) else None
                buttons.append(ButtonShape(index, button_type, slot))
    return Shape(named, header, media, body, BODY_MAX if kinds - {"BODY"} else BODY_ALONE_MAX, tuple(buttons))


def _text_problems(field: str, value: str, name: object = None) -> list[FieldViolation]:
    """The rules a parameter's text breaks; its field is ``field``, or ``field.name`` when a name is
    given (built only when there is a problem: this runs for every parameter of every message)."""
    if value.strip() and not _BAD_TEXT.search(value):
        return []
    if name is not None:
        field = f"{field}.{name}"
    if not value.strip():
        return [FieldViolation(field, "required", "must not be empty")]
    return [
        FieldViolation(field, "text_format", "must not contain newlines, tabs or more than four consecutive spaces")
    ]


def _values(
    part: str, slot: Slot | None, given: list[str] | dict[str, str], named: bool, problems: list[FieldViolation]
) -> dict[str, str] | None:
    """The values by placeholder name, or None (and problems) when they do not fit the slot."""
    field = _FIELDS[part]
    names = slot.names if slot else ()
    if not given:
        given = {} if named else []
    if isinstance(given, dict) != named:
        shape_name = "an object of named values" if named else "a list of values in placeholder order"
        problems.append(
            FieldViolation(
                field,
                "param_format",
                f"this template uses {'named' if named else 'positional'} parameters: give {shape_name}",
            )
        )
        return None
    before = len(problems)
    if isinstance(given, dict):
        missing = [n for n in names if n not in given]
        extra = sorted(n for n in given if n not in names)
        if missing:
            problems.append(FieldViolation(field, "missing_params", f"missing {', '.join(missing)}"))
        if extra:
            problems.append(
                FieldViolation(
                    field, "unknown_params", f"{', '.join(extra)} not in the template (it has: {', '.join(names)})"
                )
            )
        values = {n: given[n] for n in names if n in given}
        for name, value in values.items():
            problems.extend(_text_problems(field, value, name))
    else:
        if len(given) != len(names):
            problems.append(FieldViolation(field, "param_count", f"expects {len(names)} parameters, got {len(given)}"))
        for i, value in enumerate(given):
            problems.extend(_text_problems(field, value, i))
        values = dict(zip(names, given, strict=False))
    return values if len(problems) == before else None


def _parameters(slot: Slot, values: dict[str, str], named: bool) -> list[dict[str, Any]]:
    if named:
        return [{"type": "text", "parameter_name": n, "text": values[n]} for n in slot.names]
    return [{"type": "text", "text": values[n]} for n in slot.names]


def _media(kind: str, media: HeaderMedia, problems: list[FieldViolation]) -> dict[str, Any] | None:
    field = f"{PREFIX}.header_media"
    if (media.link is None) == (media.id is None):
        problems.append(FieldViolation(field, "one_of", "give exactly one of link (an https URL) or id (a media id)"))
        return None
    if media.link is not None and not (media.link.startswith("https://") and len(media.link) > len("https://")):
        problems.append(
            FieldViolation(
                f"{field}.link", "https_url", "must be an https:// URL Meta can fetch (not a local path or http)"
            )
        )
        return None
    if media.id is not None and not _MEDIA_ID.fullmatch(media.id):
        problems.append(FieldViolation(f"{field}.id", "media_id", "must be a media id from the upload API (digits)"))
        return None
    if media.filename is not None and kind != "document":
        problems.append(FieldViolation(f"{field}.filename", "not_allowed", "only a document header has a filename"))
        return None
    body: dict[str, Any] = {"link": media.link} if media.link is not None else {"id": media.id}
    if media.filename is not None:
        body["filename"] = media.filename
    return {"type": kind, kind: body}


def _button(shape: ButtonShape, given: ButtonParam, field: str, problems: list[FieldViolation]) -> dict[str, Any]:
    sub_type = shape.sub_type
    value = given.value
    before = len(problems)
    if sub_type is None:
        problems.append(
            FieldViolation(f"{field}.value", "not_allowed", f"button {shape.index} ({shape.type}) takes no value")
        )
    elif shape.type == "URL":
        assert shape.url is not None
        problems.extend(_text_problems(field, value, "value"))
        length = shape.url.rendered_length(dict.fromkeys(shape.url.names, value))
        if length > URL_MAX:
            problems.append(
                FieldViolation(f"{field}.value", "max_length", f"the button's URL would be {length} > {URL_MAX}")
            )
    elif shape.type in ("COPY_CODE", "OTP"):
        problems.extend(_text_problems(field, value, "value"))
        if len(value) > CODE_MAX:
            problems.append(FieldViolation(f"{field}.value", "max_length", f"at most {CODE_MAX} characters"))
    elif not value:
        problems.append(FieldViolation(f"{field}.value", "required", "must not be empty"))
    if len(problems) != before:
        return {}
    parameter: dict[str, Any]
    if shape.type == "QUICK_REPLY":
        parameter = {"type": "payload", "payload": value}
    elif shape.type == "COPY_CODE":
        parameter = {"type": "coupon_code", "coupon_code": value}
    else:
        parameter = {"type": "text", "text": value}
    return {"type": "button", "sub_type": sub_type, "index": str(shape.index), "parameters": [parameter]}


def _buttons(shape: Shape, given: list[ButtonParam], problems: list[FieldViolation]) -> list[dict[str, Any]]:
    built: list[dict[str, Any]] = []
    seen: set[int] = set()
    for position, button in enumerate(given):
        field = f"{PREFIX}.buttons.{position}"
        if not 0 <= button.index < len(shape.buttons):
            has = f"0 to {len(shape.buttons) - 1}" if shape.buttons else "none"
            problems.append(
                FieldViolation(f"{field}.index", "out_of_range", f"button {button.index} does not exist (has: {has})")
            )
            continue
        if button.index in seen:
            problems.append(FieldViolation(f"{field}.index", "duplicate", f"button {button.index} given twice"))
            continue
        seen.add(button.index)
        component = _button(shape.buttons[button.index], button, field, problems)
        if component:
            built.append(component)
    for button_shape in shape.buttons:
        if button_shape.required and button_shape.index not in seen:
            problems.append(
                FieldViolation(
                    f"{PREFIX}.buttons",
                    "missing_button",
                    f"button {button_shape.index} ({button_shape.type}) needs a value: "
                    f'{{"index": {button_shape.index}, "value": "..."}}',
                )
            )
    return built


def lint(shape: Shape, params: TemplateParams) -> tuple[list[dict[str, Any]], list[FieldViolation]]:
    """The Cloud API components for these parameters, and every rule they break (empty when none)."""
    problems: list[FieldViolation] = []
    components: list[dict[str, Any]] = []

    header_values = _values("header", shape.header, params.header, shape.named, problems)
    if header_values is not None and shape.header is not None and shape.header.names:
        length = shape.header.rendered_length(header_values)
        if length > HEADER_MAX:
            problems.append(
                FieldViolation(
                    f"{PREFIX}.header", "max_length", f"the header would be {length} characters > {HEADER_MAX}"
                )
            )
        else:
            components.append({"type": "header", "parameters": _parameters(shape.header, header_values, shape.named)})
    if shape.media is not None:
        if params.header_media is None:
            problems.append(
                FieldViolation(
                    f"{PREFIX}.header_media",
                    "required",
                    f"this template's header is a {shape.media}: give its link or id",
                )
            )
        else:
            parameter = _media(shape.media, params.header_media, problems)
            if parameter is not None:
                components.append({"type": "header", "parameters": [parameter]})
    elif params.header_media is not None:
        problems.append(FieldViolation(f"{PREFIX}.header_media", "not_allowed", "this template has no media header"))

    body_values = _values("body", shape.body, params.body, shape.named, problems)
    if body_values is not None and shape.body.names:
        length = shape.body.rendered_length(body_values)
        if length > shape.body_max:
            problems.append(
                FieldViolation(
                    f"{PREFIX}.body", "max_length", f"the body would be {length} characters > {shape.body_max}"
                )
            )
        else:
            components.append({"type": "body", "parameters": _parameters(shape.body, body_values, shape.named)})

    components.extend(_buttons(shape, params.buttons, problems))
    return components, problems
