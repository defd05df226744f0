"""Partner webhooks: signed outbound events (Standard Webhooks v1) to the tenant's endpoints.

Events are derived from the audit trail in the transaction that records it (triggers from
migration 0025 on ``message_events``, ``inbound_messages`` and ``templates``), so no code path that
changes a message can forget to tell partners. Each (endpoint, event) pair is a delivery row; the
relay's dispatcher leases due deliveries into the outbox, and a worker sends each one
(:mod:`webhooks.outbound.sender`), recording every attempt.
"""
