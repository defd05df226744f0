"""How the relay shares a pass's slots among tenants with bulk work waiting."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kernel.outbox_relay import fair_shares


def test_slots_are_shared_equally() -> None:
    assert fair_shares({"a": 500, "b": 500}, 100) == {"a": 50, "b": 50}


def test_what_a_tenant_cannot_use_goes_to_the_others() -> None:
    assert fair_shares({"a": 500, "b": 10, "c": 0}, 100) == {"a": 90, "b": 10}


def test_with_fewer_slots_than_tenants_the_first_one_turns() -> None:
    room = {"a": 5, "b": 5, "c": 5}
    assert fair_shares(room, 2, first=0) == {"a": 1, "b": 1}
    assert fair_shares(room, 2, first=1) == {"b": 1, "c": 1}
    assert fair_shares(room, 2, first=2) == {"c": 1, "a": 1}


@given(st.dictionaries(st.text(max_size=3), st.integers(0, 50), max_size=8), st.integers(0, 200), st.integers(0, 9))
def test_shares_stay_within_room_and_slots_and_waste_none(room: dict[str, int], slots: int, first: int) -> None:
    shares = fair_shares(room, slots, first=first)
    assert all(0 < n <= room[t] for t, n in shares.items())
    assert sum(shares.values()) == min(slots, sum(room.values()))
    # Equal where room allows: no tenant gets two more than another that still had room.
    for n in shares.values():
        for u in room:
            if shares.get(u, 0) < room[u]:
                assert n <= shares.get(u, 0) + 1
