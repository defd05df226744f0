"""REST edge plumbing: problem+json (RFC 9457) for every error, and the shared dependencies.

Every error a client can see goes through :func:`problem`, so each has a stable ``type`` URI from
:data:`kernel.errors.KINDS`; unexpected exceptions are logged with their traceback and answered
with a generic 500 that reveals nothing.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.exceptions import HTTPException, ValidationException
from litestar.handlers import BaseRouteHandler
from litestar.types import ExceptionHandlersMap

from kernel.db import Pool
from kernel.errors import KINDS, ErrorKind, FieldViolation, SwitchboardError, Throttled, schema_violation
from tenants.auth import authenticate
from tenants.domain import Principal
from tenants.operators import authenticate_operator
from tenants.quotas import Quotas, TenantQuota, for_caller
from tenants.vault import Vault

__all__ = [
    "EXCEPTION_HANDLERS",
    "PROBLEM_JSON",
    "domain_problem",
    "pool",
    "principal",
    "problem",
    "problem_body",
    "quota",
    "require_api_key",
    "require_operator_key",
    "unexpected_problem",
    "vault",
]

log = logging.getLogger("switchboard.http")

PROBLEM_JSON = "application/problem+json"

_STATUS_KINDS: dict[int, ErrorKind] = {
    info.http_status: kind
    for kind, info in KINDS.items()
    if kind not in (ErrorKind.MALFORMED, ErrorKind.QUOTA_EXHAUSTED)
}
_STATUS_KINDS[400] = ErrorKind.MALFORMED


def problem(
    kind: ErrorKind,
    detail: str,
    *,
    violations: tuple[FieldViolation, ...] = (),
    reason: str | None = None,
    headers: dict[str, str] | None = None,
    instance: str | None = None,
) -> Response[dict[str, Any]]:
    body = problem_body(kind, detail, violations=violations, reason=reason, instance=instance)
    return Response(body, status_code=KINDS[kind].http_status, media_type=PROBLEM_JSON, headers=headers)


def problem_body(
    kind: ErrorKind,
    detail: str,
    *,
    violations: tuple[FieldViolation, ...] = (),
    reason: str | None = None,
    instance: str | None = None,
) -> dict[str, Any]:
    """An RFC 9457 problem as a JSON object (a response body, or one item's error in a batch);
    ``instance`` is the request's path."""
    info = KINDS[kind]
    body: dict[str, Any] = {
        "type": info.type_uri(kind),
        "title": info.title,
        "status": info.http_status,
        "detail": detail,
        "reason": reason or kind.name,
    }
    if violations:
        body["errors"] = [{"field": v.field, "rule": v.rule, "description": v.description} for v in violations]
    if instance:
        body["instance"] = instance
    return body


def domain_problem(error: SwitchboardError, path: str) -> tuple[int, dict[str, str], dict[str, Any]]:
    """A domain error as its HTTP answer (status, headers, problem body): one mapping for the
    framework's exception handler and for :mod:`messaging.send_route`."""
    headers = {"WWW-Authenticate": "Bearer"} if error.kind is ErrorKind.UNAUTHENTICATED else {}
    if isinstance(error, Throttled):
        headers = {**error.headers, "Retry-After": str(max(1, math.ceil(error.retry_after)))}
    body = problem_body(error.kind, error.detail, violations=error.violations, reason=error.reason, instance=path)
    return error.info.http_status, headers, body


def _on_domain_error(request: Request[Any, Any, Any], error: SwitchboardError) -> Response[dict[str, Any]]:
    status, headers, body = domain_problem(error, request.url.path)
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers or None)


def _violation(item: dict[str, Any]) -> FieldViolation:
    """The request field a msgspec validation message is about (Litestar adds the source's key)."""
    key = item.get("key")
    return schema_violation(str(item.get("message", "invalid")), str(key) if key and key != "data" else "body")


def _on_validation_error(request: Request[Any, Any, Any], error: ValidationException) -> Response[dict[str, Any]]:
    items = error.extra if isinstance(error.extra, list) else []
    violations = tuple(_violation(item) for item in items if isinstance(item, dict))
    if not violations:
        return problem(ErrorKind.MALFORMED, str(error.detail), instance=request.url.path)
    detail = "; ".join(f"{v.field}: {v.description}" for v in violations)
    return problem(ErrorKind.INVALID, detail, violations=violations, instance=request.url.path)


def _on_http_error(request: Request[Any, Any, Any], error: HTTPException) -> Response[dict[str, Any]]:
    kind = _STATUS_KINDS.get(error.status_code)
    if kind is None:
        body = {
            "type": "about:blank",
            "title": str(error.detail),
            "status": error.status_code,
            "detail": str(error.detail),
        }
        return Response(body, status_code=error.status_code, media_type=PROBLEM_JSON, headers=error.headers)
    return problem(kind, str(error.detail), headers=error.headers, instance=request.url.path)


def unexpected_problem(path: str) -> tuple[int, dict[str, Any]]:
    """Log the exception being handled with its traceback; answer a problem that reveals nothing."""
    log.exception("unhandled error", extra={"fields": {"path": path}})
    body = problem_body(ErrorKind.INTERNAL, "an internal error occurred; it has been logged", instance=path)
    return KINDS[ErrorKind.INTERNAL].http_status, body


def _on_unexpected(request: Request[Any, Any, Any], error: Exception) -> Response[dict[str, Any]]:
    status, body = unexpected_problem(request.url.path)
    return Response(body, status_code=status, media_type=PROBLEM_JSON)


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    SwitchboardError: _on_domain_error,
    ValidationException: _on_validation_error,
    HTTPException: _on_http_error,
    Exception: _on_unexpected,
}


async def require_api_key(connection: ASGIConnection[Any, Any, Any, State], _: BaseRouteHandler) -> None:
    """Guard: authenticate before anything else, so a caller without a valid key learns nothing
    about its request body. The principal is kept in the request state (see :func:`principal`)."""
    if getattr(connection.state, "principal", None) is not None:
        return  # already authenticated by this request's IdempotentCreate middleware
    connection.state.principal = await authenticate(connection.app.state.pool, connection.headers.get("authorization"))


async def require_operator_key(connection: ASGIConnection[Any, Any, Any, State], _: BaseRouteHandler) -> None:
    """Guard for the operator endpoints: an operator key (sbop_...), never a tenant's."""
    connection.state.operator = await authenticate_operator(
        connection.app.state.pool, connection.headers.get("authorization")
    )


def principal(request: Request[Any, Any, State]) -> Principal:
    """The caller authenticated by :func:`require_api_key`."""
    found: Principal = request.state.principal
    return found


# Plain accessors rather than dependency injection: every handler here is on a hot path, and
# Litestar's DI costs about a tenth of a submit.
def pool(request: Request[Any, Any, State]) -> Pool:
    """The process's database pool (created in the app's lifespan)."""
    found: Pool = request.app.state.pool
    return found


def quotas(request: Request[Any, Any, State]) -> Quotas | None:
    """The process's quota gate, or None when quotas are off."""
    found: Quotas | None = request.app.state.quotas
    return found


def quota(request: Request[Any, Any, State]) -> TenantQuota | None:
    """The caller's quota for this request, or None when quotas are off."""
    return for_caller(quotas(request), principal(request))


def vault(request: Request[Any, Any, State]) -> Vault:
    """The process's vault (holds the master key; created in the app's lifespan)."""
    found: Vault = request.app.state.vault
    return found
