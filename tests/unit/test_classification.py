"""The provider error tables: what each answer means for the message."""

from __future__ import annotations

import pytest

from messaging import classification as c
from messaging.classification import Kind


@pytest.mark.parametrize("code", [130429, 131056, 131057, 1, 2, 4, 80007])
def test_whatsapp_rate_and_availability_errors_are_retried(code: int) -> None:
    verdict = c.whatsapp(code, 400)
    assert verdict.kind is Kind.RETRYABLE and verdict.not_before_ms is None


@pytest.mark.parametrize("code", [131026, 130472, 131047])
def test_whatsapp_unreachable_person_is_permanent_but_worth_another_channel(code: int) -> None:
    verdict = c.whatsapp(code, 400)
    assert verdict.kind is Kind.PERMANENT and verdict.fallback


def test_whatsapp_marketing_limit_waits_a_day_or_falls_back() -> None:
    verdict = c.whatsapp(131049, 400)
    assert verdict.kind is Kind.RETRYABLE and verdict.fallback
    assert verdict.not_before_ms == 24 * 3600 * 1000


def test_whatsapp_stopped_marketing_is_an_opt_out() -> None:
    assert c.whatsapp(131050, 400).kind is Kind.OPT_OUT


@pytest.mark.parametrize("code", [132000, 132001, 132005, 132012, 132015, 132016])
def test_whatsapp_template_problems_are_permanent_without_fallback(code: int) -> None:
    verdict = c.whatsapp(code, 400)
    assert verdict.kind is Kind.PERMANENT and not verdict.fallback


@pytest.mark.parametrize("code", [190, 0, 3, 10])
def test_whatsapp_credential_errors_need_the_tenant_and_mark_the_credential(code: int) -> None:
    verdict = c.whatsapp(code, 401)
    assert verdict.kind is Kind.TENANT_ACTION and verdict.credential_unhealthy


@pytest.mark.parametrize("code", [368, 131031, 131042])
def test_whatsapp_policy_and_payment_errors_need_the_tenant(code: int) -> None:
    verdict = c.whatsapp(code, 400)
    assert verdict.kind is Kind.TENANT_ACTION and not verdict.credential_unhealthy


def test_whatsapp_unknown_codes_are_permanent_unless_the_provider_failed() -> None:
    assert c.whatsapp(999_999, 400).kind is Kind.PERMANENT
    assert c.whatsapp(999_999, 503).kind is Kind.RETRYABLE
    assert c.whatsapp(None, 502).kind is Kind.RETRYABLE


@pytest.mark.parametrize(("code", "status"), [(20429, 429), (None, 500), (None, 503), (None, 429)])
def test_twilio_rate_limits_and_server_errors_are_retried(code: int | None, status: int) -> None:
    assert c.twilio(code, status).kind is Kind.RETRYABLE


@pytest.mark.parametrize("code", [21211, 21614, 30003, 30005, 30006])
def test_twilio_bad_or_unreachable_numbers_are_permanent(code: int) -> None:
    verdict = c.twilio(code, 400)
    assert verdict.kind is Kind.PERMANENT and verdict.fallback


def test_twilio_stop_is_an_opt_out() -> None:
    assert c.twilio(21610, 400).kind is Kind.OPT_OUT


@pytest.mark.parametrize(("reply", "kind"), [(421, Kind.RETRYABLE), (450, Kind.RETRYABLE), (550, Kind.PERMANENT)])
def test_smtp_4xx_is_transient_and_5xx_permanent(reply: int, kind: Kind) -> None:
    assert c.smtp(reply).kind is kind


def test_a_refused_connection_is_retried_but_a_timeout_is_ambiguous() -> None:
    assert c.transport(reached_provider=False).kind is Kind.RETRYABLE
    assert c.transport(reached_provider=True).kind is Kind.AMBIGUOUS


def test_a_refused_recipient_is_a_hard_bounce_that_suppresses_the_address() -> None:
    assert c.smtp(550, stage="rcpt").kind is Kind.OPT_OUT
    assert c.smtp(554, stage="rcpt").kind is Kind.PERMANENT  # a policy refusal, not a missing mailbox


@pytest.mark.parametrize(
    ("code", "kind", "reason"), [(550, Kind.OPT_OUT, "hard_bounce"), (452, Kind.PERMANENT, "soft_bounce")]
)
def test_a_bounce_reported_later_is_hard_or_soft_by_its_code(code: int, kind: Kind, reason: str) -> None:
    verdict = c.email_bounce(code)
    assert (verdict.kind, verdict.reason, verdict.fallback) == (kind, reason, True)


def test_only_slow_down_answers_are_throttles_that_spend_no_attempt() -> None:
    assert c.whatsapp(130429, 400).throttle and c.whatsapp(131056, 400).throttle
    assert not c.whatsapp(131057, 400).throttle and not c.whatsapp(2, 500).throttle
