"""REST adapter for messages: decode, call the service, encode. No rules live here."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post, put
from litestar.datastructures import State
from litestar.params import Parameter

from edge.rest import pool, principal, problem_body, quota, quotas, require_api_key
from kernel.errors import parse_id
from kernel.pagination import DEFAULT_PAGE, MAX_PAGE
from messaging import batch, dead_letters, inbox, routing_policy, scheduling, service
from messaging.schemas import (
    BatchResult,
    BatchResults,
    ConversationList,
    DeadLetterList,
    EventList,
    InboundMessageList,
    MessageBatch,
    MessageList,
    MessageView,
    RoutingPolicy,
    SendMessage,
)

# Handlers reach the principal and the pool through the request (see edge.rest).
AnyRequest = Request[Any, Any, State]

__all__ = [
    "DeadLetterController",
    "InboundController",
    "MessageBatchController",
    "MessageController",
    "RoutingPolicyController",
    "sent_headers",
]


class MessageBatchController(Controller):
    # Its own controller: the path is /v1/messages:batch, a sibling of /v1/messages/{id}.
    path = "/v1"
    tags = ["messages"]
    guards = [require_api_key]
    security = [{"apiKey": []}]

    @post(
        "/messages:batch",
        status_code=200,
        summary="Submit many messages",
        description=(
            '`{"messages": [...]}` with up to the plan\'s `max_batch` messages (at most 1,000), each as '
            "`POST /v1/messages` takes it. Each is validated, limited and stored on its own: the answer lists "
            "every message's result in order (202 with the message, or its error as a problem). With an "
            "`Idempotency-Key`, message i uses `<key>:<i>`, so retrying the batch replays instead of resending."
        ),
    )
    async def send_batch(
        self,
        request: AnyRequest,
        data: MessageBatch,
        idempotency_key: Annotated[str | None, Parameter(header="Idempotency-Key", required=False)] = None,
    ) -> Response[BatchResults]:
        caller = principal(request)
        limits = quota(request)
        async with pool(request).acquire() as conn:
            items = await batch.submit_batch(
                conn,
                caller.tenant_id,
                data.messages,
                max_batch=caller.plan.max_batch,
                idempotency_key=idempotency_key,
                config_version=caller.config_version,
                quota=limits,
                budget=caller.monthly_budget,
            )
        results = [
            BatchResult(index=i.index, status=202, created=i.created, message=i.message)
            if i.error is None
            else BatchResult(
                index=i.index,
                status=i.error.info.http_status,
                error=problem_body(i.error.kind, i.error.detail, violations=i.error.violations, reason=i.error.reason),
            )
            for i in items
        ]
        accepted = sum(r.error is None for r in results)
        # The quota as the batch's last take left it, as a single send reports it.
        headers = limits.admission.headers() if limits is not None and limits.admission is not None else {}
        return Response(
            BatchResults(results=results, accepted=accepted, refused=len(results) - accepted), headers=headers
        )


def sent_headers(sent: service.Submitted) -> dict[str, str]:
    """The headers of a 202 to ``POST /v1/messages`` (here and in :mod:`messaging.send_route`)."""
    headers = {"Location": f"/v1/messages/{sent.message.id}"}
    if sent.quota is not None and sent.quota.admission is not None:
        headers.update(sent.quota.admission.headers())
    if not sent.created:
        headers["Idempotent-Replayed"] = "true"
    return headers


class MessageController(Controller):
    path = "/v1/messages"
    tags = ["messages"]
    guards = [require_api_key]
    security = [{"apiKey": []}]

    @post(
        "/",
        status_code=202,
        summary="Submit a message",
        description=(
            "Validates the message, stores it durably and answers 202; delivery happens "
            "asynchronously. A repeated `Idempotency-Key` with the same body returns the original "
            "message (header `Idempotent-Replayed: true`); with a different body, 422."
        ),
    )
    async def send_message(
        self,
        request: AnyRequest,
        data: SendMessage,
        idempotency_key: Annotated[str | None, Parameter(header="Idempotency-Key", required=False)] = None,
    ) -> Response[MessageView]:
        async with pool(request).acquire() as conn:  # submit writes in one statement (see its docstring)
            sent = await service.submit_as(conn, principal(request), data, idempotency_key, quotas(request))
        return Response(sent.message, status_code=202, headers=sent_headers(sent))

    @get("/", summary="List messages, newest first")
    async def list_messages(
        self,
        request: AnyRequest,
        status: str | None = None,
        channel: str | None = None,
        to: str | None = None,
        since: datetime | None = None,
        cursor: str | None = None,
        limit: Annotated[int, Parameter(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    ) -> MessageList:
        """Filters combine; pages follow `next_cursor`, which stays valid while messages are added."""
        async with pool(request).acquire() as conn:
            return await service.list_messages(
                conn,
                principal(request).tenant_id,
                status=status,
                channel=channel,
                to=to,
                since=since,
                cursor=cursor,
                limit=limit,
            )

    @get("/{message_id:str}", summary="Get one message")
    async def get_message(self, request: AnyRequest, message_id: str) -> MessageView:
        """The message with its current status, its error when it failed, and each channel's own
        status when it fell back. Another tenant's id answers 404, as an unknown one does."""
        async with pool(request).acquire() as conn:
            return await service.get_message(conn, principal(request).tenant_id, parse_id(message_id))

    @get("/{message_id:str}/events", summary="A message's audit trail")
    async def list_events(self, request: AnyRequest, message_id: str) -> EventList:
        """Every status change of the message, in the order it was recorded, each with its source
        (api, worker, webhook:whatsapp, operator) and whether it changed the status."""
        async with pool(request).acquire() as conn:
            return await service.list_events(conn, principal(request).tenant_id, parse_id(message_id))

    @post(
        "/{message_id:str}/cancel",
        status_code=200,
        summary="Cancel a message not yet sent",
        description=(
            "A scheduled message, or a queued one no attempt of which may have reached the provider: it becomes "
            "`failed` with error reason `canceled` and is never sent. Any other message: 409 failed-precondition "
            "(reason NOT_CANCELABLE)."
        ),
    )
    async def cancel_message(self, request: AnyRequest, message_id: str) -> MessageView:
        async with pool(request).acquire() as conn:
            return await scheduling.cancel(conn, principal(request).tenant_id, parse_id(message_id))

    @post(
        "/{message_id:str}/retry",
        status_code=200,
        summary="Send a dead letter again",
        description=(
            "For a `failed` message that is not discarded: back to `queued` with a fresh round of "
            "attempts (earlier attempts stay in its history). Any other message: 409 failed-precondition."
        ),
    )
    async def retry_message(self, request: AnyRequest, message_id: str) -> MessageView:
        async with pool(request).acquire() as conn:
            return await dead_letters.retry(conn, principal(request).tenant_id, parse_id(message_id))

    @post(
        "/{message_id:str}/discard",
        status_code=200,
        summary="Set a dead letter aside",
        description="The message stays `failed` and leaves the dead letters. Any other message: 409.",
    )
    async def discard_message(self, request: AnyRequest, message_id: str) -> MessageView:
        async with pool(request).acquire() as conn:
            return await dead_letters.discard(conn, principal(request).tenant_id, parse_id(message_id))


