"""One runnable example request body for every REST operation that takes a body.

They are shown in the OpenAPI document (``/docs``) and sent, as they are, to a running stack by
``tests/e2e/test_openapi_examples.py``: an example that stops working fails the build. They work
against ``switchboard dev``'s demo tenant (sender, ``order_shipped`` template, sandbox providers).
"""

from __future__ import annotations

from typing import Any

__all__ = ["EXAMPLES"]

_ORDER_SHIPPED = {
    "to": "+14155550123",
    "template": {"name": "order_shipped", "language": "en_US", "params": {"body": ["Ada", "#1042"]}},
}

# (method, path) -> (summary, body)
EXAMPLES: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {
    ("post", "/v1/messages"): (
        "An approved template, with SMS and email to fall back on",
        {
            **_ORDER_SHIPPED,
            "fallback": {
                "sms": {"text": "Hi Ada, order #1042 shipped."},
                "email": {"to": "ada@example.com", "subject": "Order shipped", "text": "Your order #1042 shipped."},
            },
        },
    ),
    ("post", "/v1/messages:batch"): (
        "Two messages in one call",
        {"messages": [_ORDER_SHIPPED, {**_ORDER_SHIPPED, "to": "+14155550124"}]},
    ),
    ("post", "/v1/messages:estimate"): ("The price of one message before sending it", _ORDER_SHIPPED),
    ("post", "/v1/messages:batchEstimate"): (
        "The price of a batch before sending it",
        {"messages": [_ORDER_SHIPPED, {**_ORDER_SHIPPED, "to": "+447400123456"}]},
    ),
    ("put", "/v1/routing-policy"): (
        "WhatsApp, then SMS after 10 minutes without delivery, then email",
        {"channels": ["whatsapp", "sms", "email"], "fallback_after": 600},
    ),
    ("put", "/v1/budget"): ("Cap the month's spend at 500.00 (in cents)", {"monthly_budget": 50000}),
    ("put", "/v1/operator/plans/{plan_id}"): (
        "A plan: 50 messages/s, 100,000 a month, a price per WhatsApp category",
        {
            "rate_per_second": 50,
            "burst": 100,
            "monthly_messages": 100000,
            "max_batch": 1000,
            "prices": [
                {"channel": "whatsapp", "category": "MARKETING", "unit_price": 3},
                {"channel": "whatsapp", "unit_price": 1},
                {"channel": "sms", "unit_price": 2},
            ],
        },
    ),
    ("post", "/v1/credentials"): (
        "A Twilio account for SMS fallback (the token is write-only)",
        {
            "kind": "sms",
            "name": "twilio",
            "account_sid": "AC0123456789abcdef0123456789abcdef",
            "auth_token": "0123456789abcdef0123456789abcdef",
            "from_number": "+15005550006",
        },
    ),
    ("post", "/v1/templates"): (
        "A utility template with two positional parameters, submitted to Meta",
        {
            "name": "appointment_reminder",
            "language": "en_US",
            "category": "UTILITY",
            "components": [{"type": "BODY", "text": "Hi {{1}}, see you on {{2}}."}],
        },
    ),
    ("post", "/v1/senders"): (
        "A second WhatsApp number",
        {"phone_number_id": "106540352242922", "display_phone_number": "+15550100002", "throughput_mps": 80},
    ),
    ("post", "/v1/webhook-endpoints"): (
        "Delivery outcomes to the tenant's own server",
        {
            "url": "https://hooks.example.com/switchboard",
            "description": "order service",
            "event_types": ["message.delivered", "message.failed"],
        },
    ),
    ("patch", "/v1/webhook-endpoints/{endpoint_id}"): (
        "Only failures from now on",
        {"event_types": ["message.failed"]},
    ),
    ("post", "/v1/webhook-endpoints/{endpoint_id}/recover"): (
        "Send again everything that failed since midnight",
        {"since": "2026-12-01T00:00:00Z"},
    ),
    ("post", "/v1/webhook-endpoints/{endpoint_id}/rotate-secret"): (
        "A new secret; the old one keeps signing for 24 hours",
        {"overlap_hours": 24},
    ),
}
