"""gRPC's wire protocol as an ASGI application, for uvicorn's HTTP/2 (zttp) to serve.

Why not grpcio's server: its asyncio server passes every completion between a poller thread and
the event loop. For a handler that awaits PostgreSQL and Redis that cost a SendMessage twice the
server CPU of the REST server's whole request, about 350 µs of it in grpcio (``bench.submit``;
README "Performance"). uvicorn parses HTTP/2 in native code on the event loop's own thread.

grpcio keeps every other job: the generated code registers the servicers (and grpcio's health
and reflection services) on a :class:`Methods` exactly as on a ``grpc.aio.Server``, its method
handlers (de)serialize, and the servicers see the part of ``grpc.aio.ServicerContext`` they use.

The protocol (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md), as implemented:
unary and streaming calls in both directions; length-prefixed messages, identity or gzip;
``grpc-timeout`` deadlines; the work cancelled when the client resets the stream or goes away;
metadata (``-bin`` values in base64); initial metadata sent with the response headers; status,
message and ``grpc-status-details-bin`` in the trailers.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import grpc
import zttp
from uvicorn.protocols.http.zttp_h2_impl import ZttpH2Protocol

__all__ = [
    "MAX_MESSAGE_BYTES",
    "STREAMS_PER_CONNECTION",
    "Context",
    "GrpcApp",
    "GrpcH2Protocol",
    "Methods",
    "parse_timeout",
]

log = logging.getLogger("switchboard.grpc")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Metadata = tuple[tuple[str, str | bytes], ...]

# grpcio's default limit on a received message.
MAX_MESSAGE_BYTES = 4 * 1024 * 1024

_UNITS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}
_ENCODINGS = b"identity,gzip"
# Request headers that belong to the protocol, not to the call's metadata.
_PROTOCOL_HEADERS = frozenset({b"content-type", b"te", b"grpc-timeout", b"grpc-encoding", b"grpc-accept-encoding"})
_OK = (b"grpc-status", b"0")

# Calls served on one connection before it is retired (see GrpcH2Protocol): under zttp's limit of
# 4,096 streams, with room for the calls a client starts before it reads the GOAWAY.
STREAMS_PER_CONNECTION = 3_900
# How long a retired connection waits for its client to close it: the client reads the GOAWAY
# within a round trip, so a second is ample, and it bounds how long a stopping server waits.
GOAWAY_LINGER_SECONDS = 1.0


# Scope keys between GrpcApp and GrpcH2Protocol: the task serving the call, and that its client left.
_TASK = "switchboard.grpc.task"
_GONE = "switchboard.grpc.gone"


def _abandon(scope: Any) -> None:
    """The client reset the call or went away: stop the work done for it (a deadline-less call
    would otherwise run to its end for nobody). A task, not an ASGI message, because a unary
    handler never reads the request stream again once it has its one message."""
    task = scope.pop(_TASK, None)
    if task is not None:
        scope[_GONE] = True
        task.cancel()


class GrpcH2Protocol(ZttpH2Protocol):
    """uvicorn's HTTP/2 connection (prior knowledge, as gRPC clients speak it), retired gracefully.

    zttp 0.0.35 ends a connection with ENHANCE_YOUR_CALM on its 4,097th stream, failing whatever
    calls are in flight on it (36 of 16,000 calls from one busy grpcio channel ended UNAVAILABLE).
    So after :data:`STREAMS_PER_CONNECTION` calls, and when the server stops, the connection sends
    GOAWAY (NO_ERROR) naming the last call it serves: the client sends later calls on a new
    connection, as it does when nginx retires a connection after its ``keepalive_requests``, and
    this one closes once its calls have ended.

    It also cancels the task serving a call whose client resets the stream or loses the connection.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._served = 0
        self._highest = 0
        self._last: int | None = None  # the last stream served, once GOAWAY is sent
        self._linger: asyncio.TimerHandle | None = None

    def handle_request(self, event: zttp.Request) -> None:
        if self._last is not None and event.stream_id > self._last:
            return  # sent before the client read our GOAWAY, which tells it to send this again
        super().handle_request(event)
        self._served += 1
        self._highest = event.stream_id
        if self._served >= STREAMS_PER_CONNECTION and self._last is None:
            self._go_away()

    def handle_rst_stream(self, event: zttp.RstStream) -> None:
        cycle = self.cycles.get(event.stream_id)
        super().handle_rst_stream(event)
        if cycle is not None:
            _abandon(cycle.scope)

    def shutdown(self) -> None:
        if self._last is None and not self.transport.is_closing():
            self._go_away()
        super().shutdown()

    def _go_away(self) -> None:
        self._last = self._highest
        self.conn.close(0, self._highest)
        self.flush()
        self.shutdown_requested = True  # uvicorn closes the connection when its last stream ends

    def _close_connection(self) -> None:
        if self._last is None:
            super()._close_connection()
        elif self._linger is None:
            # GOAWAY went out already. The client closes the connection once it has read it and its
            # calls have ended; closing first could reset the connection before the client reads
            # the GOAWAY, and then its calls sent meanwhile fail instead of being sent again.
            self._linger = self.loop.call_later(GOAWAY_LINGER_SECONDS, self.transport.close)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._linger is not None:
            self._linger.cancel()
        for cycle in list(self.cycles.values()):
            if not cycle.response_complete:
                _abandon(cycle.scope)
        super().connection_lost(exc)


