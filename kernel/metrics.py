"""Counters shared by every process, kept in Redis, served in Prometheus' text format.

Only rare, operator-relevant events are counted here (a refused webhook signature, say): each
count is one Redis round trip, so nothing on a hot path goes through it. A counter that cannot be
written is logged and dropped; counting must never fail the request it counts.
"""

from __future__ import annotations

import logging
import os

import msgspec
import redis.asyncio as redis

__all__ = ["Counters", "incr_local", "render"]

log = logging.getLogger("switchboard.metrics")

_KEY = "switchboard:metrics:{name}"
_NAMES = "switchboard:metrics"

HELP: dict[str, str] = {
    "webhook_signature_failures_total": "Webhook requests refused because their signature did not verify.",
    "quota_fallback_total": "Submissions admitted by the per-process limiter because Redis was unavailable "
    "(counted per process: Redis is what failed).",
}

# Counts that cannot go to Redis because Redis is what failed; each process serves its own.
_local: dict[tuple[str, str], int] = {}


def incr_local(name: str, **labels: str) -> None:
    key = (name, msgspec.json.encode(dict(sorted({**labels, "pid": str(os.getpid())}.items()))).decode())
    _local[key] = _local.get(key, 0) + 1


class Counters:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    async def incr(self, name: str, **labels: str) -> None:
        field = msgspec.json.encode(dict(sorted(labels.items()))).decode()
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.sadd(_NAMES, name)
                pipe.hincrby(_KEY.format(name=name), field, 1)
                await pipe.execute()
        except redis.RedisError as error:
            log.warning("counter not recorded", extra={"fields": {"counter": name, "error": str(error)}})

    async def read(self) -> dict[str, dict[str, int]]:
        """``{name: {labels-json: value}}``: the shared counters (none when Redis is unavailable)
        and this process's local ones."""
        found: dict[str, dict[str, int]] = {}
        try:
            names = sorted(n if isinstance(n, str) else n.decode() for n in await self._redis.smembers(_NAMES))
            for name in names:
                raw = await self._redis.hgetall(_KEY.format(name=name))
                found[name] = {(k if isinstance(k, str) else k.decode()): int(v) for k, v in raw.items()}
        except (redis.RedisError, OSError) as error:
            log.warning("shared counters unavailable", extra={"fields": {"error": str(error)}})
        for (name, labels), value in _local.items():
            found.setdefault(name, {})[labels] = value
        return found


def _labels(field: str) -> str:
    labels: dict[str, str] = msgspec.json.decode(field)
    if not labels:
        return ""
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return "{" + inner + "}"


def render(counters: dict[str, dict[str, int]]) -> str:
    lines: list[str] = []
    for name, series in counters.items():
        metric = f"switchboard_{name}"
        lines.append(f"# HELP {metric} {HELP.get(name, name)}")
        lines.append(f"# TYPE {metric} counter")
        lines.extend(f"{metric}{_labels(field)} {value}" for field, value in sorted(series.items()))
    return "\n".join(lines) + "\n"
