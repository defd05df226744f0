"""The console assembled: one Litestar router under ``/admin`` with its own CSRF protection,
error pages and static files, and the template engine the application mounts."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from litestar import Router
from litestar.config.csrf import CSRFConfig
from litestar.middleware import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from admin_ui.auth_pages import AuthPages
from admin_ui.billing_pages import BillingPages
from admin_ui.dashboard_pages import DashboardPages
from admin_ui.key_pages import KeyPages
from admin_ui.message_pages import MessagePages
from admin_ui.operator_pages import OperatorPages
from admin_ui.setup_pages import SetupPages
from admin_ui.web import EXCEPTION_HANDLERS
from admin_ui.webhook_pages import WebhookPages
from billing.invoices import money
from kernel.crypto import Keyring

__all__ = ["admin_router", "template_config"]

HERE = Path(__file__).resolve().parent
CSRF_COOKIE = "sb_csrf"


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    def setup(engine: JinjaTemplateEngine) -> None:
        engine.engine.globals["static"] = lambda name: f"/admin/static/{name}"
        engine.engine.filters["money"] = lambda amount, currency: money(amount, currency)

    return TemplateConfig(directory=HERE / "templates", engine=JinjaTemplateEngine, engine_callback=setup)


def admin_router(keyring: Keyring, *, secure_cookies: bool) -> Router:
    # Derived from the master key, so every API process signs and checks the same tokens.
    secret = hmac.new(keyring.current.key, b"switchboard/admin/csrf", hashlib.sha256).hexdigest()
    csrf = CSRFConfig(
        secret=secret,
        cookie_name=CSRF_COOKIE,
        cookie_path="/admin",
        header_name="x-csrf-token",
        cookie_secure=secure_cookies,
        cookie_samesite="strict",
    )
    static = create_static_files_router(path="/static", directories=[HERE / "static"], include_in_schema=False)
    return Router(
        path="/",
        route_handlers=[
            AuthPages,
            DashboardPages,
            MessagePages,
            KeyPages,
            SetupPages,
            BillingPages,
            OperatorPages,
            WebhookPages,
            Router(path="/admin", route_handlers=[static]),
        ],
        middleware=[DefineMiddleware(CSRFMiddleware, config=csrf)],
        exception_handlers=EXCEPTION_HANDLERS,
        include_in_schema=False,
    )
