"""A tenant's delivery figures for the console's dashboard: volume by status and channel, the
delivery rate, failures by reason, and a daily series.

Every figure reads ``messages`` through its ``(tenant_id, created_at)`` index, so a month of a
busy tenant is one index range scan per query.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID

import msgspec

from kernel.db import Connection
from messaging.states import Status

__all__ = ["DayVolume", "Overview", "Volume", "overview"]

_DELIVERED = (Status.DELIVERED.value, Status.READ.value)


def _rate(delivered: int, failed: int) -> float | None:
    """Delivered or read, of the messages that have settled (in-flight ones are not counted)."""
    settled = delivered + failed
    return delivered / settled if settled else None


class Volume(msgspec.Struct):
    total: int
    by_status: dict[str, int]
    by_channel: dict[str, int]
    delivered: int
    failed: int

    @property
    def delivery_rate(self) -> float | None:
        return _rate(self.delivered, self.failed)


class DayVolume(msgspec.Struct):
    day: date
    total: int
    delivered: int
    failed: int

    @property
    def delivery_rate(self) -> float | None:
        return _rate(self.delivered, self.failed)


class Overview(msgspec.Struct):
    today: Volume
    month: Volume
    failures: list[tuple[str, int]]  # this month's failed messages by reason, most first
    days: list[DayVolume]  # the last ``days`` days, oldest first, empty days included


async def _volume(conn: Connection, tenant_id: UUID, since: datetime) -> Volume:
    rows = await conn.fetch(
        "SELECT status, channel, count(*)::bigint AS n FROM messages "
        "WHERE tenant_id = $1 AND created_at >= $2 GROUP BY status, channel",
        tenant_id,
        since,
    )
    by_status: dict[str, int] = {}
    by_channel: dict[str, int] = {}
    for r in rows:
        by_status[r["status"]] = by_status.get(r["status"], 0) + r["n"]
        by_channel[r["channel"]] = by_channel.get(r["channel"], 0) + r["n"]
    return Volume(
        total=sum(by_status.values()),
        by_status=by_status,
        by_channel=by_channel,
        delivered=sum(by_status.get(s, 0) for s in _DELIVERED),
        failed=by_status.get(Status.FAILED.value, 0),
    )


async def overview(conn: Connection, tenant_id: UUID, *, now: datetime | None = None, days: int = 14) -> Overview:
    now = now or datetime.now(UTC)
    today = datetime.combine(now.date(), time(), UTC)
    month = today.replace(day=1)
    first_day = today - timedelta(days=days - 1)
    failures = await conn.fetch(
        "SELECT coalesce(nullif(error_reason, ''), 'unknown') AS reason, count(*)::bigint AS n FROM messages "
        "WHERE tenant_id = $1 AND created_at >= $2 AND status = 'failed' GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10",
        tenant_id,
        month,
    )
    series = await conn.fetch(
        "SELECT (created_at AT TIME ZONE 'UTC')::date AS day, count(*)::bigint AS total, "
        "count(*) FILTER (WHERE status = ANY($3::text[]))::bigint AS delivered, "
        "count(*) FILTER (WHERE status = 'failed')::bigint AS failed "
        "FROM messages WHERE tenant_id = $1 AND created_at >= $2 GROUP BY 1",
        tenant_id,
        first_day,
        list(_DELIVERED),
    )
    found = {r["day"]: r for r in series}
    day_list = []
    for offset in range(days):
        day = (first_day + timedelta(days=offset)).date()
        r = found.get(day)
        day_list.append(DayVolume(day, r["total"], r["delivered"], r["failed"]) if r else DayVolume(day, 0, 0, 0))
    return Overview(
        today=await _volume(conn, tenant_id, today),
        month=await _volume(conn, tenant_id, month),
        failures=[(r["reason"], r["n"]) for r in failures],
        days=day_list,
    )
