"""The OpenAPI document's error responses: every /v1 operation lists the problems it can answer
with (RFC 9457, ``application/problem+json``), each status naming its problem types, and the
creating POSTs document their ``Idempotency-Key`` header. Every request body gets its runnable
example (:mod:`edge.examples`), and a union's tag field its description.

Litestar documents only the success response and a generic 400 (in a shape we do not send); this
rewrites the built document once, at start, from the same error table the edges use.
"""

from __future__ import annotations

from collections import defaultdict

from litestar.openapi.spec import (
    Components,
    Example,
    OpenAPI,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Parameter,
    Reference,
    Schema,
)

from edge.examples import EXAMPLES
from edge.rest import PROBLEM_JSON
from kernel.errors import KINDS, ErrorKind
from kernel.pagination import DEFAULT_PAGE, MAX_PAGE

__all__ = ["IDEMPOTENT_CREATES", "document_problems"]


PROBLEM = Schema(
    type=OpenAPIType.OBJECT,
    description="An RFC 9457 problem. `type` is stable per kind of error; `errors` names each field and rule broken.",
    required=["type", "title", "status", "detail"],
    properties={
        "type": Schema(type=OpenAPIType.STRING, description="A URI naming the kind of problem."),
        "title": Schema(type=OpenAPIType.STRING, description="A short summary of the kind of problem."),
        "status": Schema(type=OpenAPIType.INTEGER, description="The HTTP status of the response."),
        "detail": Schema(type=OpenAPIType.STRING, description="What went wrong this time, in words."),
        "reason": Schema(type=OpenAPIType.STRING, description="A stable UPPER_SNAKE reason, as in gRPC's ErrorInfo."),
        "instance": Schema(type=OpenAPIType.STRING, description="The request's path."),
        "errors": Schema(
            type=OpenAPIType.ARRAY,
            description="Every field and rule the request broke (invalid requests only).",
            items=Schema(
                type=OpenAPIType.OBJECT,
                required=["field", "rule", "description"],
                properties={
                    "field": Schema(type=OpenAPIType.STRING, description="Dotted path in the request."),
                    "rule": Schema(type=OpenAPIType.STRING, description="A stable rule name, e.g. e164."),
                    "description": Schema(type=OpenAPIType.STRING, description="The rule, in words."),
                },
            ),
        ),
    },
)

# POSTs that take an Idempotency-Key through edge.idempotency (messages take theirs in the handler).
IDEMPOTENT_CREATES = frozenset({"/v1/credentials", "/v1/senders", "/v1/templates", "/v1/webhook-endpoints"})

_SUBMITS = frozenset({"/v1/messages", "/v1/messages:batch"})

# Parameters by name: each means the same wherever it appears (path ids are described by rule).
_PARAMETERS = {
    "cursor": "`next_cursor` from the previous page; omit it for the first page.",
    "limit": f"Items per page, 1 to {MAX_PAGE} ({DEFAULT_PAGE} when omitted).",
    "status": "Only messages in this status: queued, submitted, sent, delivered, read or failed.",
    "channel": "Only messages asked for on this channel (whatsapp).",
    "to": "Only messages to this recipient, in E.164.",
    "from": "Only messages from this contact, in E.164.",
    "since": "Only what was created at or after this time (RFC 3339, with its offset).",
    "until": "The first day not counted, YYYY-MM-DD (UTC).",
    "month": "The month, YYYY-MM (UTC).",
    "plan_id": "The plan's name.",
    "event_id": "The event's id: its `webhook-id` header.",
    "Idempotency-Key": "Up to 255 printable characters. The same key and body within 24 h answer with the message "
    "stored the first time (`Idempotent-Replayed: true`), not a second one; another body with the key: 422. In a "
    "batch, message i uses `<key>:<i>`.",
}
_USAGE_SINCE = "The first day counted, YYYY-MM-DD (UTC)."


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
            _example(operation, method, path)
            _describe_parameters(operation, path)
    _describe_tags(components)


def _describe_parameters(operation: Operation, path: str) -> None:
    for parameter in operation.parameters or []:
        if not isinstance(parameter, Parameter) or parameter.description:
            continue
        if parameter.name == "since" and path == "/v1/usage":
            parameter.description = _USAGE_SINCE
        elif parameter.name in _PARAMETERS:
            parameter.description = _PARAMETERS[parameter.name]
        elif parameter.name.endswith("_id"):
            parameter.description = f"The {parameter.name.removesuffix('_id').replace('_', ' ')}'s id."


def _example(operation: Operation, method: str, path: str) -> None:
    body = operation.request_body
    if body is None or isinstance(body, Reference) or (method, path) not in EXAMPLES:
        return
    summary, value = EXAMPLES[method, path]
    for media in body.content.values():
        media.examples = {"example": Example(summary=summary, value=value)}


def _describe_tags(components: Components) -> None:
    """A tagged union's tag (``kind``) is a constant Litestar leaves undescribed."""
    for schema in (components.schemas or {}).values():
        for name, prop in (schema.properties or {}).items():
            if isinstance(prop, Schema) and prop.const is not None and not prop.description:
                prop.description = f"Always `{prop.const}`: which of the `{name}` shapes this is."
