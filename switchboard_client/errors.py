"""Typed errors from ``google.rpc.Status``: the kind, the stable reason, the fields at fault, and
when to retry."""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

__all__ = [
    "BudgetExceeded",
    "FailedPrecondition",
    "FieldViolation",
    "InvalidArgument",
    "NotFound",
    "ResourceExhausted",
    "SwitchboardError",
    "Unauthenticated",
    "Unavailable",
    "from_rpc_error",
]


@dataclass(frozen=True, slots=True)
class FieldViolation:
    field: str  # dotted, e.g. "template.params.body"
    reason: str  # a stable rule, e.g. "e164"
    description: str


@dataclass
class SwitchboardError(Exception):
    code: grpc.StatusCode
    message: str
    reason: str = ""  # google.rpc.ErrorInfo.reason, e.g. INVALID, QUOTA_EXHAUSTED
    violations: list[FieldViolation] = field(default_factory=list)
    retry_after: float | None = None  # seconds, from google.rpc.RetryInfo

    def __str__(self) -> str:
        fields = "; ".join(f"{v.field}: {v.description}" for v in self.violations)
        return f"{self.code.name}: {self.message}" + (f" ({fields})" if fields else "")


class InvalidArgument(SwitchboardError):
    """The request breaks a rule; ``violations`` names the fields. Fix it; do not retry as is."""


class NotFound(SwitchboardError):
    """No such resource for this tenant (another tenant's ids answer the same)."""


class Unauthenticated(SwitchboardError):
    """The API key is missing, wrong or revoked."""


class ResourceExhausted(SwitchboardError):
    """A rate (retry after ``retry_after``) or a monthly quota (``reason`` QUOTA_EXHAUSTED)."""


class FailedPrecondition(SwitchboardError):
    """Not possible in the resource's current state."""


class BudgetExceeded(FailedPrecondition):
    """The tenant's monthly budget would be exceeded: raise it (UpdateBudget) or wait for next month."""


class Unavailable(SwitchboardError):
    """The server could not be reached in time, after the client's retries."""


_BY_CODE: dict[grpc.StatusCode, type[SwitchboardError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: Unavailable,
}


def from_rpc_error(error: grpc.aio.AioRpcError) -> SwitchboardError:
    """The typed error for a failed call, with the details the server packed."""
    reason, violations, retry_after = "", [], None
    status = rpc_status.from_call(error)
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations = [FieldViolation(v.field, v.reason, v.description) for v in bad.field_violations]
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            retry_after = retry.retry_delay.ToMilliseconds() / 1000
    kind = _BY_CODE.get(error.code(), SwitchboardError)
    if reason == "BUDGET_EXCEEDED":
        kind = BudgetExceeded
    return kind(error.code(), error.details() or "", reason, violations, retry_after)
