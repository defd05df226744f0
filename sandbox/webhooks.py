"""Signed status webhooks, batched per (URL, app secret) as Meta batches them."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import aiohttp

__all__ = ["Dispatcher", "PendingStatus"]

log = logging.getLogger("switchboard.sandbox.webhooks")

MAX_BATCH = 100
TICK = 0.1  # seconds between flushes
MAX_TRIES = 8


@dataclass(order=True)
class PendingStatus:
    due: float
    url: str = field(compare=False)
    app_secret: str = field(compare=False)
    phone_number_id: str = field(compare=False)
    display_phone_number: str = field(compare=False)
    status: dict[str, Any] = field(compare=False)


class Dispatcher:
    def __init__(self) -> None:
        self._pending: list[PendingStatus] = []
        self._session: aiohttp.ClientSession | None = None
        self.posts = 0
        self.statuses = 0
        self.failures = 0
        self._in_flight: set[asyncio.Task[None]] = set()

    def schedule(self, item: PendingStatus) -> None:
        self._pending.append(item)

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def run(self) -> None:
        """Every tick, post what is due, several statuses per POST (at most ``MAX_BATCH``).

        Like Meta, the sandbox does not post each status the moment it happens: under load, the
        statuses that fall due within one tick share a notification.
        """
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        try:
            while True:
                now = time.monotonic()
                due = [p for p in self._pending if p.due <= now]
                if due:
                    self._pending = [p for p in self._pending if p.due > now]
                    groups: dict[tuple[str, str], list[PendingStatus]] = defaultdict(list)
                    for item in sorted(due):
                        groups[(item.url, item.app_secret)].append(item)
                    for (url, secret), items in groups.items():
                        for start in range(0, len(items), MAX_BATCH):
                            task = asyncio.create_task(self._post(url, secret, items[start : start + MAX_BATCH], 1))
                            self._in_flight.add(task)
                            task.add_done_callback(self._in_flight.discard)
                await asyncio.sleep(TICK)
        finally:
            await self._session.close()

    @staticmethod
    def body(items: list[PendingStatus]) -> bytes:
        by_number: dict[str, list[PendingStatus]] = defaultdict(list)
        for item in items:
            by_number[item.phone_number_id].append(item)
        changes = [
            {
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": group[0].display_phone_number, "phone_number_id": number},
                    "statuses": [i.status for i in group],
                },
            }
            for number, group in by_number.items()
        ]
        # Meta escapes non-ASCII and slashes; receivers must verify the raw bytes, so do the same.
        text = json.dumps(
            {"object": "whatsapp_business_account", "entry": [{"id": "sandbox-waba", "changes": changes}]}
        )
        return text.replace("/", "\\/").encode()

    async def _post(self, url: str, secret: str, items: list[PendingStatus], attempt: int) -> None:
        assert self._session is not None
        body = self.body(items)
        signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        try:
            async with self._session.post(
                url, data=body, headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature}
            ) as response:
                ok = 200 <= response.status < 300
        except (aiohttp.ClientError, TimeoutError):
            ok = False
        if ok:
            self.posts += 1
            self.statuses += len(items)
            return
        self.failures += 1
        if attempt < MAX_TRIES:  # Meta retries failed deliveries with backoff
            await asyncio.sleep(min(30.0, 0.5 * 2 ** (attempt - 1)))
            await self._post(url, secret, items, attempt + 1)
        else:
            log.warning("webhook dropped after retries", extra={"fields": {"url": url, "statuses": len(items)}})
