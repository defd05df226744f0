"""Console plumbing shared by every page: the session guard, role checks, rendering, and the
error pages. Pages declare the permission they need as ``opt={"can": Can.X}``."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote
from uuid import UUID

from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from litestar.handlers import BaseRouteHandler
from litestar.response import Redirect, Template
from litestar.types import ExceptionHandlersMap

from admin_ui import accounts
from admin_ui.accounts import AdminUser
from admin_ui.roles import GRANTS, Can, home_of
from kernel.db import Pool
from kernel.errors import KINDS, ErrorKind, SwitchboardError

__all__ = [
    "EXCEPTION_HANDLERS",
    "SESSION_COOKIE",
    "AdminRequest",
    "NotSignedIn",
    "admin",
    "db",
    "render",
    "require_session",
]

log = logging.getLogger("switchboard.admin")

SESSION_COOKIE = "sb_admin"
AdminRequest = Request[Any, Any, State]


class NotSignedIn(Exception):
    """No live session: the browser is sent to the sign-in page."""


class Forbidden(SwitchboardError):
    kind = ErrorKind.PERMISSION_DENIED


def db(request: AdminRequest | ASGIConnection[Any, Any, Any, State]) -> Pool:
    found: Pool = request.app.state.pool
    return found


async def require_session(connection: ASGIConnection[Any, Any, Any, State], handler: BaseRouteHandler) -> None:
    """Guard on every console page but sign-in: a live session, and the role's permission."""
    user = await accounts.current_user(db(connection), connection.cookies.get(SESSION_COOKIE))
    if user is None:
        raise NotSignedIn()
    connection.state.admin = user
    needed: Can | None = handler.opt.get("can")
    if needed is not None and needed not in GRANTS[user.role]:
        raise Forbidden(f"your role ({user.role}) cannot open this page")


def admin(request: AdminRequest) -> AdminUser:
    user: AdminUser = request.state.admin
    return user


def tenant_of(request: AdminRequest) -> UUID:
    """The signed-in user's tenant id (every tenant page is scoped by it, never by the URL)."""
    tenant_id = admin(request).tenant_id
    if tenant_id is None:  # the operator has no tenant; its role holds no tenant permission
        raise Forbidden("the operator has no tenant")
    return tenant_id


def render(request: AdminRequest, name: str, status_code: int = 200, **context: Any) -> Template:
    user: AdminUser | None = getattr(request.state, "admin", None)
    grants = GRANTS[user.role] if user else frozenset()
    return Template(
        template_name=name,
        context={
            "user": user,
            "can": {c.name: c in grants for c in Can},
            "home": home_of(user.role) if user else "/admin/login",
            "path": request.url.path,
            **context,
        },
        status_code=status_code,
    )


def _error_page(request: AdminRequest, status: int, title: str, detail: str) -> Response[Any]:
    return render(request, "error.html", status_code=status, title=title, detail=detail)


def _on_not_signed_in(request: AdminRequest, _: NotSignedIn) -> Response[Any]:
    target = f"/admin/login?next={quote(request.url.path)}"
    if request.headers.get("hx-request"):
        # htmx follows a redirect inside the swapped fragment; tell it to load the page instead.
        return Response(content=b"", status_code=200, headers={"HX-Redirect": target})
    return Redirect(target, status_code=303)


def _on_domain_error(request: AdminRequest, error: SwitchboardError) -> Response[Any]:
    info = KINDS[error.kind]
    return _error_page(request, info.http_status, info.title, error.detail)


def _on_http_error(request: AdminRequest, error: HTTPException) -> Response[Any]:
    detail = "the form expired; reload the page and try again" if error.status_code == 403 else str(error.detail)
    return _error_page(request, error.status_code, "Refused" if error.status_code == 403 else "Error", detail)


def _on_unexpected(request: AdminRequest, error: Exception) -> Response[Any]:
    log.exception("unhandled error", extra={"fields": {"path": request.url.path}})
    return _error_page(request, 500, "Something went wrong", "the error has been logged")


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    NotSignedIn: _on_not_signed_in,
    SwitchboardError: _on_domain_error,
    HTTPException: _on_http_error,
    Exception: _on_unexpected,
}
