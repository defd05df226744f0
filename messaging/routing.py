"""Resolution: (tenant, sender, template) into an immutable :class:`Route`, cached per process.

A cached route is keyed by the tenant's ``config_version``, which a trigger bumps in the same
transaction as any change to the tenant's credentials, senders or templates (migration 0008) and
which authentication reads in the query it makes anyway. A change committed through any path (API,
sync, status webhook, SQL) therefore misses the cache on the very next request in every process:
no invalidation messages, no TTL to wait out. Entries for old versions are simply never asked for
again and age out of the bounded cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from kernel.db import Connection
from messaging.template_lint import Shape, shape
from tenants import repository
from tenants.domain import Sender, Template

__all__ = ["Route", "RouteCache", "resolve"]


@dataclass(frozen=True, slots=True)
class Route:
    sender: Sender
    template: Template | None  # asked for and found (any status)
    shape: Shape | None  # the template, parsed for the linter


Key = tuple[UUID, int, str | None, str | None, str | None]


class RouteCache:
    """A bounded map from (tenant, config version, sender, template, language) to the route, or to
    None for "no such sender" (negative answers are as stable as positive ones under a version)."""

    def __init__(self, size: int = 10_000) -> None:
        self._size = size
        self._routes: dict[Key, Route | None] = {}
        self.hits = self.misses = 0

    def get(self, key: Key) -> tuple[bool, Route | None]:
        try:
            route = self._routes[key]
        except KeyError:
            self.misses += 1
            return False, None
        self.hits += 1
        return True, route

    def put(self, key: Key, route: Route | None) -> None:
        if len(self._routes) >= self._size:
            # The oldest entry goes first (dicts keep insertion order): usually a superseded version.
            del self._routes[next(iter(self._routes))]
        self._routes[key] = route

    def clear(self) -> None:
        self._routes.clear()


ROUTES = RouteCache()


async def resolve(
    conn: Connection,
    tenant_id: UUID,
    sender: str | None,
    template: str | None,
    language: str | None,
    *,
    config_version: int | None = None,
    cache: RouteCache = ROUTES,
) -> Route | None:
    """The sender (named, or the tenant's default) and, when named, its WABA's template.

    Without a ``config_version`` (a caller that did not authenticate this request) the database is
    read every time.
    """
    key: Key | None = None
    if config_version is not None:
        key = (tenant_id, config_version, sender, template, language)
        found, route = cache.get(key)
        if found:
            return route
    resolved = await repository.resolve_route(conn, tenant_id, sender, template, language)
    route = None
    if resolved is not None:
        found_sender, found_template = resolved
        route = Route(found_sender, found_template, shape(found_template) if found_template else None)
    if key is not None:
        cache.put(key, route)
    return route
