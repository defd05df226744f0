"""Signing in and out."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, get, post
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template

from admin_ui import accounts
from admin_ui.roles import home_of
from admin_ui.throttle import LoginThrottle
from admin_ui.web import SESSION_COOKIE, AdminRequest, admin, db, render, require_session
from kernel.errors import Throttled, Unauthenticated

__all__ = ["AuthPages"]


class LoginForm(msgspec.Struct):
    email: str = ""
    password: str = ""
    next: str = ""


def _safe_next(target: str) -> str | None:
    # Only a path inside the console: an open redirect would send a fresh session elsewhere.
    if target.startswith("/admin") and not target.startswith("//") and "\\" not in target:
        return target
    return None


def _session_cookie(request: AdminRequest, token: str, max_age: int) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value=token,
        path="/admin",
        httponly=True,
        secure=bool(request.app.state.admin_secure_cookies),
        samesite="lax",
        max_age=max_age,
    )


class AuthPages(Controller):
    path = "/admin"
    include_in_schema = False

    @get("/login")
    async def login_page(self, request: AdminRequest, next: str = "") -> Template:
        return render(request, "login.html", next=next, error=None, email="")

    @post("/login", status_code=303)
    async def login(
        self,
        request: AdminRequest,
        data: Annotated[LoginForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Any:
        throttle: LoginThrottle = request.app.state.login_throttle
        address = request.client.host if request.client else "unknown"
        try:
            await throttle.check(data.email, address)
            try:
                user, token = await accounts.sign_in(db(request), data.email, data.password)
            except Unauthenticated:
                await throttle.failed(data.email, address)
                raise
        except (Unauthenticated, Throttled) as error:
            status = 429 if isinstance(error, Throttled) else 401
            return render(
                request, "login.html", status_code=status, next=data.next, error=error.detail, email=data.email
            )
        await throttle.succeeded(data.email)
        target = _safe_next(data.next) or home_of(user.role)
        lifetime = int(accounts.SESSION_LIFETIME.total_seconds())
        return Redirect(target, status_code=303, cookies=[_session_cookie(request, token, lifetime)])

    @post("/logout", guards=[require_session], status_code=303)
    async def logout(self, request: AdminRequest) -> Redirect:
        await accounts.sign_out(db(request), request.cookies.get(SESSION_COOKIE, ""))
        return Redirect("/admin/login", status_code=303, cookies=[_session_cookie(request, "", 0)])

    @post("/logout-everywhere", guards=[require_session], status_code=303)
    async def logout_everywhere(self, request: AdminRequest) -> Redirect:
        await accounts.sign_out_everywhere(db(request), admin(request).id)
        return Redirect("/admin/login", status_code=303, cookies=[_session_cookie(request, "", 0)])
