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
    name: Annotated[str, Meta(description="A name to tell credentials apart.")]
    access_token: Secret
    app_secret: Secret
    verify_token: Secret
    waba_id: Annotated[str, Meta(description="The WhatsApp Business Account id.")]
    graph_api_version: Annotated[str, Meta(description="The Graph API version to call, e.g. v23.0.")] = "v23.0"
    is_default: Annotated[bool | None, Meta(description="Omitted: the first of its kind is the default.")] = None


class NewSms(msgspec.Struct, tag="sms", tag_field="kind", forbid_unknown_fields=True):
    name: Annotated[str, Meta(description="A name to tell credentials apart.")]
    account_sid: Annotated[str, Meta(description="The Twilio account SID (AC...).")]
    auth_token: Secret
    from_number: Annotated[
        str | None, Meta(description="The number to send from, in E.164; give this or messaging_service_sid.")
    ] = None
    messaging_service_sid: Annotated[
        str | None, Meta(description="A Twilio Messaging Service (MG...) to send through instead of one number.")
    ] = None
    is_default: Annotated[
        bool | None, Meta(description="Whether it is the default SMS credential; the first one is, when omitted.")
    ] = None


class NewEmail(msgspec.Struct, tag="email", tag_field="kind", forbid_unknown_fields=True):
    name: Annotated[str, Meta(description="A name to tell credentials apart.")]
    host: Annotated[str, Meta(description="The SMTP server's host name.")]
    port: Annotated[int, Meta(description="The SMTP server's port, e.g. 587.")]
    tls: Annotated[
        Literal["starttls", "implicit", "none"],
        Meta(description="starttls (upgrade on the port), implicit (TLS from the start, e.g. 465) or none."),
    ]
    from_address: Annotated[str, Meta(description="The From address of the emails.")]
    username: Annotated[str | None, Meta(description="The SMTP login, when the server needs one.")] = None
    password: Secret | None = None
    webhook_secret: Annotated[
        Secret | None,
        Meta(
            description="The mail provider's Standard Webhooks signing secret (whsec_...), for its bounce and "
            "complaint events at webhook_path."
        ),
    ] = None
    is_default: Annotated[
        bool | None, Meta(description="Whether it is the default email credential; the first one is, when omitted.")
    ] = None


NewCredential = NewWhatsApp | NewSms | NewEmail


class CredentialView(msgspec.Struct):
    id: Annotated[UUID, Meta(description="The credential's id.")]
    kind: Annotated[str, Meta(description="whatsapp, sms or email.")]
    name: Annotated[str, Meta(description="The name given at creation.")]
    is_default: Annotated[bool, Meta(description="Whether it is the default credential of its kind.")]
    config: Annotated[
        dict[str, object],
        Meta(description="Its settings that are not secret, and a fingerprint of each secret (never the secret)."),
    ]
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
    data: Annotated[list[CredentialView], Meta(description="The tenant's credentials, secrets left out.")]


class NewTemplate(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, Meta(description="Lowercase letters, digits and underscores.")]
    language: Annotated[str, Meta(description="e.g. en_US")]
    category: Annotated[
        Literal["MARKETING", "UTILITY", "AUTHENTICATION"],
        Meta(description="MARKETING, UTILITY or AUTHENTICATION (Meta may change it on review)."),
    ]
    components: Annotated[list[dict[str, object]], Meta(description="Meta's component list (HEADER, BODY, ...).")]
    parameter_format: Annotated[
        Literal["POSITIONAL", "NAMED"], Meta(description="{{1}}-style or {{first_name}}-style placeholders")
    ] = "POSITIONAL"


class TemplateView(msgspec.Struct):
    id: Annotated[UUID, Meta(description="The template's id.")]
    waba_id: Annotated[str, Meta(description="The WhatsApp Business Account it belongs to.")]
    name: Annotated[str, Meta(description="Its name.")]
    language: Annotated[str, Meta(description="Its language code, e.g. en_US.")]
    category: Annotated[str, Meta(description="MARKETING, UTILITY or AUTHENTICATION.")]
    status: Annotated[str, Meta(description="APPROVED, PENDING, REJECTED, PAUSED, DISABLED, DELETED, ...")]
    components: Annotated[
        list[dict[str, object]], Meta(description="Meta's component list (HEADER, BODY, FOOTER, BUTTONS).")
    ]
    parameter_format: Annotated[str, Meta(description="POSITIONAL or NAMED.")]


class TemplateList(msgspec.Struct):
    data: Annotated[list[TemplateView], Meta(description="The tenant's templates.")]


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
    id: Annotated[UUID, Meta(description="The sender's id.")]
    phone_number_id: Annotated[str, Meta(description="Meta's id of the number.")]
    display_phone_number: Annotated[str, Meta(description="The number in E.164.")]
    waba_id: Annotated[str, Meta(description="The WhatsApp Business Account it belongs to.")]
    credential_id: Annotated[UUID, Meta(description="The WhatsApp credential it sends with.")]
    is_default: Annotated[bool, Meta(description="Whether messages that name no sender go out from it.")]
    status: Annotated[str, Meta(description="active, or what Meta reports (e.g. FLAGGED, RESTRICTED).")]
    quality_rating: Annotated[str, Meta(description="Meta's quality rating: GREEN, YELLOW, RED or UNKNOWN.")]
    messaging_tier: Annotated[
        str | None, Meta(description="Meta's messaging limit tier, e.g. TIER_1K; null until Meta tells.")
    ]
    throughput_mps: Annotated[int, Meta(description="Sends per second Meta allows this number.")]


class SenderList(msgspec.Struct):
    data: Annotated[list[SenderView], Meta(description="The tenant's senders.")]
