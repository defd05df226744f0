"""gRPC server processes sharing one listening socket share its connections (grpc_server._Acceptor).

Two acceptors, each on an event loop of its own thread as each server process has its own, take
connections from one real socket on loopback.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from entrypoints.grpc_server import _Acceptor


class _Held(asyncio.Protocol):
    """A connection the server keeps open, as a gRPC client's is kept."""

    def __init__(self, held: set[_Held]) -> None:
        self._held = held

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._held.add(self)


class _ServerThread(threading.Thread):
    def __init__(self, sock: socket.socket) -> None:
        super().__init__(daemon=True)
        self.sock = sock
        self.held: set[_Held] = set()
        self.ready = threading.Event()
        self._finish = threading.Event()

    def run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        acceptor = _Acceptor(self.sock, self.held, lambda: _Held(self.held))
        self.ready.set()
        while not self._finish.is_set():
            await asyncio.sleep(0.01)
        acceptor.close()
        await acceptor.wait_closed()

    def stop(self) -> None:
        self._finish.set()
        self.join(5)


@pytest.fixture
def servers() -> Iterator[tuple[str, int, list[_ServerThread]]]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    threads = [_ServerThread(sock), _ServerThread(sock)]
    for thread in threads:
        thread.start()
        thread.ready.wait(5)
    try:
        yield "127.0.0.1", sock.getsockname()[1], threads
    finally:
        for thread in threads:
            thread.stop()
        sock.close()


def test_a_burst_of_connections_is_shared_between_the_servers(
    servers: tuple[str, int, list[_ServerThread]],
) -> None:
    host, port, threads = servers
    # 16 connections at once, as a load generator or a client's channel pool opens them: before
    # the acceptor, the first server woken took all that were waiting (16/0, 13/3).
    clients = [socket.create_connection((host, port)) for _ in range(16)]
    try:
        deadline = time.monotonic() + 5
        while sum(len(t.held) for t in threads) < 16 and time.monotonic() < deadline:
            time.sleep(0.01)
        counts = sorted(len(t.held) for t in threads)
        assert sum(counts) == 16
        assert counts[0] >= 6, counts
    finally:
        for client in clients:
            client.close()


@pytest.mark.parametrize("spread", [True, False])
async def test_a_server_alone_on_its_socket_takes_connections_without_waiting(spread: bool) -> None:
    """Busy with 40 connections, a server sharing its socket waits 20 ms after taking one before it
    takes the next (leaving that to a less busy server); alone on its socket, it does not wait."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    accepted: list[float] = []

    class _Timed(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            accepted.append(loop.time())

    acceptor = _Acceptor(sock, range(40), _Timed, spread=spread)
    writers = []
    try:
        for _ in range(3):  # a burst, as a client's pool opens its connections
            writers.append((await asyncio.open_connection(*sock.getsockname()))[1])
        deadline = loop.time() + 5
        while len(accepted) < 3 and loop.time() < deadline:
            await asyncio.sleep(0.001)
    finally:
        for writer in writers:
            writer.close()
        acceptor.close()
        await acceptor.wait_closed()
        sock.close()
    assert len(accepted) == 3
    gaps = [later - earlier for earlier, later in itertools.pairwise(accepted)]
    if spread:
        assert min(gaps) >= 0.015, gaps
    else:
        assert max(gaps) < 0.010, gaps