class Methods:
    """Stands in for a ``grpc.aio.Server`` in the generated ``add_*Servicer_to_server`` functions,
    which register each service's handlers by name (and once more as a generic handler, which
    :meth:`add_generic_rpc_handlers` needs not keep)."""

    def __init__(self) -> None:
        self.handlers: dict[str, grpc.RpcMethodHandler] = {}

    def add_registered_method_handlers(self, service: str, handlers: Mapping[str, grpc.RpcMethodHandler]) -> None:
        for name, handler in handlers.items():
            self.handlers[f"/{service}/{name}"] = handler

    def add_generic_rpc_handlers(self, generic_handlers: Iterable[grpc.GenericRpcHandler]) -> None:
        """The same handlers again, as :meth:`add_registered_method_handlers` received them."""


class _Status(grpc.aio.AbortError):  # type: ignore[misc]  # grpc is untyped here
    """Ends a call with a status (raised by :class:`Context`'s aborts and by the protocol). An
    ``AbortError``, as grpcio's aborts raise, so that handlers let it through as they do those."""

    def __init__(self, code: grpc.StatusCode, details: str = "", trailing: Metadata = ()) -> None:
        super().__init__(details)
        self.code, self.details, self.trailing = code, details, trailing


class _Gone(Exception):
    """The client reset the stream or closed the connection: nothing more can reach it."""


def _as_is(message: Any) -> Any:
    return message


def parse_timeout(value: bytes) -> float:
    """A ``grpc-timeout`` header (up to 8 digits and a unit) in seconds."""
    text = value.decode("ascii", "replace")
    if not 2 <= len(text) <= 9 or not text[:-1].isdigit() or text[-1] not in _UNITS:
        raise _Status(grpc.StatusCode.INTERNAL, f"malformed grpc-timeout {text!r}")
    return int(text[:-1]) * _UNITS[text[-1]]


def _metadata(headers: Sequence[tuple[bytes, bytes]]) -> Metadata:
    pairs: list[tuple[str, str | bytes]] = []
    for name, value in headers:
        if name[:1] == b":" or name in _PROTOCOL_HEADERS:
            continue
        key = name.decode("latin-1")
        if key.endswith("-bin"):
            pairs.append((key, base64.b64decode(value + b"=" * (-len(value) % 4))))
        else:
            pairs.append((key, value.decode("latin-1")))
    return tuple(pairs)


def _header_pairs(metadata: Iterable[tuple[str, str | bytes]]) -> list[tuple[bytes, bytes]]:
    pairs = []
    for key, value in metadata:
        if isinstance(value, bytes):
            # Binary values travel base64-encoded, unpadded as the protocol prefers.
            pairs.append((key.encode("latin-1"), base64.b64encode(value).rstrip(b"=")))
        else:
            pairs.append((key.encode("latin-1"), value.encode("latin-1")))
    return pairs


class Context:
    """The part of ``grpc.aio.ServicerContext`` that the servicers, and grpcio's health and
    reflection services, use."""

    __slots__ = ("_call", "_deadline", "_metadata", "_trailing", "code", "details")

    def __init__(self, call: _Call, metadata: Metadata, deadline: float | None) -> None:
        self._call = call
        self._metadata = metadata
        self._deadline = deadline
        self._trailing: Metadata = ()
        self.code: grpc.StatusCode | None = None
        self.details = ""

    def invocation_metadata(self) -> Metadata:
        return self._metadata

    async def send_initial_metadata(self, metadata: Iterable[tuple[str, str | bytes]]) -> None:
        # Kept for the response's headers, which go out with the first message or the status:
        # one HEADERS frame, not a frame of its own as in grpcio.
        self._call.initial = _header_pairs(metadata)

    async def abort(
        self, code: grpc.StatusCode, details: str = "", trailing_metadata: Iterable[tuple[str, str | bytes]] = ()
    ) -> None:
        raise _Status(code, details, tuple(trailing_metadata))

    async def abort_with_status(self, status: grpc.Status) -> None:
        await self.abort(status.code, status.details, status.trailing_metadata)

    async def write(self, message: Any) -> None:
        await self._call.write(message)

    def set_code(self, code: grpc.StatusCode) -> None:
        self.code = code

    def set_details(self, details: str) -> None:
        self.details = details

    def set_trailing_metadata(self, metadata: Iterable[tuple[str, str | bytes]]) -> None:
        self._trailing = tuple(metadata)

    def trailing_metadata(self) -> Metadata:
        return self._trailing

    def time_remaining(self) -> float | None:
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - asyncio.get_running_loop().time())


