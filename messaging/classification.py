"""What a provider's answer means for the message: one table per provider, pure code, no I/O.

Every outcome of a send maps to a :class:`Verdict`: what kind of failure it is, whether another
channel may take over, how soon (if ever) to try again, and what the tenant must be told. The
delivery engine acts on verdicts and never on raw codes, so the tables below are the one place a
provider's error code is interpreted.

Sources: ``../shared/docs/WHATSAPP.md`` ("Error codes"), Twilio's error dictionary, RFC 5321
reply codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Kind", "Verdict", "email_bounce", "smtp", "transport", "twilio", "whatsapp"]

DAY_MS = 86_400_000


class Kind(StrEnum):
    RETRYABLE = "retryable"  # try this channel again, with backoff
    PERMANENT = "permanent"  # this send can never succeed as it is
    TENANT_ACTION = "tenant_action"  # the tenant must fix something first (credentials, payment, policy)
    OPT_OUT = "opt_out"  # the recipient said stop: do not send them this kind of message again
    AMBIGUOUS = "ambiguous"  # the provider may or may not have taken it: never resend blindly


@dataclass(frozen=True, slots=True)
class Verdict:
    kind: Kind
    reason: str  # a stable, machine-readable reason (shown in dead letters and events)
    # Another channel may reach the person where this one cannot.
    fallback: bool = False
    # Try again no sooner than this (ms); None: the channel's usual backoff.
    not_before_ms: int | None = None
    # The credential that made the call is not usable until the tenant fixes it.
    credential_unhealthy: bool = False
    # The provider refused only to slow us down (nothing was sent, nothing is wrong with the
    # message): the attempt is recorded but does not use up the allowance; the round's maximum
    # age still bounds it.
    throttle: bool = False

    @property
    def retryable(self) -> bool:
        return self.kind is Kind.RETRYABLE


def _retry(reason: str, not_before_ms: int | None = None, fallback: bool = False, throttle: bool = False) -> Verdict:
    return Verdict(Kind.RETRYABLE, reason, fallback=fallback, not_before_ms=not_before_ms, throttle=throttle)


# WhatsApp Cloud API error codes (WHATSAPP.md).
_WHATSAPP: dict[int, Verdict] = {
    # Throughput, pair rate, maintenance, temporary API errors, app and account call-rate limits.
    130429: _retry("throughput", throttle=True),
    131056: _retry("pair_rate", throttle=True),
    131057: _retry("account_maintenance"),
    1: _retry("api_unknown"),
    2: _retry("api_service"),
    4: _retry("app_rate_limit"),
    80007: _retry("account_rate_limit"),
    131000: _retry("something_went_wrong"),
    131016: _retry("service_unavailable"),
    # The person cannot be reached on WhatsApp now; another channel may reach them.
    131026: Verdict(Kind.PERMANENT, "undeliverable", fallback=True),
    130472: Verdict(Kind.PERMANENT, "experiment", fallback=True),
    131047: Verdict(Kind.PERMANENT, "reengagement_window", fallback=True),
    # Meta limits marketing to this person for now: another channel, or again after a day.
    131049: _retry("marketing_engagement_limit", not_before_ms=DAY_MS, fallback=True),
    131050: Verdict(Kind.OPT_OUT, "stopped_marketing"),
    # Credentials: expired or revoked token, permission missing.
    0: Verdict(Kind.TENANT_ACTION, "auth_exception", credential_unhealthy=True),
    3: Verdict(Kind.TENANT_ACTION, "capability", credential_unhealthy=True),
    10: Verdict(Kind.TENANT_ACTION, "permission_denied", credential_unhealthy=True),
    190: Verdict(Kind.TENANT_ACTION, "access_token_expired", credential_unhealthy=True),
    100: Verdict(Kind.PERMANENT, "invalid_parameter"),
    131051: Verdict(Kind.PERMANENT, "unsupported_message_type"),
    131053: Verdict(Kind.PERMANENT, "media_error"),
    # Policy, quality and account standing.
    131048: Verdict(Kind.TENANT_ACTION, "spam_rate_limit", fallback=True),
    368: Verdict(Kind.TENANT_ACTION, "policy_violation"),
    131031: Verdict(Kind.TENANT_ACTION, "account_locked"),
    131042: Verdict(Kind.TENANT_ACTION, "payment_issue"),
}
_WHATSAPP_PAYLOAD = range(132000, 132017)  # template and parameter problems: the request is wrong


def whatsapp(code: int | None, http_status: int | None) -> Verdict:
    if code is not None and code in _WHATSAPP:
        return _WHATSAPP[code]
    if code is not None and code in _WHATSAPP_PAYLOAD:
        return Verdict(Kind.PERMANENT, "template_or_parameters")
    if http_status is not None and http_status >= 500:
        return _retry("provider_5xx")
    return Verdict(Kind.PERMANENT, "unknown_error")


# Twilio error codes (twilio.com/docs/api/errors).
_TWILIO: dict[int, Verdict] = {
    20429: _retry("too_many_requests"),
    30001: _retry("queue_overflow"),
    21611: _retry("sender_queue_full"),
    30036: Verdict(Kind.PERMANENT, "validity_period_expired"),
    20003: Verdict(Kind.TENANT_ACTION, "authentication", credential_unhealthy=True),
    21211: Verdict(Kind.PERMANENT, "invalid_number", fallback=True),
    21614: Verdict(Kind.PERMANENT, "not_mobile", fallback=True),
    30003: Verdict(Kind.PERMANENT, "unreachable", fallback=True),
    30005: Verdict(Kind.PERMANENT, "unknown_destination", fallback=True),
    30006: Verdict(Kind.PERMANENT, "landline_or_unreachable_carrier", fallback=True),
    # The person replied STOP: no SMS until they reply START.
    21610: Verdict(Kind.OPT_OUT, "unsubscribed", fallback=True),
}


def twilio(code: int | None, http_status: int | None) -> Verdict:
    if code is not None and code in _TWILIO:
        return _TWILIO[code]
    if http_status is not None and (http_status >= 500 or http_status == 429):
        return _retry("provider_5xx" if http_status >= 500 else "too_many_requests")
    return Verdict(Kind.PERMANENT, "unknown_error", fallback=True)


def smtp(reply_code: int, stage: str = "data") -> Verdict:
    """RFC 5321: 4yz is transient, 5yz permanent. A 5yz refusal of the recipient itself (550 no
    such mailbox, 551, 553) is a hard bounce: the address is suppressed for the tenant."""
    if 400 <= reply_code < 500:
        return _retry("smtp_transient")
    if stage == "rcpt" and reply_code in (550, 551, 553):
        return Verdict(Kind.OPT_OUT, "hard_bounce", fallback=True)
    if reply_code in (530, 535):  # authentication required / failed
        return Verdict(Kind.TENANT_ACTION, "smtp_authentication", credential_unhealthy=True)
    return Verdict(Kind.PERMANENT, "smtp_rejected")


def email_bounce(reply_code: int | None, http_status: int | None = None) -> Verdict:
    """A bounce the mail provider reported after accepting the email (:mod:`webhooks.mail_events`):
    5yz is hard (the address is suppressed), 4yz soft (the provider gave up on this one email). A
    bad address says nothing about the person's phone, so either leaves room for another channel."""
    if reply_code is not None and reply_code >= 500:
        return Verdict(Kind.OPT_OUT, "hard_bounce", fallback=True)
    return Verdict(Kind.PERMANENT, "soft_bounce", fallback=True)


def transport(reached_provider: bool) -> Verdict:
    """A call that failed below the provider's protocol: a refused connection never reached it
    (safe to retry); a timeout or a dropped connection may have (ambiguous)."""
    if reached_provider:
        return Verdict(Kind.AMBIGUOUS, "outcome_unknown")
    return _retry("connect_failed")
