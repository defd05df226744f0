"""gRPC's wire protocol, served on uvicorn's HTTP/2 connections (zttp's native parser).

Why not grpcio's server: its asyncio server passes every completion between a poller thread and
the event loop. For a handler that awaits PostgreSQL and Redis that cost a SendMessage twice the
server CPU of the REST server's whole request, about 350 µs of it in grpcio (``bench.submit``;
README "Performance"). uvicorn parses HTTP/2 in native code on the event loop's own thread; the
calls are served straight on zttp's streams, not through uvicorn's ASGI cycle (a scope, messages
and three writes per call that gRPC's one shape of answer has no use for).

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
import uvicorn
import zttp
from uvicorn.protocols.http.zttp_h2_impl import ZttpH2Protocol
from zttp.error_codes import H2ErrorCode

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

Metadata = tuple[tuple[str, str | bytes], ...]

# grpcio's default limit on a received message.
MAX_MESSAGE_BYTES = 4 * 1024 * 1024

_UNITS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}
_ENCODINGS = b"identity,gzip"
# Request headers that belong to the protocol, not to the call's metadata.
_PROTOCOL_HEADERS = frozenset({b"content-type", b"te", b"grpc-timeout", b"grpc-encoding", b"grpc-accept-encoding"})
_OK = (b"grpc-status", b"0")
_CONTENT_TYPE = (b"content-type", b"application/grpc")

# Calls served on one connection before it is retired (see GrpcH2Protocol): under zttp's limit of
# 4,096 streams, with room for the calls a client starts before it reads the GOAWAY.
STREAMS_PER_CONNECTION = 3_900
# How long a retired connection waits for its client to close it: the client reads the GOAWAY
# within a round trip, so a second is ample, and it bounds how long a stopping server waits.
GOAWAY_LINGER_SECONDS = 1.0


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

    __slots__ = ("_serialize", "_started", "_stream", "initial")

    def __init__(self, stream: _Stream, serialize: Callable[[Any], bytes]) -> None:
        self._stream = stream
        self._serialize = serialize
        self._started = False
        self.initial: list[tuple[bytes, bytes]] = []

    def _start(self) -> None:
        if not self._started:
            self._started = True
            self._stream.start(200, [_CONTENT_TYPE, *self.initial])

    async def write(self, message: Any, *, last: bool = False) -> None:
        """One message; the last of a call goes out with the status (one write to the socket)."""
        payload = self._serialize(message)
        self._start()
        self._stream.send(b"\x00" + len(payload).to_bytes(4, "big") + payload)
        if not last:
            await self._stream.flush()

    def finish(self, code: grpc.StatusCode, details: str, trailing: Metadata) -> None:
        self._start()
        if code is grpc.StatusCode.OK and not details and not trailing:
            self._stream.end([_OK])
            return
        trailers = [(b"grpc-status", str(code.value[0]).encode())]
        if details:
            # Percent-encoded UTF-8, as the protocol has it (printable ASCII but % stays as is).
            trailers.append((b"grpc-message", quote(details, safe=" !\"#$&'()*+,-./:;<=>?@[\\]^_`{|}~").encode()))
        trailers += _header_pairs(trailing)
        self._stream.end(trailers)


class _Requests:
    """The request's messages, read from the stream as they arrive."""

    __slots__ = ("_buffer", "_deserialize", "_encoding", "_limit", "_more", "_stream")

    def __init__(self, stream: _Stream, deserialize: Callable[[bytes], Any], encoding: bytes | None, limit: int):
        self._stream = stream
        self._deserialize = deserialize
        self._encoding = encoding
        self._limit = limit
        self._buffer = b""
        self._more = True

    async def _fill(self) -> None:
        data, self._more = await self._stream.read()
        self._buffer += data

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


def _refuse(stream: _Stream, status: int, text: str) -> None:
    """An HTTP answer to what is not a gRPC call at all (the protocol's own rule for these)."""
    stream.start(status, [(b"content-type", b"text/plain")])
    stream.send(text.encode())
    stream.end()


