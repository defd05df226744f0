"""gRPC edge plumbing: authentication from metadata, and rich error statuses.

Domain errors become ``google.rpc.Status`` with ``ErrorInfo`` (stable reason, problem type URI) and,
for invalid input, ``BadRequest`` field violations: the same kinds and fields REST reports.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

import grpc
import msgspec
from google.protobuf import json_format
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from kernel.db import Connection, Pool
from kernel.errors import KINDS, ErrorKind, InvalidInput, SwitchboardError, Throttled, schema_violation
from tenants.auth import authenticate
from tenants.domain import Principal
from tenants.operators import authenticate_operator

__all__ = [
    "authenticated",
    "authenticated_operator",
    "authorization",
    "from_proto",
    "rich_status",
    "timestamp",
    "to_proto",
    "translate_errors",
]

log = logging.getLogger("switchboard.grpc")

DOMAIN = "switchboard.dev"


def rich_status(error: SwitchboardError) -> grpc.Status:
    info = KINDS[error.kind]
    code = getattr(code_pb2, info.grpc_code)
    status = status_pb2.Status(code=code, message=error.detail)
    status.details.add().Pack(
        error_details_pb2.ErrorInfo(reason=error.reason, domain=DOMAIN, metadata={"type": info.type_uri(error.kind)})
    )
    if isinstance(error, Throttled):
        status.details.add().Pack(
            error_details_pb2.QuotaFailure(
                violations=[error_details_pb2.QuotaFailure.Violation(subject=error.subject, description=error.detail)]
            )
        )
        retry = error_details_pb2.RetryInfo()
        retry.retry_delay.FromMilliseconds(int(error.retry_after * 1000))
        status.details.add().Pack(retry)
    if error.violations:
        status.details.add().Pack(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description, reason=v.rule)
                    for v in error.violations
                ]
            )
        )
    return rpc_status.to_status(status)


def authorization(context: grpc.aio.ServicerContext[Any, Any]) -> str | None:
    """The call's ``authorization`` metadata (``Bearer <api key>``), if it has one."""
    value = dict(context.invocation_metadata() or ()).get("authorization")
    return value if isinstance(value, str) else None


async def authenticated(db: Pool | Connection, context: grpc.aio.ServicerContext[Any, Any]) -> Principal:
    return await authenticate(db, authorization(context))


async def authenticated_operator(pool: Pool, context: grpc.aio.ServicerContext[Any, Any]) -> UUID:
    """The operator key's id (operator services only; a tenant's key is refused)."""
    return await authenticate_operator(pool, authorization(context))


T = TypeVar("T")
M = TypeVar("M", bound=Message)


def from_proto(message: Message, into: type[T], **extra: Any) -> T:
    """A request message as the service layer's input struct, validated by the same schema REST
    decodes into: the proto mirrors the struct's field names, so the rules live in one place."""
    data = json_format.MessageToDict(message, preserving_proto_field_name=True)
    data.update(extra)
    try:
        return msgspec.convert(data, into)
    except msgspec.ValidationError as error:
        raise InvalidInput.many([schema_violation(str(error), fallback="request")]) from None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def timestamp(value: datetime | None) -> Timestamp | None:
    """A datetime (naive means UTC) as a protobuf Timestamp (None stays unset). Built from the
    difference to the epoch: ``Timestamp.FromDatetime`` is pure Python and three times slower,
    and a message carries up to three of these."""
    if value is None:
        return None
    since = (value if value.tzinfo is not None else value.replace(tzinfo=UTC)) - _EPOCH
    return Timestamp(seconds=since.days * 86_400 + since.seconds, nanos=since.microseconds * 1000)


def to_proto(view: msgspec.Struct, into: type[M]) -> M:
    """A service-layer view struct as a response message (fields matched by name)."""
    built = into()
    json_format.ParseDict(msgspec.to_builtins(view), built, ignore_unknown_fields=True)
    return built


Req = TypeVar("Req")
Resp = TypeVar("Resp")
Self = TypeVar("Self")


def translate_errors(
    method: Callable[[Self, Req, grpc.aio.ServicerContext[Req, Resp]], Awaitable[Resp]],
) -> Callable[[Self, Req, grpc.aio.ServicerContext[Req, Resp]], Awaitable[Resp]]:
    """Turn domain errors into rich statuses and anything unexpected into a bare INTERNAL."""

    @functools.wraps(method)
    async def wrapper(self: Self, request: Req, context: grpc.aio.ServicerContext[Req, Resp]) -> Resp:
        try:
            return await method(self, request, context)
        except SwitchboardError as error:
            await context.abort_with_status(rich_status(error))
        except grpc.aio.AbortError:
            raise
        except Exception:
            log.exception("unhandled error", extra={"fields": {"method": method.__name__}})
            await context.abort_with_status(
                rich_status(SwitchboardError("an internal error occurred; it has been logged", kind=ErrorKind.INTERNAL))
            )
        raise AssertionError("abort_with_status returns only by raising")

    return wrapper
