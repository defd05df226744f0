"""Messages: search, one message's full story (timeline, attempts, channels), and the dead
letters with their retry and discard actions."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any
from uuid import UUID

from litestar import Controller, get, post
from litestar.response import Redirect, Template

from admin_ui.roles import Can
from admin_ui.web import AdminRequest, admin, db, render, require_session, tenant_of
from kernel.db import unit_of_work
from kernel.errors import ErrorKind, InvalidInput, SwitchboardError, parse_id
from messaging import dead_letters, inbox
from messaging import service as messages
from messaging.states import Status

__all__ = ["MessagePages"]

PAGE = 50
FINAL = {Status.READ.value, Status.FAILED.value}


def _since(value: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.combine(datetime.strptime(value, "%Y-%m-%d").date(), time(), UTC)
    except ValueError:
        raise InvalidInput("since", "date", "a date as YYYY-MM-DD") from None


class MessagePages(Controller):
    path = "/admin"
    guards = [require_session]
    include_in_schema = False

    @get("/messages", opt={"can": Can.SEE_MESSAGES})
    async def search(
        self,
        request: AdminRequest,
        q: str = "",
        to: str = "",
        status: str = "",
        channel: str = "",
        since: str = "",
        cursor: str = "",
    ) -> Template | Redirect:
        q = q.strip()
        if q:
            try:
                return Redirect(f"/admin/messages/{UUID(q)}", status_code=303)
            except ValueError:
                to = to or q  # not an id: a recipient
        filters = {"to": to.strip(), "status": status, "channel": channel, "since": since}
        error = None
        found: Any = None
        try:
            async with unit_of_work(db(request)) as conn:
                found = await messages.list_messages(
                    conn,
                    tenant_of(request),
                    status=status or None,
                    channel=channel or None,
                    to=filters["to"] or None,
                    since=_since(since),
                    cursor=cursor or None,
                    limit=PAGE,
                )
        except InvalidInput as invalid:
            error = invalid.detail
        template = "messages_rows.html" if request.headers.get("hx-request") else "messages.html"
        return render(
            request,
            template,
            found=found,
            filters=filters,
            error=error,
            statuses=[s.value for s in Status],
            channels=["whatsapp", "sms", "email"],
        )

    @get("/messages/{message_id:str}", opt={"can": Can.SEE_MESSAGES})
    async def message(self, request: AdminRequest, message_id: str) -> Template:
        tenant_id, ident = tenant_of(request), parse_id(message_id)
        async with unit_of_work(db(request)) as conn:
            message = await messages.get_message(conn, tenant_id, ident)
            events = (await messages.list_events(conn, tenant_id, ident)).data
            attempts = await messages.list_attempts(conn, tenant_id, ident)
        template = "message_live.html" if request.headers.get("hx-request") else "message.html"
        return render(
            request,
            template,
            message=message,
            events=events,
            attempts=attempts,
            final=message.status in FINAL,
            notice=request.query_params.get("notice"),
        )

    @post("/messages/{message_id:str}/retry", opt={"can": Can.RETRY_MESSAGES}, status_code=303)
    async def retry(self, request: AdminRequest, message_id: str) -> Redirect:
        return await self._act(request, message_id, dead_letters.retry, "retried")

    @post("/messages/{message_id:str}/discard", opt={"can": Can.RETRY_MESSAGES}, status_code=303)
    async def discard(self, request: AdminRequest, message_id: str) -> Redirect:
        return await self._act(request, message_id, dead_letters.discard, "discarded")

    async def _act(self, request: AdminRequest, message_id: str, action: Any, done: str) -> Redirect:
        ident = parse_id(message_id)
        by = f"admin:{admin(request).email}"
        notice = done
        try:
            async with db(request).acquire() as conn:
                await action(conn, tenant_of(request), ident, by=by)
        except SwitchboardError as error:
            if error.kind is ErrorKind.NOT_FOUND:
                raise
            notice = error.detail
        return Redirect(f"/admin/messages/{ident}", status_code=303, query_params={"notice": notice})

    @get("/conversations", opt={"can": Can.SEE_MESSAGES})
    async def conversations(self, request: AdminRequest, cursor: str = "") -> Template:
        async with unit_of_work(db(request)) as conn:
            found = await inbox.list_conversations(conn, tenant_of(request), cursor=cursor or None, limit=PAGE)
        return render(request, "conversations.html", found=found)

    @get("/conversations/{contact:str}", opt={"can": Can.SEE_MESSAGES})
    async def conversation(self, request: AdminRequest, contact: str, cursor: str = "") -> Template:
        async with unit_of_work(db(request)) as conn:
            found = await inbox.list_inbound(
                conn, tenant_of(request), from_number=contact, cursor=cursor or None, limit=PAGE
            )
        return render(request, "conversation.html", contact=contact, found=found)

    @get("/dead-letters", opt={"can": Can.SEE_MESSAGES})
    async def dead_letters_page(self, request: AdminRequest, cursor: str = "") -> Template:
        async with unit_of_work(db(request)) as conn:
            found = await dead_letters.list_dead_letters(conn, tenant_of(request), cursor=cursor or None, limit=PAGE)
        return render(request, "dead_letters.html", found=found)