class GrpcApp:
    """Serves the :class:`Methods` over gRPC's HTTP/2 protocol; give it to uvicorn's ``Config``
    with ``http=GrpcH2Protocol``, which hands it each call's stream."""

    def __init__(self, methods: Methods, *, max_message_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self._handlers = methods.handlers
        self._limit = max_message_bytes

    async def __call__(
        self,
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[dict[str, Any]]],
        send: Callable[[dict[str, Any]], Awaitable[None]],
    ) -> None:
        """The ASGI face uvicorn's ``Config`` asks for: reached only when served without
        :class:`GrpcH2Protocol`, where the answer is that gRPC needs it."""
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 505, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"gRPC needs HTTP/2 (uvicorn's http=GrpcH2Protocol)"})

    async def serve(self, stream: _Stream, method: bytes, path: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        """Serve one call, from its request's head to its status."""
        if method != b"POST":
            return _refuse(stream, 405, "gRPC calls are POST requests")
        fields = dict(headers)
        if not fields.get(b"content-type", b"").startswith(b"application/grpc"):
            return _refuse(stream, 415, "content-type must be application/grpc")
        name = path.decode("latin-1")
        handler = self._handlers.get(name)
        # No (de)serializer means raw bytes, as in grpcio.
        call = _Call(stream, (handler and handler.response_serializer) or _as_is)
        try:
            if handler is None:
                raise _Status(grpc.StatusCode.UNIMPLEMENTED, f"Method not found: {name}")
            encoding = fields.get(b"grpc-encoding")
            if encoding not in (None, b"identity", b"gzip"):
                call.initial = [(b"grpc-accept-encoding", _ENCODINGS)]
                raise _Status(
                    grpc.StatusCode.UNIMPLEMENTED, f"grpc-encoding {encoding.decode('latin-1')} is not supported"
                )
            timeout = fields.get(b"grpc-timeout")
            deadline = None if timeout is None else asyncio.get_running_loop().time() + parse_timeout(timeout)
            context = Context(call, _metadata(headers), deadline)
            requests = _Requests(stream, handler.request_deserializer or _as_is, encoding, self._limit)
            await self._run(handler, requests, context, call, deadline)
            code, details, trailing = context.code or grpc.StatusCode.OK, context.details, context.trailing_metadata()
        except _Status as status:
            code, details, trailing = status.code, status.details, status.trailing
        except _Gone:
            return
        except asyncio.CancelledError:
            if stream.gone:
                asyncio.current_task().uncancel()  # type: ignore[union-attr]
                return  # nothing can reach the client, and the handler's work has stopped
            # The server is stopping and its grace period is over: the client may retry elsewhere.
            code, details, trailing = grpc.StatusCode.UNAVAILABLE, "the server is shutting down", ()
        except grpc.aio.AbortError:
            code, details, trailing = grpc.StatusCode.UNKNOWN, "aborted", ()
        except Exception:
            log.exception("unexpected error in a gRPC handler", extra={"fields": {"method": name}})
            code, details, trailing = grpc.StatusCode.UNKNOWN, "Unexpected error in RPC handler", ()
        call.finish(code, details, trailing)

    async def _run(
        self, handler: grpc.RpcMethodHandler, requests: _Requests, context: Context, call: _Call, deadline: float | None
    ) -> None:
        """Run the handler to its end within the deadline."""
        request = requests if handler.request_streaming else await requests.single()
        await self._within(deadline, self._respond(handler, request, context, call))

    @staticmethod
    async def _within(deadline: float | None, work: Awaitable[None]) -> None:
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
    async def _respond(handler: grpc.RpcMethodHandler, request: Any, context: Context, call: _Call) -> None:
        if not handler.response_streaming:
            behaviour = handler.stream_unary if handler.request_streaming else handler.unary_unary
            await call.write(await behaviour(request, context), last=True)
            return
        behaviour = handler.stream_stream if handler.request_streaming else handler.unary_stream
        produced = behaviour(request, context)
        if inspect.isasyncgen(produced):
            async for message in produced:
                await call.write(message)
        else:  # a coroutine that writes through the context (grpcio's health Watch does)
            await produced


class _Stream:
    """One call's HTTP/2 stream, served straight on zttp: the request body as it arrives, and the
    response as zttp frames it. (uvicorn's own stream cycle would wrap each call in an ASGI scope
    and messages that the gRPC protocol, with one fixed shape of answer, has no use for.)"""

    __slots__ = ("_protocol", "_waiter", "body", "complete", "gone", "more", "stream", "task")

    def __init__(self, protocol: GrpcH2Protocol, stream: zttp.Stream, *, more: bool) -> None:
        self._protocol = protocol
        self._waiter: asyncio.Future[None] | None = None
        self.stream = stream
        # ``body`` is also what uvicorn's connection reads to decide whether to pause reading.
        self.body = bytearray()
        self.more = more
        self.complete = False  # the response has ended
        self.gone = False  # the client reset the stream or the connection is lost
        self.task: asyncio.Task[None] | None = None

    # The request, as the protocol receives it.

    def received(self, data: bytes) -> None:
        self.body += data
        self._wake()

    def ended(self) -> None:
        self.more = False
        self._wake()

    def abandon(self) -> None:
        """The client reset the call or went away: stop the work done for it (a deadline-less call
        would otherwise run to its end for nobody)."""
        if not self.complete and not self.gone:
            self.gone = True
            if self.task is not None:
                self.task.cancel()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def read(self) -> tuple[bytes, bool]:
        """The request bytes received since the last read, and whether more will follow."""
        while not self.body and self.more and not self.gone:
            self._waiter = self._protocol.loop.create_future()
            await self._waiter
        if self.gone:
            raise _Gone
        data = bytes(self.body)
        self.body.clear()
        return data, self.more

    # The response.

    def start(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        if not self.gone:
            self.stream.send_response(status, headers)

    def send(self, data: bytes) -> None:
        if not self.gone:
            self.stream.send_data(data)

    async def flush(self) -> None:
        """Write what zttp framed, then wait while the transport's buffer is full (a stream's
        messages are written as they are produced, not buffered without bound)."""
        if not self.gone:
            self._protocol.flush()
            if self._protocol.flow.write_paused:
                await self._protocol.flow.drain()

    def end(self, trailers: list[tuple[bytes, bytes]] | None = None) -> None:
        if not self.gone:
            self.stream.end_message(trailers)
            self._protocol.flush()
        self.complete = True

    def settle(self, task: asyncio.Task[None]) -> None:
        """The task serving the call is over: the stream is done with, answered or not."""
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("the gRPC transport failed a call", exc_info=error)
        if not self.complete and not self.gone and not self._protocol.transport.is_closing():
            self.stream.reset(H2ErrorCode.INTERNAL_ERROR)
            self._protocol.flush()
        self.complete = True
        self._protocol.stream_done(self.stream.stream_id)


class GrpcH2Protocol(ZttpH2Protocol):
    """uvicorn's HTTP/2 connection (prior knowledge, as gRPC clients speak it), serving the
    :class:`GrpcApp` given to uvicorn's ``Config`` call by call on zttp's streams.

    zttp 0.0.35 ends a connection with ENHANCE_YOUR_CALM on its 4,097th stream, failing whatever
    calls are in flight on it (36 of 16,000 calls from one busy grpcio channel ended UNAVAILABLE).
    So after :data:`STREAMS_PER_CONNECTION` calls, and when the server stops, the connection sends
    GOAWAY (NO_ERROR) naming the last call it serves: the client sends later calls on a new
    connection, as it does when nginx retires a connection after its ``keepalive_requests``, and
    this one closes once its calls have ended.

    A call whose client resets the stream or loses the connection has its task cancelled.
    """

    cycles: dict[int, _Stream]  # type: ignore[assignment]  # uvicorn's name for the open streams

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        if not isinstance(config.app, GrpcApp):
            raise TypeError("GrpcH2Protocol serves a GrpcApp")
        self.grpc: GrpcApp = config.app
        self._served: int = 0
        self._highest: int = 0
        self._last: int | None = None  # the last stream served, once GOAWAY is sent
        self._linger: asyncio.TimerHandle | None = None

    def handle_events(self) -> None:
        for event in self.events():
            if isinstance(event, zttp.Data):
                if (stream := self.cycles.get(event.stream_id)) is not None:
                    stream.received(event.data)
            elif isinstance(event, zttp.Request):
                self.handle_request(event)
            elif isinstance(event, zttp.EndOfMessage):
                if (stream := self.cycles.get(event.stream_id)) is not None:
                    stream.ended()
            elif isinstance(event, zttp.RstStream):
                if (stream := self.cycles.get(event.stream_id)) is not None:
                    stream.abandon()
            elif isinstance(event, zttp.GoAway):
                self.shutdown_requested = True
                if not self.cycles:
                    self._close_connection()
            # Settings, Ping and WindowUpdate need nothing here: zttp keeps the send windows, and
            # ``flush`` writes whatever a new credit released.

    def handle_request(self, event: zttp.Request) -> None:
        if self._last is not None and event.stream_id > self._last:
            return  # sent before the client read our GOAWAY, which tells it to send this again
        stream = _Stream(self, self.conn.stream(event.stream_id), more=not event.end_stream)
        self.cycles[event.stream_id] = stream
        headers = event.headers
        if isinstance(headers, zttp.HeaderBlock):
            headers = headers.to_list(lowercase_names=True)
        task = self.loop.create_task(self.grpc.serve(stream, event.method, event.path, headers))
        stream.task = task
        task.add_done_callback(stream.settle)
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)
        self._served += 1
        self._highest = event.stream_id
        if self._served >= STREAMS_PER_CONNECTION and self._last is None:
            self._go_away()

    def stream_done(self, stream_id: int) -> None:
        if self.cycles.pop(stream_id, None) is not None:
            self.server_state.total_requests += 1
            self.on_stream_closed()

    def shutdown(self) -> None:
        if self._last is None and not self.transport.is_closing():
            self._go_away()
        super().shutdown()

    def _go_away(self) -> None:
        self._last = self._highest
        self.conn.close(H2ErrorCode.NO_ERROR, self._highest)
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
        for stream in self.cycles.values():
            stream.abandon()
        # uvicorn's own handling walks its cycles, which these are not; each abandoned call's task
        # finds its stream gone when it ends.
        self.cycles.clear()
        super().connection_lost(exc)