class DeadLetterController(Controller):
    path = "/v1/dead-letters"
    tags = ["messages"]
    guards = [require_api_key]
    security = [{"apiKey": []}]

    @get(
        "/",
        summary="Messages that failed for good, most recently failed first",
        description="Each can be sent again (`POST /v1/messages/{id}/retry`) or set aside (`.../discard`).",
    )
    async def list_dead_letters(
        self,
        request: AnyRequest,
        cursor: str | None = None,
        limit: Annotated[int, Parameter(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    ) -> DeadLetterList:
        async with pool(request).acquire() as conn:
            return await dead_letters.list_dead_letters(conn, principal(request).tenant_id, cursor=cursor, limit=limit)


class InboundController(Controller):
    path = "/v1"
    tags = ["inbound"]
    guards = [require_api_key]
    security = [{"apiKey": []}]

    @get(
        "/inbound-messages",
        summary="List messages customers sent to the tenant's numbers, newest first",
        description="Each provider message appears once, however often the provider delivered it.",
    )
    async def list_inbound(
        self,
        request: AnyRequest,
        from_: Annotated[str | None, Parameter(query="from", required=False)] = None,
        since: datetime | None = None,
        cursor: str | None = None,
        limit: Annotated[int, Parameter(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    ) -> InboundMessageList:
        async with pool(request).acquire() as conn:
            return await inbox.list_inbound(
                conn, principal(request).tenant_id, from_number=from_, since=since, cursor=cursor, limit=limit
            )

    @get(
        "/conversations",
        summary="Contacts who wrote to the tenant's numbers, most recent first, with their 24-hour window",
    )
    async def list_conversations(
        self,
        request: AnyRequest,
        cursor: str | None = None,
        limit: Annotated[int, Parameter(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    ) -> ConversationList:
        """One entry per contact and sender: when they last wrote, how many messages they sent, and
        until when free-form text is allowed."""
        async with pool(request).acquire() as conn:
            return await inbox.list_conversations(conn, principal(request).tenant_id, cursor=cursor, limit=limit)


class RoutingPolicyController(Controller):
    path = "/v1/routing-policy"
    tags = ["messages"]
    guards = [require_api_key]
    security = [{"apiKey": []}]

    @get("/", summary="The tenant's default fallback route")
    async def get_policy(self, request: AnyRequest) -> RoutingPolicy:
        """The channel order and `fallback_after` that apply to messages that carry fallback content
        but do not say these themselves."""
        async with pool(request).acquire() as conn:
            return await routing_policy.get_policy(conn, principal(request).tenant_id)

    @put(
        "/",
        summary="Set the tenant's default fallback route",
        description=(
            "Applies to messages with fallback content that give no `channels` or `fallback_after` of their "
            "own. Send `{}` to go back to the built-in default (whatsapp, sms, email; no timer)."
        ),
    )
    async def put_policy(self, request: AnyRequest, data: RoutingPolicy) -> RoutingPolicy:
        async with pool(request).acquire() as conn:
            return await routing_policy.set_policy(conn, principal(request).tenant_id, data)
