"""Property tests of the message state machine (pure, no I/O)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from messaging.states import RANK, Effect, Outcome, Status, apply, fold, settle

REPORTS = st.sampled_from([Status.SUBMITTED, Status.SENT, Status.DELIVERED, Status.READ, Status.FAILED])
STATES = st.sampled_from(list(Status))
ORDER = {**RANK, Status.FAILED: 2.5}  # a total order for "sorted": failed between sent and delivered


@given(st.lists(REPORTS, max_size=30))
def test_any_order_and_duplication_ends_where_the_sorted_unique_reports_end(reports: list[Status]) -> None:
    sorted_unique = sorted(set(reports), key=ORDER.__getitem__)
    assert fold(reports) == fold(sorted_unique) == settle(reports)


@given(st.lists(REPORTS, max_size=30), st.permutations(range(30)))
def test_final_status_is_independent_of_arrival_order(reports: list[Status], order: list[int]) -> None:
    shuffled = [reports[i] for i in order if i < len(reports)]
    assert fold(shuffled) == fold(reports)


@given(STATES, REPORTS)
def test_applying_the_same_report_twice_changes_nothing_more(current: Status, reported: Status) -> None:
    once = apply(current, reported)
    twice = apply(once.current, reported)
    assert twice.current == once.current
    assert not twice.changed


@given(STATES, REPORTS)
def test_never_a_rank_regression_except_into_failed(current: Status, reported: Status) -> None:
    result = apply(current, reported).current
    if current is not Status.FAILED and result is not Status.FAILED:
        assert RANK[result] >= RANK[current]


@given(REPORTS)
def test_read_is_absorbing(reported: Status) -> None:
    assert apply(Status.READ, reported).current is Status.READ


@given(REPORTS)
def test_failed_is_left_only_for_proof_of_delivery(reported: Status) -> None:
    transition = apply(Status.FAILED, reported)
    if reported in (Status.DELIVERED, Status.READ):
        assert transition.current is reported and transition.outcome is Outcome.RECOVERED
    else:
        assert transition.current is Status.FAILED and not transition.changed


def test_failed_after_delivery_is_contradicted() -> None:
    for current in (Status.DELIVERED, Status.READ):
        transition = apply(current, Status.FAILED)
        assert transition.current is current and transition.outcome is Outcome.CONTRADICTED


class MessageLifecycle(RuleBasedStateMachine):
    """Reports arrive in any interleaving, duplicated; the live status always equals the spec."""

    def __init__(self) -> None:
        super().__init__()
        self.status = Status.QUEUED
        self.seen: list[Status] = []
        self.delivered_seen = False
        self.effects: list[Effect] = []

    @rule(reported=REPORTS)
    def report(self, reported: Status) -> None:
        before = self.status
        transition = apply(self.status, reported)
        assert transition.previous is before and transition.reported is reported
        assert transition.changed == (transition.current != before)
        self.status = transition.current
        self.effects.extend(transition.effects)
        self.seen.append(reported)
        self.delivered_seen |= reported in (Status.DELIVERED, Status.READ)

    @rule()
    def replay_everything(self) -> None:
        # A provider replaying its whole history changes nothing.
        status = self.status
        for reported in list(self.seen):
            status = apply(status, reported).current
        assert status == self.status

    @invariant()
    def matches_the_order_free_specification(self) -> None:
        assert self.status == settle(self.seen)

    @invariant()
    def each_effect_is_emitted_at_most_once_and_agrees_with_the_status(self) -> None:
        assert self.effects.count(Effect.FALL_BACK) <= 1
        assert self.effects.count(Effect.DELIVERED) == (1 if self.status in (Status.DELIVERED, Status.READ) else 0)
        if self.status is Status.FAILED:
            assert self.effects == [Effect.FALL_BACK]  # fall back exactly once, from a failure
        if Effect.FALL_BACK in self.effects and Effect.DELIVERED in self.effects:
            assert self.effects == [Effect.FALL_BACK, Effect.DELIVERED]  # the failed channel delivered after all

    @invariant()
    def delivery_evidence_is_never_lost(self) -> None:
        if self.delivered_seen:
            assert self.status in (Status.DELIVERED, Status.READ)


TestMessageLifecycle = MessageLifecycle.TestCase
