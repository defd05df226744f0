"""Who may do what in the console. Every page and action names the permission it needs; this
table is the only place that says which roles hold it."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["GRANTS", "TENANT_ROLES", "Can", "Role", "home_of"]


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    DEVELOPER = "developer"
    SUPPORT = "support"  # read-only on messages, may retry a dead letter
    BILLING = "billing"  # usage and invoices only
    OPERATOR = "operator"  # the platform's operator: tenants and system health, no tenant's data


TENANT_ROLES = tuple(r for r in Role if r is not Role.OPERATOR)


class Can(StrEnum):
    SEE_DASHBOARD = "see_dashboard"
    SEE_MESSAGES = "see_messages"
    RETRY_MESSAGES = "retry_messages"
    SEE_SETUP = "see_setup"  # templates, senders, credentials (their health and fingerprints)
    MANAGE_SETUP = "manage_setup"  # sync and submit templates
    MANAGE_KEYS = "manage_keys"
    MANAGE_WEBHOOKS = "manage_webhooks"  # partner webhook endpoints, their secrets and deliveries
    SEE_BILLING = "see_billing"
    OPERATE = "operate"


GRANTS: dict[Role, frozenset[Can]] = {
    Role.OWNER: frozenset(Can) - {Can.OPERATE},
    Role.ADMIN: frozenset(Can) - {Can.OPERATE},
    Role.DEVELOPER: frozenset(
        {
            Can.SEE_DASHBOARD,
            Can.SEE_MESSAGES,
            Can.RETRY_MESSAGES,
            Can.SEE_SETUP,
            Can.MANAGE_SETUP,
            Can.MANAGE_KEYS,
            Can.MANAGE_WEBHOOKS,
        }
    ),
    Role.SUPPORT: frozenset({Can.SEE_MESSAGES, Can.RETRY_MESSAGES}),
    Role.BILLING: frozenset({Can.SEE_BILLING}),
    Role.OPERATOR: frozenset({Can.OPERATE}),
}


def home_of(role: Role) -> str:
    """The first page a role lands on after signing in."""
    grants = GRANTS[role]
    if Can.SEE_DASHBOARD in grants:
        return "/admin/"
    if Can.SEE_MESSAGES in grants:
        return "/admin/messages"
    if Can.SEE_BILLING in grants:
        return "/admin/usage"
    return "/admin/operator/tenants"