class _Call:
    """One call's response: headers once, length-prefixed messages, then the status."""

    __slots__ = ("_send", "_serialize", "_started", "initial")

    def __init__(self, send: Send, serialize: Callable[[Any], bytes]) -> None:
        self._send = send
        self._serialize = serialize
        self._started = False
        self.initial: list[tuple[bytes, bytes]] = []

    async def _start(self) -> None:
        if not self._started:
            self._started = True
            headers = [(b"content-type", b"application/grpc"), *self.initial]
            await self._send({"type": "http.response.start", "status": 200, "headers": headers, "trailers": True})

    async def write(self, message: Any, *, last: bool = False) -> None:
        payload = self._serialize(message)
        await self._start()
        body = b"\x00" + len(payload).to_bytes(4, "big") + payload
        await self._send({"type": "http.response.body", "body": body, "more_body": not last})

    async def finish(
        self, code: grpc.StatusCode = grpc.StatusCode.OK, details: str = "", trailing: Metadata = (), *, ended: bool
    ) -> None:
        await self._start()
        if not ended:
            await self._send({"type": "http.response.body", "body": b"", "more_body": False})
        if code is grpc.StatusCode.OK and not details and not trailing:
            await self._send({"type": "http.response.trailers", "headers": [_OK]})
            return
        trailers = [(b"grpc-status", str(code.value[0]).encode())]
        if details:
            # Percent-encoded UTF-8, as the protocol has it (printable ASCII but % stays as is).
            trailers.append((b"grpc-message", quote(details, safe=" !\"#$&'()*+,-./:;<=>?@[\\]^_`{|}~").encode()))
        trailers += _header_pairs(trailing)
        await self._send({"type": "http.response.trailers", "headers": trailers})


class _Requests:
    """The request's messages, read from the stream as they arrive."""

    __slots__ = ("_buffer", "_deserialize", "_encoding", "_limit", "_more", "_receive")

    def __init__(self, receive: Receive, deserialize: Callable[[bytes], Any], encoding: bytes | None, limit: int):
        self._receive = receive
        self._deserialize = deserialize
        self._encoding = encoding
        self._limit = limit
        self._buffer = b""
        self._more = True

    async def _fill(self) -> None:
        message = await self._receive()
        if message["type"] == "http.disconnect":
            raise _Gone
        self._buffer += message.get("body", b"")
        self._more = message.get("more_body", False)

    async def next(self) -> tuple[bool, Any]:
        """(True, the next message), or (False, None) once the client has sent its last."""
        while True:
            if len(self._buffer) >= 5:
                length = int.from_bytes(self._buffer[1:5], "big")
                if length > self._limit:
                    raise _Status(
                        grpc.StatusCode.RESOURCE_EXHAUSTED,
                        f"received message larger than max ({length} vs. {self._limit})",
                    )
                if len(self._buffer) >= 5 + length:
                    break
            if not self._more:
                if self._buffer:
                    raise _Status(grpc.StatusCode.INTERNAL, "the request ended inside a message")
                return False, None
            await self._fill()
        compressed = self._buffer[0]
        payload, self._buffer = self._buffer[5 : 5 + length], self._buffer[5 + length :]
        if compressed:
            payload = self._decompress(payload)
        try:
            return True, self._deserialize(payload)
        except Exception:
            raise _Status(grpc.StatusCode.INTERNAL, "the request message could not be parsed") from None

    def _decompress(self, payload: bytes) -> bytes:
        if self._encoding != b"gzip":
            raise _Status(grpc.StatusCode.INTERNAL, "a compressed message without a known grpc-encoding")
        try:
            return gzip.decompress(payload)
        except (OSError, EOFError):
            raise _Status(grpc.StatusCode.INTERNAL, "the request message could not be decompressed") from None

    async def single(self) -> Any:
        """A unary call's one request message."""
        present, message = await self.next()
        if not present:
            raise _Status(grpc.StatusCode.INTERNAL, "the call carried no request message")
        extra, _ = await self.next()
        if extra:
            raise _Status(grpc.StatusCode.INTERNAL, "a unary call carried more than one request message")
        return message

    async def __aiter__(self) -> AsyncIterator[Any]:
        while True:
            present, message = await self.next()
            if not present:
                return
            yield message


