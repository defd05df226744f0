"""Error kinds, and the one table that turns a kind into an HTTP status and a gRPC code.

Hierarchy::

    SwitchboardError            (kind, detail, field violations)
    ├── InvalidInput            INVALID: names the field and the rule
    ├── NotFound                NOT_FOUND: unknown ids and other tenants' ids alike
    └── Unauthenticated         UNAUTHENTICATED

Domain code raises these; the REST edge renders them as RFC 9457 problem+json and the gRPC edge as
``google.rpc.Status`` with details, both reading :data:`KINDS`. Nothing here knows HTTP or gRPC
libraries: gRPC codes are named, and the servicer layer looks them up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

__all__ = [
    "KINDS",
    "ErrorKind",
    "FailedPrecondition",
    "FieldViolation",
    "InvalidInput",
    "KindInfo",
    "NotFound",
    "SwitchboardError",
    "Throttled",
    "Unauthenticated",
    "parse_id",
    "schema_violation",
]

PROBLEM_BASE = "https://switchboard.dev/problems/"


class ErrorKind(StrEnum):
    INVALID = "invalid-request"
    MALFORMED = "malformed-request"
    UNAUTHENTICATED = "unauthenticated"
    PERMISSION_DENIED = "permission-denied"
    NOT_FOUND = "not-found"
    CONFLICT = "conflict"
    FAILED_PRECONDITION = "failed-precondition"
    PAYLOAD_TOO_LARGE = "payload-too-large"
    RATE_LIMITED = "rate-limited"
    QUOTA_EXHAUSTED = "quota-exhausted"
    BUDGET_EXCEEDED = "budget-exceeded"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"


@dataclass(frozen=True, slots=True)
class KindInfo:
    http_status: int
    grpc_code: str  # a grpc.StatusCode member name
    title: str

    def type_uri(self, kind: ErrorKind) -> str:
        return PROBLEM_BASE + kind.value


KINDS: dict[ErrorKind, KindInfo] = {
    ErrorKind.INVALID: KindInfo(422, "INVALID_ARGUMENT", "The request is not valid"),
    ErrorKind.MALFORMED: KindInfo(400, "INVALID_ARGUMENT", "The request body could not be read"),
    ErrorKind.UNAUTHENTICATED: KindInfo(401, "UNAUTHENTICATED", "Missing or invalid API key"),
    ErrorKind.PERMISSION_DENIED: KindInfo(403, "PERMISSION_DENIED", "Not allowed"),
    ErrorKind.NOT_FOUND: KindInfo(404, "NOT_FOUND", "Not found"),
    ErrorKind.CONFLICT: KindInfo(409, "ALREADY_EXISTS", "Conflicts with the current state"),
    ErrorKind.FAILED_PRECONDITION: KindInfo(409, "FAILED_PRECONDITION", "Not possible in the resource's current state"),
    ErrorKind.PAYLOAD_TOO_LARGE: KindInfo(413, "INVALID_ARGUMENT", "The request body is too large"),
    ErrorKind.RATE_LIMITED: KindInfo(429, "RESOURCE_EXHAUSTED", "Too many requests"),
    # Also 429, but a different problem type and QuotaFailure subject: "buy more", not "slow down".
    ErrorKind.QUOTA_EXHAUSTED: KindInfo(429, "RESOURCE_EXHAUSTED", "Quota exhausted for this period"),
    # The tenant's own spend cap: not a rate or a plan quota, and it does not reset by waiting
    # minutes; raising the budget (or the next month) lifts it.
    ErrorKind.BUDGET_EXCEEDED: KindInfo(402, "FAILED_PRECONDITION", "The month's budget would be exceeded"),
    ErrorKind.UNAVAILABLE: KindInfo(503, "UNAVAILABLE", "Temporarily unavailable"),
    ErrorKind.INTERNAL: KindInfo(500, "INTERNAL", "Internal error"),
}


@dataclass(frozen=True, slots=True)
class FieldViolation:
    field: str  # dotted path in the request, e.g. "template.params.body"
    rule: str  # a stable machine name, e.g. "e164"
    description: str


class SwitchboardError(Exception):
    kind: ErrorKind = ErrorKind.INTERNAL

    def __init__(
        self,
        detail: str,
        *,
        kind: ErrorKind | None = None,
        violations: tuple[FieldViolation, ...] = (),
        reason: str | None = None,
    ) -> None:
        super().__init__(detail)
        if kind is not None:
            self.kind = kind
        self.detail = detail
        self.violations = violations
        # A stable UPPER_SNAKE reason for google.rpc.ErrorInfo and the problem body.
        self.reason = reason or self.kind.name

    @property
    def info(self) -> KindInfo:
        return KINDS[self.kind]


class InvalidInput(SwitchboardError):
    kind = ErrorKind.INVALID

    def __init__(self, field: str, rule: str, description: str) -> None:
        super().__init__(f"{field}: {description}", violations=(FieldViolation(field, rule, description),))

    @classmethod
    def many(cls, violations: list[FieldViolation]) -> SwitchboardError:
        detail = "; ".join(f"{v.field}: {v.description}" for v in violations)
        return SwitchboardError(detail, kind=ErrorKind.INVALID, violations=tuple(violations))


class NotFound(SwitchboardError):
    kind = ErrorKind.NOT_FOUND


class FailedPrecondition(SwitchboardError):
    """The resource exists but is not in a state that allows this (e.g. retrying a delivered message)."""

    kind = ErrorKind.FAILED_PRECONDITION


class Throttled(SwitchboardError):
    """A limit refused the request: RATE_LIMITED (retry after ``retry_after`` seconds) or
    QUOTA_EXHAUSTED (until the period named by ``subject`` resets)."""

    def __init__(
        self,
        detail: str,
        *,
        kind: ErrorKind,
        subject: str,
        retry_after: float,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail, kind=kind)
        self.subject = subject  # google.rpc.QuotaFailure subject, e.g. "tenant:<id>:rate"
        self.retry_after = retry_after
        self.headers = headers or {}


class Unauthenticated(SwitchboardError):
    kind = ErrorKind.UNAUTHENTICATED


def parse_id(raw: str, what: str = "message") -> UUID:
    """An id from a path or request; a malformed id answers exactly like an unknown one."""
    try:
        return UUID(raw)
    except ValueError:
        raise NotFound(f"{what} {raw} not found") from None


_AT = re.compile(r"\s*-\s*at\s*`\$\.?([^`]*)`")
_UNKNOWN_FIELD = re.compile(r"unknown field `([^`]+)`")
_MISSING_FIELD = re.compile(r"missing required field `([^`]+)`")


def schema_violation(message: str, fallback: str = "body") -> FieldViolation:
    """A msgspec validation message ("Expected `int`, got `str` - at `$.port`") as a violation of
    the dotted field it is about ("port"), whichever edge decoded the request."""
    match = _AT.search(message)
    path = re.sub(r"\[(\d+)\]", r".\1", match.group(1)) if match and match.group(1) else ""
    named = _UNKNOWN_FIELD.search(message) or _MISSING_FIELD.search(message)
    if named:
        path = f"{path}.{named.group(1)}" if path else named.group(1)
    field = path or fallback
    return FieldViolation(field, "schema", _AT.sub("", message))
