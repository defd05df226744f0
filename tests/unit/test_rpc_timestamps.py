"""Timestamps in gRPC answers: the same instant protobuf's own conversion gives, faster."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from edge.rpc import timestamp


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 12, 1, 13, 45, 7, 123456, tzinfo=UTC),
        datetime(1969, 7, 20, 20, 17, 40, 1, tzinfo=UTC),  # before the epoch: negative seconds
        datetime(2026, 12, 1, 15, 45, 7, tzinfo=timezone(timedelta(hours=2))),  # another offset
        datetime(2026, 12, 1, 13, 45, 7, 999999),  # naive: UTC
    ],
)
def test_a_datetime_becomes_the_timestamp_protobuf_makes_of_it(value: datetime) -> None:
    expected = Timestamp()
    expected.FromDatetime(value)
    assert timestamp(value) == expected


def test_no_datetime_leaves_the_field_unset() -> None:
    assert timestamp(None) is None
