"""The message status state machine: pure, no I/O.

Ranks: ``queued < submitted < sent < delivered < read``. ``failed`` sits beside them:

* A report of a higher rank moves the message forward; an equal or lower one is recorded but
  changes nothing (providers deliver callbacks at least once and in any order).
* ``failed`` is accepted only before delivery (from queued, submitted or sent). A ``failed`` after
  ``delivered``/``read`` is contradicted by the delivery and changes nothing.
* ``failed`` is absorbing except for one documented exception: a later ``delivered`` or ``read``
  proves the message arrived, so it moves the message there (providers do report a failure for one
  attempt and then deliver).

Because every rule is monotone in (delivery evidence, rank), the final status depends only on the
*set* of reported statuses, never on their order or multiplicity: see :func:`settle`.

The machine decides, it does not act: a transition names its :class:`Effect` (try the next channel;
stop trying other channels), and whoever applies it performs the effect. Each is emitted at most
once per message, whatever the reports, so acting on it needs no further bookkeeping.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Effect", "Outcome", "Status", "Transition", "apply", "fold", "settle"]


class Status(StrEnum):
    QUEUED = "queued"
    SUBMITTED = "submitted"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


RANK: dict[Status, int] = {
    Status.QUEUED: 0,
    Status.SUBMITTED: 1,
    Status.SENT: 2,
    Status.DELIVERED: 3,
    Status.READ: 4,
}
_DELIVERED = frozenset({Status.DELIVERED, Status.READ})


class Outcome(StrEnum):
    ADVANCED = "advanced"  # moved forward
    FAILED = "failed"  # moved to failed
    RECOVERED = "recovered"  # failed, then delivery proved it arrived
    DUPLICATE = "duplicate"  # already in that status
    STALE = "stale"  # a lower rank than the current status
    AFTER_FAILURE = "after_failure"  # progress short of delivery, after failed
    CONTRADICTED = "contradicted"  # failed, after delivery was reported


class Effect(StrEnum):
    FALL_BACK = "fall_back"  # this channel failed before delivery: the next channel may take over
    DELIVERED = "delivered"  # delivery is proven: no further channel, a pending fallback is moot


@dataclass(frozen=True, slots=True)
class Transition:
    previous: Status
    reported: Status
    current: Status
    outcome: Outcome

    @property
    def changed(self) -> bool:
        return self.current != self.previous

    @property
    def effects(self) -> tuple[Effect, ...]:
        if self.outcome is Outcome.FAILED:
            return (Effect.FALL_BACK,)
        if self.current in _DELIVERED and self.previous not in _DELIVERED:
            return (Effect.DELIVERED,)
        return ()


def apply(current: Status, reported: Status) -> Transition:
    """What a reported status does to a message in ``current``."""

    def t(to: Status, outcome: Outcome) -> Transition:
        return Transition(current, reported, to, outcome)

    if reported == current:
        return t(current, Outcome.DUPLICATE)
    if reported is Status.FAILED:
        if current in _DELIVERED:
            return t(current, Outcome.CONTRADICTED)
        return t(Status.FAILED, Outcome.FAILED)
    if current is Status.FAILED:
        if reported in _DELIVERED:
            return t(reported, Outcome.RECOVERED)
        return t(current, Outcome.AFTER_FAILURE)
    if RANK[reported] > RANK[current]:
        return t(reported, Outcome.ADVANCED)
    return t(current, Outcome.STALE)


def fold(reports: Iterable[Status], initial: Status = Status.QUEUED) -> Status:
    """Apply reports one by one, in the order given."""
    current = initial
    for reported in reports:
        current = apply(current, reported).current
    return current


def settle(reports: Iterable[Status], initial: Status = Status.QUEUED) -> Status:
    """The final status as a function of the *set* of reports (the order-free specification)."""
    seen = set(reports) | {initial}
    delivered = seen & _DELIVERED
    if delivered:
        return max(delivered, key=RANK.__getitem__)
    if Status.FAILED in seen:
        return Status.FAILED
    return max(seen, key=RANK.__getitem__)
