"""Credential shapes for the edges. Secrets go in, never out: views carry fingerprints only."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

import msgspec
from msgspec import Meta

__all__ = [
    "CredentialList",
    "CredentialView",
    "NewCredential",
    "NewEmail",
    "NewSender",
    "NewSms",
    "NewTemplate",
    "NewWhatsApp",
    "SenderList",
    "SenderView",
    "SyncResult",
    "TemplateList",
    "TemplateView",
]

Secret = Annotated[str, Meta(description="Write-only: stored sealed, never returned.", min_length=1)]


class NewWhatsApp(msgspec.Struct, tag="whatsapp", tag_field="kind", forbid_unknown_fields=True):
    name: str
    access_token: Secret
    app_secret: Secret
    verify_token: Secret
    waba_id: str
    graph_api_version: str = "v23.0"
    is_default: Annotated[bool | None, Meta(description="Omitted: the first of its kind is the default.")] = None


class NewSms(msgspec.Struct, tag="sms", tag_field="kind", forbid_unknown_fields=True):
    name: str
    account_sid: str
    auth_token: Secret
    from_number: str | None = None
    messaging_service_sid: str | None = None
    is_default: bool | None = None


class NewEmail(msgspec.Struct, tag="email", tag_field="kind", forbid_unknown_fields=True):
    name: str
    host: str
    port: int
    tls: Literal["starttls", "implicit", "none"]
    from_address: str
    username: str | None = None
    password: Secret | None = None
    webhook_secret: Annotated[
        Secret | None,
        Meta(
            description="The mail provider's Standard Webhooks signing secret (whsec_...), for its bounce and "
            "complaint events at webhook_path."
        ),
    ] = None
    is_default: bool | None = None


NewCredential = NewWhatsApp | NewSms | NewEmail


class CredentialView(msgspec.Struct):
    id: UUID
    kind: str
    name: str
    is_default: bool
    config: dict[str, object]
    fingerprints: Annotated[
        dict[str, str],
        Meta(description="Which secret is set, per secret name; the secrets themselves are never shown."),
    ]
    webhook_path: Annotated[
        str | None, Meta(description="Where this provider account's callbacks go (WhatsApp, SMS and email events).")
    ]
    health: Annotated[
        Literal["ok", "failing"],
        Meta(description="failing: the provider refused it (e.g. an expired token); ok again once a send works."),
    ] = "ok"
    health_detail: Annotated[str | None, Meta(description="Why it is failing, as the provider said.")] = None


class CredentialList(msgspec.Struct):
    data: list[CredentialView]


class NewTemplate(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, Meta(description="Lowercase letters, digits and underscores.")]
    language: Annotated[str, Meta(description="e.g. en_US")]
    category: Literal["MARKETING", "UTILITY", "AUTHENTICATION"]
    components: Annotated[list[dict[str, object]], Meta(description="Meta's component list (HEADER, BODY, ...).")]
    parameter_format: Annotated[
        Literal["POSITIONAL", "NAMED"], Meta(description="{{1}}-style or {{first_name}}-style placeholders")
    ] = "POSITIONAL"


class TemplateView(msgspec.Struct):
    id: UUID
    waba_id: str
    name: str
    language: str
    category: str
    status: Annotated[str, Meta(description="APPROVED, PENDING, REJECTED, PAUSED, DISABLED, DELETED, ...")]
    components: list[dict[str, object]]
    parameter_format: str


class TemplateList(msgspec.Struct):
    data: list[TemplateView]


class SyncResult(msgspec.Struct):
    listed: Annotated[int, Meta(description="Templates Meta lists for the tenant's accounts.")]
    retired: Annotated[int, Meta(description="Templates Meta no longer lists, now DELETED here.")]


class NewSender(msgspec.Struct, forbid_unknown_fields=True):
    phone_number_id: Annotated[str, Meta(description="Meta's id of the number (digits).")]
    display_phone_number: Annotated[str, Meta(description="The number in E.164, e.g. +15550100001.")]
    credential_id: Annotated[
        UUID | None, Meta(description="The WhatsApp credential to send with; the default one when omitted.")
    ] = None
    waba_id: Annotated[str | None, Meta(description="Defaults to the credential's WABA.")] = None
    throughput_mps: Annotated[int, Meta(description="Sends per second Meta allows this number: 1 to 1000.")] = 80
    is_default: Annotated[bool | None, Meta(description="Omitted: the tenant's first number is its default.")] = None


class SenderView(msgspec.Struct):
    id: UUID
    phone_number_id: str
    display_phone_number: str
    waba_id: str
    credential_id: UUID
    is_default: bool
    status: str
    quality_rating: str
    messaging_tier: str | None
    throughput_mps: int


class SenderList(msgspec.Struct):
    data: list[SenderView]
