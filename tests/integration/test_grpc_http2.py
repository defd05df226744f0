"""The gRPC transport (edge.grpc_http2) against grpcio's own client, over real HTTP/2 on loopback.

Test services are registered on :class:`Methods` as the generated code registers ours; their
messages are raw bytes, so the transport's own behaviour is what is under test.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import httpx
import pytest
import uvicorn
import zttp
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from edge.grpc_http2 import Context, GrpcApp, GrpcH2Protocol, Methods, parse_timeout

SERVICE = "test.Echo"


class Echo:
    """Handlers with what the real servicers do: answer, abort with details, stream, wait."""

    def __init__(self) -> None:
        self.cancelled = asyncio.Event()
        self.started = asyncio.Event()
        self.seen_metadata: dict[str, Any] = {}

    async def unary(self, request: bytes, context: Context) -> bytes:
        self.seen_metadata = dict(context.invocation_metadata())
        await context.send_initial_metadata((("x-initial", "yes"), ("x-blob-bin", b"\x00\xff")))
        return b"echo:" + request

    async def abort(self, request: bytes, context: Context) -> bytes:
        status = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message="bad «to»: 100% wrong")
        status.details.add().Pack(
            error_details_pb2.BadRequest(
                field_violations=[error_details_pb2.BadRequest.FieldViolation(field="to", description="not E.164")]
            )
        )
        await context.abort_with_status(rpc_status.to_status(status))
        raise AssertionError("abort returns only by raising")

    async def wait(self, request: bytes, context: Context) -> bytes:
        self.started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return b""

    async def slow(self, request: bytes, context: Context) -> bytes:
        self.started.set()
        await asyncio.sleep(0.5)
        return b"done"

    async def big(self, request: bytes, context: Context) -> bytes:
        return b"b" * int(request)

    async def fail(self, request: bytes, context: Context) -> bytes:
        raise RuntimeError("a bug")

    async def count(self, request: bytes, context: Context) -> AsyncIterator[bytes]:
        for i in range(int(request)):
            yield str(i).encode()

    async def written(self, request: bytes, context: Context) -> None:
        for part in (b"a", b"b"):
            await context.write(part)

    async def chat(self, requests: AsyncIterator[bytes], context: Context) -> AsyncIterator[bytes]:
        async for request in requests:
            yield request.upper()


def _methods(echo: Echo) -> Methods:
    def unary(fn: Any) -> grpc.RpcMethodHandler:
        return grpc.unary_unary_rpc_method_handler(fn)

    methods = Methods()
    methods.add_registered_method_handlers(
        SERVICE,
        {
            "Unary": unary(echo.unary),
            "Abort": unary(echo.abort),
            "Wait": unary(echo.wait),
            "Fail": unary(echo.fail),
            "Big": unary(echo.big),
            "Slow": unary(echo.slow),
            "Count": grpc.unary_stream_rpc_method_handler(echo.count),
            "Written": grpc.unary_stream_rpc_method_handler(echo.written),
            "Chat": grpc.stream_stream_rpc_method_handler(echo.chat),
        },
    )
    return methods


@contextlib.asynccontextmanager
async def _running(config: uvicorn.Config) -> AsyncIterator[tuple[str, uvicorn.Server]]:
    served = uvicorn.Server(config)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    serving = asyncio.create_task(served.serve(sockets=[sock]))
    while not served.started:
        await asyncio.sleep(0.01)
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}", served
    finally:
        served.should_exit = True
        await serving


def _serving(echo: Echo) -> contextlib.AbstractAsyncContextManager[tuple[str, uvicorn.Server]]:
    config = uvicorn.Config(
        GrpcApp(_methods(echo), max_message_bytes=64 * 1024),
        http=GrpcH2Protocol,
        lifespan="off",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    return _running(config)


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, Echo]]:
    echo = Echo()
    async with _serving(echo) as (target, _):
        yield target, echo


@pytest.fixture
async def channel(server: tuple[str, Echo]) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(server[0]) as channel:
        yield channel


def _call(channel: grpc.aio.Channel, method: str) -> Any:
    return channel.unary_unary(f"/{SERVICE}/{method}")


async def test_a_unary_call_gets_its_answer_with_initial_metadata(
    channel: grpc.aio.Channel, server: tuple[str, Echo]
) -> None:
    call = _call(channel, "Unary")(b"hi", metadata=(("authorization", "Bearer k"), ("x-id-bin", b"\x01\x02")))
    assert await call == b"echo:hi"
    initial = dict(await call.initial_metadata())
    assert initial["x-initial"] == "yes"
    assert initial["x-blob-bin"] == b"\x00\xff"
    assert await call.code() == grpc.StatusCode.OK
    seen = server[1].seen_metadata
    assert seen["authorization"] == "Bearer k"
    assert seen["x-id-bin"] == b"\x01\x02"
    assert "grpc-timeout" not in seen and "content-type" not in seen


async def test_an_abort_carries_code_message_and_details(channel: grpc.aio.Channel) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _call(channel, "Abort")(b"")
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details() == "bad «to»: 100% wrong"
    status = rpc_status.from_call(raised.value)
    violation = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(violation)
    assert violation.field_violations[0].field == "to"


async def test_an_unknown_method_is_unimplemented(channel: grpc.aio.Channel) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _call(channel, "Nope")(b"")
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_a_handler_bug_is_unknown_and_reveals_nothing(channel: grpc.aio.Channel) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _call(channel, "Fail")(b"")
    assert raised.value.code() == grpc.StatusCode.UNKNOWN
    assert "a bug" not in (raised.value.details() or "")


async def test_the_deadline_ends_the_handlers_work(channel: grpc.aio.Channel, server: tuple[str, Echo]) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _call(channel, "Wait")(b"", timeout=0.3)
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    await asyncio.wait_for(server[1].cancelled.wait(), 5)


async def test_a_client_that_cancels_ends_the_handlers_work(
    channel: grpc.aio.Channel, server: tuple[str, Echo]
) -> None:
    call = _call(channel, "Wait")(b"")
    await asyncio.wait_for(server[1].started.wait(), 5)
    call.cancel()
    await asyncio.wait_for(server[1].cancelled.wait(), 5)


async def test_a_message_over_the_limit_is_refused(channel: grpc.aio.Channel) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _call(channel, "Unary")(b"x" * (64 * 1024 + 1))
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # A large message within the limit crosses several HTTP/2 frames and flow-control windows.
    assert await _call(channel, "Unary")(b"y" * 60_000) == b"echo:" + b"y" * 60_000


async def test_an_answer_larger_than_the_flow_control_windows_arrives_whole(channel: grpc.aio.Channel) -> None:
    # HTTP/2's initial windows are 65,535 bytes: this answer needs the client's WINDOW_UPDATEs.
    assert await _call(channel, "Big")(b"1000000", timeout=10) == b"b" * 1_000_000


async def test_a_gzip_compressed_request_is_read(channel: grpc.aio.Channel) -> None:
    payload = b"z" * 1000
    assert await _call(channel, "Unary")(payload, compression=grpc.Compression.Gzip) == b"echo:" + payload


async def test_server_streams_from_a_generator_and_from_context_writes(channel: grpc.aio.Channel) -> None:
    counted = [m async for m in channel.unary_stream(f"/{SERVICE}/Count")(b"3")]
    assert counted == [b"0", b"1", b"2"]
    written = [m async for m in channel.unary_stream(f"/{SERVICE}/Written")(b"")]
    assert written == [b"a", b"b"]


async def test_a_bidirectional_stream_answers_each_message_as_it_comes(channel: grpc.aio.Channel) -> None:
    call = channel.stream_stream(f"/{SERVICE}/Chat")()
    for word in (b"one", b"two"):
        await call.write(word)
        assert await call.read() == word.upper()
    await call.done_writing()
    assert await call.read() == grpc.aio.EOF
    assert await call.code() == grpc.StatusCode.OK


async def test_a_busy_channel_outlives_the_4096_streams_one_connection_can_carry(channel: grpc.aio.Channel) -> None:
    # 16 callers keep calls in flight on one channel past zttp's 4,096 streams per connection:
    # each connection is retired with GOAWAY before that, and not one call may fail.
    failures: collections.Counter[grpc.StatusCode] = collections.Counter()
    unary = _call(channel, "Unary")

    async def caller() -> None:
        for _ in range(320):
            try:
                assert await unary(b"x", timeout=10) == b"echo:x"
            except grpc.aio.AioRpcError as error:
                failures[error.code()] += 1

    await asyncio.gather(*(caller() for _ in range(16)))
    assert failures == {}


async def test_a_stopping_server_finishes_the_calls_in_flight_and_takes_no_new_ones() -> None:
    echo = Echo()
    async with _serving(echo) as (target, served), grpc.aio.insecure_channel(target) as channel:
        in_flight = _call(channel, "Slow")(b"", timeout=10)
        await asyncio.wait_for(echo.started.wait(), 5)
        served.should_exit = True
        assert await in_flight == b"done"
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await _call(channel, "Unary")(b"late", timeout=3)
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE


async def _plain_http2(target: str, method: bytes, headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
    """One request from an HTTP/2 client that is not a gRPC client (zttp's), and its answer."""
    host, port = target.rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    conn = zttp.Connection(zttp.CLIENT, protocol=zttp.HTTP2)
    conn.initiate_connection()
    stream = conn.send_request(method, f"/{SERVICE}/Unary".encode(), b"2", [(b"host", target.encode()), *headers])
    stream.send_data(b"{}")
    stream.end_message()
    writer.write(conn.data_to_send())
    status, body = 0, b""
    try:
        while chunk := await asyncio.wait_for(reader.read(65536), 5):
            conn.receive_data(chunk)
            while (event := conn.next_event()) is not zttp.NEED_DATA:
                if isinstance(event, zttp.Response):
                    status = event.status_code
                elif isinstance(event, zttp.Data):
                    body += event.data
                elif isinstance(event, zttp.EndOfMessage):
                    return status, body
        raise AssertionError("the connection closed before the answer ended")
    finally:
        writer.close()


@pytest.mark.parametrize(
    ("method", "content_type", "status"),
    [(b"GET", b"application/grpc", 405), (b"POST", b"application/json", 415)],
)
async def test_a_request_that_is_not_a_grpc_call_gets_an_http_error(
    server: tuple[str, Echo], method: bytes, content_type: bytes, status: int
) -> None:
    answer = await _plain_http2(server[0], method, [(b"content-type", content_type)])
    assert answer[0] == status
    assert answer[1] in (b"gRPC calls are POST requests", b"content-type must be application/grpc")


async def test_the_app_served_without_its_protocol_says_grpc_needs_http2() -> None:
    config = uvicorn.Config(GrpcApp(Methods()), lifespan="off", log_config=None, access_log=False)
    async with _running(config) as (target, _), httpx.AsyncClient() as client:
        answer = await client.post(f"http://{target}/{SERVICE}/Unary")
    assert answer.status_code == 505
    assert "HTTP/2" in answer.text


def _timeouts() -> Iterator[tuple[bytes, float]]:
    yield b"1H", 3600.0
    yield b"2M", 120.0
    yield b"3S", 3.0
    yield b"250m", 0.25
    yield b"99999999u", 99.999999
    yield b"5n", 5e-9


@pytest.mark.parametrize(("header", "seconds"), list(_timeouts()))
def test_grpc_timeout_headers_are_read_in_every_unit(header: bytes, seconds: float) -> None:
    assert parse_timeout(header) == pytest.approx(seconds)


@pytest.mark.parametrize("header", [b"", b"S", b"10", b"123456789S", b"1x", b"-1S"])
def test_a_malformed_grpc_timeout_is_refused(header: bytes) -> None:
    with pytest.raises(grpc.aio.AbortError):
        parse_timeout(header)
