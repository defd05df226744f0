"""Counters shared by every process, kept in Redis, served in Prometheus' text format.

Only rare, operator-relevant events are counted here (a refused webhook signature, say): each
count is one Redis round trip, so nothing on a hot path goes through it. A counter that cannot be
written is logged and dropped; counting must never fail the request it counts.
"""

from __future__ import annotations

import logging

import msgspec
import redis.asyncio as redis

__all__ = ["Counters", "render"]

log = logging.getLogger("switchboard.metrics")

_KEY = "switchboard:metrics:{name}"
_NAMES = "switchboard:metrics"

HELP: dict[str, str] = {
    "webhook_signature_failures_total": "Webhook requests refused because their signature did not verify.",
}


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
        """``{name: {labels-json: value}}``."""
        names = sorted(n if isinstance(n, str) else n.decode() for n in await self._redis.smembers(_NAMES))
        found: dict[str, dict[str, int]] = {}
        for name in names:
            raw = await self._redis.hgetall(_KEY.format(name=name))
            found[name] = {(k if isinstance(k, str) else k.decode()): int(v) for k, v in raw.items()}
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
