"""Login throttling: after too many failed sign-ins for one email (or from one address) within
a window, sign-in is refused until the window passes, even with the right password.

Counters live in Redis so every API process sees the same count.
"""

from __future__ import annotations

import redis.asyncio as redis

from kernel.errors import ErrorKind, Throttled

__all__ = ["LoginThrottle"]

WINDOW_SECONDS = 15 * 60
PER_EMAIL = 5
PER_ADDRESS = 30


class LoginThrottle:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    @staticmethod
    def _keys(email: str, address: str) -> tuple[str, str]:
        return f"sb:admin:login:email:{email.strip().lower()}", f"sb:admin:login:addr:{address}"

    async def check(self, email: str, address: str) -> None:
        by_email, by_address = self._keys(email, address)
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in (by_email, by_address):
                pipe.get(key)
            for key in (by_email, by_address):
                pipe.ttl(key)
            email_count, address_count, email_ttl, address_ttl = await pipe.execute()
        if int(email_count or 0) >= PER_EMAIL or int(address_count or 0) >= PER_ADDRESS:
            wait = max(int(email_ttl or 0), int(address_ttl or 0), 1)
            raise Throttled(
                f"too many failed sign-ins; try again in {max(1, round(wait / 60))} minutes",
                kind=ErrorKind.RATE_LIMITED,
                subject="admin:login",
                retry_after=wait,
            )

    async def failed(self, email: str, address: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            for key in self._keys(email, address):
                # The window starts at the first failure and is not extended by later ones.
                pipe.incr(key)
                pipe.expire(key, WINDOW_SECONDS, nx=True)
            await pipe.execute()

    async def succeeded(self, email: str) -> None:
        await self._redis.delete(self._keys(email, "")[0])