async def _refuse(send: Send, status: int, text: str) -> None:
    """An HTTP answer to what is not a gRPC call at all (the protocol's own rule for these)."""
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": text.encode()})


class GrpcApp:
    """Serves the :class:`Methods` over gRPC's HTTP/2 protocol."""

    def __init__(self, methods: Methods, *, max_message_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self._handlers = methods.handlers
        self._limit = max_message_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["http_version"] != "2":
            return await _refuse(send, 505, "gRPC needs HTTP/2")
        if scope["method"] != "POST":
            return await _refuse(send, 405, "gRPC calls are POST requests")
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        fields = dict(headers)
        if not fields.get(b"content-type", b"").startswith(b"application/grpc"):
            return await _refuse(send, 415, "content-type must be application/grpc")
        handler = self._handlers.get(scope["path"])
        # No (de)serializer means raw bytes, as in grpcio.
        call = _Call(send, (handler and handler.response_serializer) or _as_is)
        # While the handler runs, GrpcH2Protocol cancels it if the client resets the call or leaves.
        scope[_TASK] = asyncio.current_task()
        try:
            if handler is None:
                raise _Status(grpc.StatusCode.UNIMPLEMENTED, f"Method not found: {scope['path']}")
            encoding = fields.get(b"grpc-encoding")
            if encoding not in (None, b"identity", b"gzip"):
                call.initial = [(b"grpc-accept-encoding", _ENCODINGS)]
                raise _Status(
                    grpc.StatusCode.UNIMPLEMENTED, f"grpc-encoding {encoding.decode('latin-1')} is not supported"
                )
            timeout = fields.get(b"grpc-timeout")
            deadline = None if timeout is None else asyncio.get_running_loop().time() + parse_timeout(timeout)
            context = Context(call, _metadata(headers), deadline)
            requests = _Requests(receive, handler.request_deserializer or _as_is, encoding, self._limit)
            ended = await self._run(handler, requests, context, call, deadline)
            code, details, trailing = context.code or grpc.StatusCode.OK, context.details, context.trailing_metadata()
        except _Status as status:
            code, details, trailing, ended = status.code, status.details, status.trailing, False
        except _Gone:
            return
        except asyncio.CancelledError:
            if scope.get(_GONE):
                asyncio.current_task().uncancel()  # type: ignore[union-attr]
                return  # nothing can reach the client, and the handler's work has stopped
            # The server is stopping and its grace period is over: the client may retry elsewhere.
            code, details, trailing, ended = grpc.StatusCode.UNAVAILABLE, "the server is shutting down", (), False
        except grpc.aio.AbortError:
            code, details, trailing, ended = grpc.StatusCode.UNKNOWN, "aborted", (), False
        except Exception:
            log.exception("unexpected error in a gRPC handler", extra={"fields": {"method": scope["path"]}})
            code, details, trailing, ended = grpc.StatusCode.UNKNOWN, "Unexpected error in RPC handler", (), False
        finally:
            scope.pop(_TASK, None)
        await call.finish(code, details, trailing, ended=ended)

    async def _run(
        self, handler: grpc.RpcMethodHandler, requests: _Requests, context: Context, call: _Call, deadline: float | None
    ) -> bool:
        """Run the handler to its end within the deadline; True when the last message it sent also
        ended the body."""
        request = requests if handler.request_streaming else await requests.single()
        return await self._within(deadline, self._respond(handler, request, context, call))

    @staticmethod
    async def _within(deadline: float | None, work: Awaitable[bool]) -> bool:
        if deadline is None:
            return await work
        timeout = asyncio.timeout_at(deadline)
        try:
            async with timeout:
                return await work
        except TimeoutError:
            if timeout.expired():
                raise _Status(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded") from None
            raise

    @staticmethod
    async def _respond(handler: grpc.RpcMethodHandler, request: Any, context: Context, call: _Call) -> bool:
        if not handler.response_streaming:
            behaviour = handler.stream_unary if handler.request_streaming else handler.unary_unary
            await call.write(await behaviour(request, context), last=True)
            return True
        behaviour = handler.stream_stream if handler.request_streaming else handler.unary_stream
        produced = behaviour(request, context)
        if inspect.isasyncgen(produced):
            async for message in produced:
                await call.write(message)
        else:  # a coroutine that writes through the context (grpcio's health Watch does)
            await produced
        return False
