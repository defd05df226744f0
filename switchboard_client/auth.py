"""The client channel's interceptor: every call on it carries the API key, so the raw stubs
(``client.templates``, ``client.senders``...) need nothing more than the typed methods do, and
every unary call gets the client's deadline unless it gives its own. Streams get no deadline:
``WatchMessageEvents`` is meant to stay open."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc

__all__ = ["AuthInterceptor"]


class AuthInterceptor(grpc.aio.UnaryUnaryClientInterceptor, grpc.aio.UnaryStreamClientInterceptor):  # type: ignore[misc]
    def __init__(self, api_key: str, timeout: float) -> None:
        self._authorization = f"Bearer {api_key}"
        self._timeout = timeout

    def _details(self, details: grpc.aio.ClientCallDetails, *, deadline: bool) -> grpc.aio.ClientCallDetails:
        metadata = grpc.aio.Metadata(*(details.metadata or ()))
        if "authorization" not in metadata:
            metadata.add("authorization", self._authorization)
        timeout = details.timeout if details.timeout is not None or not deadline else self._timeout
        return grpc.aio.ClientCallDetails(
            details.method, timeout, metadata, details.credentials, details.wait_for_ready
        )

    async def intercept_unary_unary(
        self, continuation: Callable[..., Awaitable[Any]], details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(self._details(details, deadline=True), request)

    async def intercept_unary_stream(
        self, continuation: Callable[..., Awaitable[Any]], details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(self._details(details, deadline=False), request)
