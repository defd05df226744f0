"""gRPC adapter for ``switchboard.messaging.v1.MessagingService`` over the same service layer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import UTC
from typing import Any, Literal

import grpc
from google.protobuf.struct_pb2 import Struct
from google.rpc import code_pb2
from switchboard.messaging.v1 import messaging_pb2 as pb
from switchboard.messaging.v1 import messaging_pb2_grpc as pb_grpc

from edge.rpc import authenticated, authorization, rich_status, timestamp, translate_errors
from kernel.db import Pool
from kernel.errors import InvalidInput, SwitchboardError, parse_id
from kernel.pagination import page_size
from messaging import batch, dead_letters, inbox, routing_policy, scheduling, service, watch
from messaging.schemas import (
    ButtonParam,
    ConversationView,
    EmailFallback,
    EventView,
    Fallback,
    HeaderMedia,
    InboundMessageView,
    MessageView,
    RoutingPolicy,
    SendMessage,
    SmsFallback,
    TemplateContent,
    TemplateParams,
    TextContent,
)
from tenants.callers import Callers
from tenants.quotas import Quotas, for_caller

__all__ = ["MessagingServicer"]

_PRIORITY: dict[int, Literal["transactional", "bulk"]] = {
    pb.MESSAGE_PRIORITY_TRANSACTIONAL: "transactional",
    pb.MESSAGE_PRIORITY_BULK: "bulk",
}

# How often an idle event stream looks for new rows.
WATCH_POLL_SECONDS = 0.2

_STATUS = {
    "queued": pb.MESSAGE_STATUS_QUEUED,
    "submitted": pb.MESSAGE_STATUS_SUBMITTED,
    "sent": pb.MESSAGE_STATUS_SENT,
    "delivered": pb.MESSAGE_STATUS_DELIVERED,
    "read": pb.MESSAGE_STATUS_READ,
    "failed": pb.MESSAGE_STATUS_FAILED,
}


def _fallback(request: pb.SendMessageRequest) -> Fallback | None:
    if not request.HasField("fallback"):
        return None
    given = request.fallback
    sms = SmsFallback(text=given.sms.text) if given.HasField("sms") else None
    email = (
        EmailFallback(
            to=given.email.to, subject=given.email.subject, text=given.email.text, html=given.email.html or None
        )
        if given.HasField("email")
        else None
    )
    return Fallback(sms=sms, email=email)


def _values(positional: Iterable[str], named: Mapping[str, str], field: str) -> list[str] | dict[str, str]:
    if positional and named:
        raise InvalidInput(
            f"template.params.{field}", "one_of", f"give {field} (positional) or named_{field}, not both"
        )
    return dict(named) if named else list(positional)


def _template_params(params: pb.TemplateParams) -> TemplateParams:
    media = params.header_media if params.HasField("header_media") else None
    return TemplateParams(
        header=_values(params.header, params.named_header, "header"),
        body=_values(params.body, params.named_body, "body"),
        header_media=HeaderMedia(link=media.link or None, id=media.id or None, filename=media.filename or None)
        if media is not None
        else None,
        buttons=[ButtonParam(index=b.index, value=b.value) for b in params.buttons],
    )


def to_send_message(request: pb.SendMessageRequest) -> SendMessage:
    content = request.WhichOneof("content")
    text = TextContent(body=request.text.body) if content == "text" else None
    template = (
        TemplateContent(
            name=request.template.name,
            language=request.template.language,
            params=_template_params(request.template.params),
        )
        if content == "template"
        else None
    )
    return SendMessage(
        to=request.to,
        text=text,
        template=template,
        sender=request.sender or None,
        fallback=_fallback(request),
        priority=_PRIORITY.get(request.priority),
        channels=list(request.channels) or None,  # type: ignore[arg-type]  # validated by the service
        fallback_after=request.fallback_after_seconds or None,
        send_at=request.send_time.ToDatetime(tzinfo=UTC) if request.HasField("send_time") else None,
    )


def to_message(view: MessageView) -> pb.Message:
    return pb.Message(
        id=str(view.id),
        to=view.to,
        channel=view.channel,
        status=_STATUS[view.status],
        sender=view.sender or "",
        provider_message_id=view.provider_message_id or "",
        error=pb.MessageError(code=view.error.code or 0, reason=view.error.reason) if view.error else None,
        content_type=view.content_type,
        idempotency_key=view.idempotency_key or "",
        create_time=timestamp(view.created_at),
        update_time=timestamp(view.updated_at),
        send_time=timestamp(view.send_at),
        channels=[
            pb.MessageChannel(
                channel=c.channel,
                status=c.status,
                recipient=c.recipient or "",
                provider_message_id=c.provider_message_id or "",
                detail=c.detail or "",
                error_code=c.error_code or 0,
                encoding=c.encoding or "",
                segments=c.segments or 0,
            )
            for c in view.channels or ()
        ],
    )


def to_event(event: EventView) -> pb.MessageEvent:
    return pb.MessageEvent(
        id=event.id,
        reported_status=_STATUS[event.reported_status],
        from_status=_STATUS[event.from_status] if event.from_status else pb.MESSAGE_STATUS_UNSPECIFIED,
        to_status=_STATUS[event.to_status],
        applied=event.applied,
        outcome=event.outcome,
        source=event.source,
        detail=event.detail or "",
        error_code=event.error_code or 0,
        raw_event_id=event.raw_event_id or 0,
        occur_time=timestamp(event.occurred_at),
        record_time=timestamp(event.recorded_at),
        message_id=str(event.message_id) if event.message_id else "",
    )


def to_inbound(view: InboundMessageView) -> pb.InboundMessage:
    payload = Struct()
    payload.update(view.payload)
    return pb.InboundMessage(
        id=str(view.id),
        sender=view.sender,
        from_number=view.from_,
        type=view.type,
        text=view.text or "",
        media_id=view.media_id or "",
        reply_to=view.reply_to or "",
        provider_message_id=view.provider_message_id,
        payload=payload,
        occur_time=timestamp(view.occurred_at),
        receive_time=timestamp(view.received_at),
    )


def to_conversation(view: ConversationView) -> pb.Conversation:
    return pb.Conversation(
        sender=view.sender,
        contact=view.contact,
        profile_name=view.profile_name or "",
        first_inbound_time=timestamp(view.first_inbound_at),
        last_inbound_time=timestamp(view.last_inbound_at),
        inbound_count=view.inbound_count,
        window_open=view.window_open,
        window_expire_time=timestamp(view.window_expires_at),
    )


def _item_error(error: SwitchboardError | None) -> pb.ItemError:
    assert error is not None
    return pb.ItemError(
        code=getattr(code_pb2, error.info.grpc_code),
        reason=error.reason,
        message=error.detail,
        field_violations=[
            pb.FieldViolation(field=v.field, reason=v.rule, description=v.description) for v in error.violations
        ],
    )


class MessagingServicer(pb_grpc.MessagingServiceServicer):
    def __init__(self, pool: Pool, quotas: Quotas | None = None) -> None:
        self._pool = pool
        self._quotas = quotas
        self._callers = Callers()

    @translate_errors
    async def SendMessage(  # noqa: N802 (gRPC method names)
        self, request: pb.SendMessageRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.SendMessageResponse:
        # One checkout for the key lookup and the write (submit writes in one statement: see its
        # docstring); a key seen recently is not looked up at all (tenants.callers).
        async with self._pool.acquire() as conn:
            sent = await service.submit_with_key(
                conn,
                self._callers,
                authorization(context),
                lambda: to_send_message(request),
                request.idempotency_key or None,
                self._quotas,
            )
        if sent.quota is not None and sent.quota.admission is not None:
            # The same RateLimit fields REST sends, as response metadata.
            await context.send_initial_metadata(
                tuple((name.lower(), value) for name, value in sent.quota.admission.headers().items())
            )
        return pb.SendMessageResponse(message=to_message(sent.message), created=sent.created)

    @translate_errors
    async def BatchSendMessages(  # noqa: N802
        self, request: pb.BatchSendMessagesRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.BatchSendMessagesResponse:
        principal = await authenticated(self._pool, context)
        limits = for_caller(self._quotas, principal)
        async with self._pool.acquire() as conn:
            items = await batch.submit_batch(
                conn,
                principal.tenant_id,
                [to_send_message(r) for r in request.requests],
                max_batch=principal.plan.max_batch,
                idempotency_keys=[r.idempotency_key or None for r in request.requests],
                config_version=principal.config_version,
                quota=limits,
                budget=principal.monthly_budget,
            )
        results = [
            pb.BatchSendResult(index=i.index, message=to_message(i.message), created=i.created)
            if i.message is not None
            else pb.BatchSendResult(index=i.index, error=_item_error(i.error))
            for i in items
        ]
        accepted = sum(i.error is None for i in items)
        return pb.BatchSendMessagesResponse(results=results, accepted=accepted, refused=len(items) - accepted)

    @translate_errors
    async def GetMessage(  # noqa: N802
        self, request: pb.GetMessageRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.GetMessageResponse:
        principal = await authenticated(self._pool, context)
        async with self._pool.acquire() as conn:
            message = await service.get_message(conn, principal.tenant_id, parse_id(request.id))
        return pb.GetMessageResponse(message=to_message(message))

    @translate_errors
    async def ListMessages(  # noqa: N802
        self, request: pb.ListMessagesRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListMessagesResponse:
        principal = await authenticated(self._pool, context)
        status = next((name for name, value in _STATUS.items() if value == request.status), None)
        since = request.since_time.ToDatetime(tzinfo=UTC) if request.HasField("since_time") else None
        async with self._pool.acquire() as conn:
            found = await service.list_messages(
                conn,
                principal.tenant_id,
                status=status,
                channel=request.channel or None,
                to=request.to or None,
                since=since,
                cursor=request.page_token or None,
                limit=page_size(request.page_size),
            )
        return pb.ListMessagesResponse(
            messages=[to_message(m) for m in found.data], next_page_token=found.next_cursor or ""
        )

    @translate_errors
    async def ListMessageEvents(  # noqa: N802
        self, request: pb.ListMessageEventsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListMessageEventsResponse:
        principal = await authenticated(self._pool, context)
        async with self._pool.acquire() as conn:
            events = await service.list_events(conn, principal.tenant_id, parse_id(request.message_id))
        return pb.ListMessageEventsResponse(events=[to_event(e) for e in events.data])

    @translate_errors
    async def ListInboundMessages(  # noqa: N802
        self, request: pb.ListInboundMessagesRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListInboundMessagesResponse:
        principal = await authenticated(self._pool, context)
        async with self._pool.acquire() as conn:
            found = await inbox.list_inbound(
                conn,
                principal.tenant_id,
                from_number=request.from_number or None,
                since=request.since.ToDatetime(tzinfo=UTC) if request.HasField("since") else None,
                cursor=request.page_token or None,
                limit=page_size(request.page_size),
            )
        return pb.ListInboundMessagesResponse(
            inbound_messages=[to_inbound(m) for m in found.data], next_page_token=found.next_cursor or ""
        )

    @translate_errors
    async def ListConversations(  # noqa: N802
        self, request: pb.ListConversationsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListConversationsResponse:
        principal = await authenticated(self._pool, context)
        async with self._pool.acquire() as conn:
            found = await inbox.list_conversations(
                conn, principal.tenant_id, cursor=request.page_token or None, limit=page_size(request.page_size)
            )
        return pb.ListConversationsResponse(
            conversations=[to_conversation(c) for c in found.data], next_page_token=found.next_cursor or ""
        )

    @translate_errors
    async def ListDeadLetters(  # noqa: N802
        self, request: pb.ListDeadLettersRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListDeadLettersResponse:
        principal = await authenticated(self._pool, context)
        async with self._pool.acquire() as conn:
            found = await dead_letters.list_dead_letters(
                conn, principal.tenant_id, cursor=request.page_token or None, limit=page_size(request.page_size)
            )
        return pb.ListDeadLettersResponse(
            dead_letters=[
                pb.DeadLetter(message=to_message(d.message), attempts=d.attempts, fail_time=timestamp(d.failed_at))
                for d in found.data
            ],
            next_page_token=found.next_cursor or "",
        )

    @translate_errors
    async def RetryMessage(  # noqa: N802
        self, request: pb.RetryMessageRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.RetryMessageResponse:
        principal = await authenticated(self._pool, context)
        async with self._pool.acquire() as conn:
            message = await dead_letters.retry(conn, principal.tenant_id, parse_id(request.id))
        return pb.RetryMessageResponse(message=to_message(message))

    async def WatchMessageEvents(  # noqa: N802
        self, request: pb.WatchMessageEventsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.WatchMessageEventsResponse]:
        # A stream, so errors are turned into statuses here (translate_errors wraps unary calls).
        try:
            principal = await authenticated(self._pool, context)
            cursor = watch.decode(request.cursor) if request.cursor else await watch.start(self._pool)
        except SwitchboardError as error:
            await context.abort_with_status(rich_status(error))
            return
        while True:  # until the client goes away or its deadline passes (the call is cancelled)
            async with self._pool.acquire() as conn:
                page = await watch.read(conn, principal.tenant_id, cursor)
            for item, after in page.items:
                token = watch.encode(after)
                if isinstance(item, EventView):
                    yield pb.WatchMessageEventsResponse(event=to_event(item), cursor=token)
                else:
                    yield pb.WatchMessageEventsResponse(inbound=to_inbound(item), cursor=token)
            cursor = page.cursor
            if not page.items:
                await asyncio.sleep(WATCH_POLL_SECONDS)

    @translate_errors
    async def CancelMessage(  # noqa: N802
        self, request: pb.CancelMessageRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.CancelMessageResponse:
        principal = await authenticated(self._pool, context)
        async with self._pool.acquire() as conn:
            message = await scheduling.cancel(conn, principal.tenant_id, parse_id(request.id))
        return pb.CancelMessageResponse(message=to_message(message))

    @translate_errors
    async def DiscardMessage(  # noqa: N802
        self, request: pb.DiscardMessageRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.DiscardMessageResponse:
        principal = await authenticated(self._pool, context)
        async with self._pool.acquire() as conn:
            message = await dead_letters.discard(conn, principal.tenant_id, parse_id(request.id))
        return pb.DiscardMessageResponse(message=to_message(message))

    @translate_errors
    async def GetRoutingPolicy(  # noqa: N802
        self, request: pb.GetRoutingPolicyRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.GetRoutingPolicyResponse:
        principal = await authenticated(self._pool, context)
        async with self._pool.acquire() as conn:
            policy = await routing_policy.get_policy(conn, principal.tenant_id)
        return pb.GetRoutingPolicyResponse(policy=_policy_to_proto(policy))

    @translate_errors
    async def UpdateRoutingPolicy(  # noqa: N802
        self, request: pb.UpdateRoutingPolicyRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.UpdateRoutingPolicyResponse:
        principal = await authenticated(self._pool, context)
        given = RoutingPolicy(
            channels=list(request.policy.channels) or None,  # type: ignore[arg-type]  # validated by the service
            fallback_after=request.policy.fallback_after_seconds or None,
        )
        async with self._pool.acquire() as conn:
            policy = await routing_policy.set_policy(conn, principal.tenant_id, given)
        return pb.UpdateRoutingPolicyResponse(policy=_policy_to_proto(policy))


def _policy_to_proto(policy: RoutingPolicy) -> pb.RoutingPolicy:
    return pb.RoutingPolicy(channels=policy.channels or [], fallback_after_seconds=policy.fallback_after or 0)
