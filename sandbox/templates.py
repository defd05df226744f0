"""Message template management as the Graph API serves it: list with cursor paging, create.

The review is instant and follows a documented rule, so tests and demos can drive each path:
a name starting with ``reject`` is REJECTED (reason INVALID_FORMAT), one starting with ``pending``
stays PENDING, anything else is APPROVED. Requests need the bearer token of any number registered
with the sandbox; a WABA is known once a template is created or seeded for it.
"""

from __future__ import annotations

import base64
import hmac
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post, put
from litestar.datastructures import State

__all__ = ["TemplateStore", "TemplatesControlController", "TemplatesController"]

_NAME = re.compile(r"[a-z0-9_]{1,512}")
_CATEGORIES = {"MARKETING", "UTILITY", "AUTHENTICATION"}
MAX_LIMIT = 100


@dataclass
class TemplateStore:
    by_waba: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def _error(status: int, code: int, message: str) -> Response[Any]:
    return Response(
        {"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": secrets.token_hex(6)}},
        status_code=status,
    )


def _authorized(request: Request[Any, Any, Any], state: State) -> bool:
    given = request.headers.get("authorization", "")
    return any(hmac.compare_digest(given, f"Bearer {n.access_token}") for n in state.sandbox.numbers.values())


def _cursor(index: int) -> str:
    return base64.urlsafe_b64encode(str(index).encode()).decode()


def _review(name: str) -> tuple[str, str]:
    if name.startswith("reject"):
        return "REJECTED", "INVALID_FORMAT"
    if name.startswith("pending"):
        return "PENDING", "NONE"
    return "APPROVED", "NONE"


class TemplatesController(Controller):
    path = "/"

    @get("/{version:str}/{waba_id:str}/message_templates")
    async def list_templates(
        self,
        version: str,
        waba_id: str,
        request: Request[Any, Any, Any],
        state: State,
        limit: int = 25,
        after: str = "",
    ) -> Response[Any]:
        if not _authorized(request, state):
            return _error(401, 190, "Invalid OAuth access token - Cannot parse access token")
        store: TemplateStore = state.templates
        if waba_id not in store.by_waba:
            return _error(400, 100, f"Unsupported get request. Object with ID '{waba_id}' does not exist.")
        try:
            start = int(base64.urlsafe_b64decode(after.encode()).decode()) if after else 0
        except ValueError:
            return _error(400, 100, "(#100) Invalid parameter: after")
        limit = max(1, min(limit, MAX_LIMIT))
        templates = store.by_waba[waba_id]
        page = templates[start : start + limit]
        body: dict[str, Any] = {"data": page}
        if page:
            after_page = _cursor(start + len(page))
            body["paging"] = {"cursors": {"before": _cursor(start), "after": after_page}}
            if start + len(page) < len(templates):
                listing = f"{request.base_url}{version}/{waba_id}/message_templates"
                body["paging"]["next"] = f"{listing}?limit={limit}&after={after_page}"
        return Response(body)

    @post("/{version:str}/{waba_id:str}/message_templates", status_code=200)
    async def create_template(
        self, version: str, waba_id: str, request: Request[Any, Any, Any], state: State
    ) -> Response[Any]:
        if not _authorized(request, state):
            return _error(401, 190, "Invalid OAuth access token - Cannot parse access token")
        try:
            payload = msgspec.json.decode(await request.body())
        except msgspec.DecodeError:
            return _error(400, 100, "(#100) Invalid JSON")
        name, language, category = payload.get("name"), payload.get("language"), payload.get("category")
        components = payload.get("components")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            return _error(400, 100, "(#100) Invalid parameter: name must be lowercase letters, digits and underscores")
        if not isinstance(language, str) or not language:
            return _error(400, 100, "(#100) Param language is required")
        if category not in _CATEGORIES:
            return _error(400, 100, "(#100) Param category must be one of MARKETING, UTILITY, AUTHENTICATION")
        if not isinstance(components, list) or not any(
            isinstance(c, dict) and c.get("type") == "BODY" for c in components
        ):
            return _error(400, 100, "(#100) A template needs a BODY component")
        templates = state.templates.by_waba.setdefault(waba_id, [])
        if any(t["name"] == name and t["language"] == language for t in templates):
            return _error(400, 100, f"(#2388024) Message template {name!r} already exists in {language}")
        status, reason = _review(name)
        template = {
            "id": str(secrets.randbelow(10**15) + 10**15),
            "name": name,
            "language": language,
            "category": category,
            "status": status,
            "rejected_reason": reason,
            "parameter_format": payload.get("parameter_format", "POSITIONAL"),
            "components": components,
        }
        templates.append(template)
        return Response({"id": template["id"], "status": status, "category": category})


class TemplatesControlController(Controller):
    path = "/_sandbox/whatsapp/wabas"

    @put("/{waba_id:str}/templates", status_code=200)
    async def seed(self, waba_id: str, data: list[dict[str, Any]], state: State) -> dict[str, Any]:
        """Replace a WABA's templates wholesale (as if created and reviewed in Meta's dashboard)."""
        state.templates.by_waba[waba_id] = [
            {"id": str(secrets.randbelow(10**15) + 10**15), "parameter_format": "POSITIONAL", **t} for t in data
        ]
        return {"waba_id": waba_id, "templates": len(data)}

    @post("/{waba_id:str}/templates/{name:str}/status", status_code=200)
    async def set_status(self, waba_id: str, name: str, data: dict[str, str], state: State) -> dict[str, Any]:
        """Change a template's status in the listing (Meta also sends a webhook; see the tests)."""
        changed = 0
        for template in state.templates.by_waba.get(waba_id, []):
            if template["name"] == name:
                template["status"] = data["status"]
                changed += 1
        return {"changed": changed}
