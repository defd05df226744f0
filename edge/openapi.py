"""The OpenAPI document's error responses: every /v1 operation lists the problems it can answer
with (RFC 9457, ``application/problem+json``), each status naming its problem types, and the
creating POSTs document their ``Idempotency-Key`` header.

Litestar documents only the success response and a generic 400 (in a shape we do not send); this
rewrites the built document once, at start, from the same error table the edges use.
"""

from __future__ import annotations

from collections import defaultdict

from litestar.openapi.spec import (
    Components,
    OpenAPI,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Parameter,
    Reference,
    Schema,
)

from edge.rest import PROBLEM_JSON
from kernel.errors import KINDS, ErrorKind

__all__ = ["IDEMPOTENT_CREATES", "document_problems"]

_STRING = Schema(type=OpenAPIType.STRING)

PROBLEM = Schema(
    type=OpenAPIType.OBJECT,
    description="An RFC 9457 problem. `type` is stable per kind of error; `errors` names each field and rule broken.",
    required=["type", "title", "status", "detail"],
    properties={
        "type": Schema(type=OpenAPIType.STRING, description="A URI naming the kind of problem."),
        "title": _STRING,
        "status": Schema(type=OpenAPIType.INTEGER),
        "detail": _STRING,
        "reason": Schema(type=OpenAPIType.STRING, description="A stable UPPER_SNAKE reason, as in gRPC's ErrorInfo."),
        "instance": _STRING,
        "errors": Schema(
            type=OpenAPIType.ARRAY,
            items=Schema(
                type=OpenAPIType.OBJECT,
                required=["field", "rule", "description"],
                properties={
                    "field": Schema(type=OpenAPIType.STRING, description="Dotted path in the request."),
                    "rule": Schema(type=OpenAPIType.STRING, description="A stable rule name, e.g. e164."),
                    "description": _STRING,
                },
            ),
        ),
    },
)

# POSTs that take an Idempotency-Key through edge.idempotency (messages take theirs in the handler).
IDEMPOTENT_CREATES = frozenset({"/v1/credentials", "/v1/senders", "/v1/templates", "/v1/webhook-endpoints"})

_SUBMITS = frozenset({"/v1/messages", "/v1/messages:batch"})


def _kinds(path: str, method: str) -> list[ErrorKind]:
    kinds = [ErrorKind.UNAUTHENTICATED, ErrorKind.INVALID, ErrorKind.INTERNAL]
    if method in ("post", "put", "patch"):
        kinds += [ErrorKind.MALFORMED, ErrorKind.PAYLOAD_TOO_LARGE]
    if "{" in path:
        kinds.append(ErrorKind.NOT_FOUND)
    if method in ("post", "put", "patch", "delete"):
        kinds += [ErrorKind.CONFLICT, ErrorKind.FAILED_PRECONDITION]
    if path in _SUBMITS and method == "post":
        kinds += [ErrorKind.RATE_LIMITED, ErrorKind.QUOTA_EXHAUSTED, ErrorKind.BUDGET_EXCEEDED]
    if path.startswith("/v1/operator/"):
        kinds.remove(ErrorKind.UNAUTHENTICATED)
        kinds.insert(0, ErrorKind.UNAUTHENTICATED)  # an operator key (sbop_...), never a tenant's
    return kinds


def _response(kinds: list[ErrorKind]) -> OpenAPIResponse:
    lines = "; ".join(f"`{KINDS[k].type_uri(k)}` ({KINDS[k].title})" for k in kinds)
    return OpenAPIResponse(
        description=f"Problem types: {lines}.",
        content={PROBLEM_JSON: OpenAPIMediaType(schema=Reference(ref="#/components/schemas/Problem"))},
    )


def _idempotency_header(operation: Operation) -> None:
    parameters = list(operation.parameters or [])
    if any(isinstance(p, Parameter) and p.name.lower() == "idempotency-key" for p in parameters):
        return
    parameters.append(
        Parameter(
            name="Idempotency-Key",
            param_in="header",
            required=False,
            schema=Schema(type=OpenAPIType.STRING, max_length=255),
            description="The same key and request within 24 h replays the first answer; another request with "
            "the key: 422; while the first is still running: 409 with Retry-After.",
        )
    )
    operation.parameters = parameters


def document_problems(schema: OpenAPI) -> None:
    components = schema.components if isinstance(schema.components, Components) else Components()
    components.schemas = {**(components.schemas or {}), "Problem": PROBLEM}
    schema.components = components
    for path, item in (schema.paths or {}).items():
        if not path.startswith("/v1/"):
            continue
        for method in ("get", "post", "put", "patch", "delete"):
            operation: Operation | None = getattr(item, method, None)
            if operation is None:
                continue
            by_status: dict[int, list[ErrorKind]] = defaultdict(list)
            for kind in _kinds(path, method):
                by_status[KINDS[kind].http_status].append(kind)
            responses = dict(operation.responses or {})
            for status, kinds in sorted(by_status.items()):
                responses[str(status)] = _response(kinds)
            operation.responses = responses
            if method == "post" and path in IDEMPOTENT_CREATES:
                _idempotency_header(operation)
