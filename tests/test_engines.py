"""What every engine must do however it is built: close every descriptor it opens,
and let the nextTick queue run between reads.

The trio and selector engines keep one epoll set per listener and one per
group of clients; it must close with the last socket it serves, also when
the scope ends with connections still open.
"""

from __future__ import annotations

import contextlib
import os
import socket

import anyio
import pytest

import trionet
from tests.support import closed, fds_after_warm_up, listening, open_fds, settled_fds

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self/fd"),
]


class Boom(Exception):
    pass


async def _exchange(clients: int) -> None:
    """A server and ``clients`` clients, each echoing one byte, then all closed."""
    async with trionet.open_scope():
        server = trionet.create_server(lambda sock: sock.pipe(sock))
        port = await listening(server)
        echoed: list[bytes] = []
        closes: list[tuple[object, ...]] = []
        for _ in range(clients):
            client = trionet.create_connection(port, "127.0.0.1")
            client.on("data", echoed.append)
            client.on("close", lambda *args: closes.append(args))
            client.end(b"x")
        with anyio.fail_after(5):
            while len(closes) < clients:
                await anyio.sleep(0.01)
        server.close()
        await closed(server)
        assert echoed == [b"x"] * clients
        assert closes == [(False,)] * clients


async def test_server_and_clients_leave_no_descriptor_open() -> None:
    before = await fds_after_warm_up()
    await _exchange(3)
    assert await settled_fds(before) == before


async def test_a_failed_scope_closes_open_connections_and_their_reactors() -> None:
    before = await fds_after_warm_up()
    with pytest.raises(Boom):
        async with trionet.open_scope():
            server = trionet.create_server()
            port = await listening(server)
            client = trionet.create_connection(port, "127.0.0.1")
            await trionet.once(client, "connect")
            assert open_fds() >= before + 3  # (the listener, two ends, epoll sets)
            raise Boom
    assert await settled_fds(before) == before


async def test_a_tick_queued_by_a_data_listener_runs_before_the_next_read(
    backend_name: str, request: pytest.FixtureRequest
) -> None:
    """Node runs the nextTick queue after each read callback: a pause() queued in a
    tick by the first 'data' stops 'data' at once, however much is waiting."""
    if backend_name == "uvloop":
        request.applymarker(
            pytest.mark.xfail(
                reason="uvloop (libuv) reads up to 32 times per wake-up, calling "
                "data_received each time, and the scope's ticks are loop callbacks that "
                "run only after",
                strict=True,
            )
        )
    payload = b"x" * (1 << 20)  # many full-size reads waiting at once
    async with trionet.open_scope() as scope:
        chunks: list[int] = []
        done = anyio.Event()

        def on_connection(sock: trionet.Socket) -> None:
            def on_data(data: bytes) -> None:
                chunks.append(len(data))
                if len(chunks) == 1:
                    scope.call_soon(sock.pause)
                    scope.call_soon(done.set)

            sock.on("data", on_data)

        server = trionet.create_server(on_connection, pause_on_connect=True)
        port = await listening(server)
        raw = socket.create_connection(("127.0.0.1", port))
        try:
            raw.setblocking(False)
            sent = 0
            with contextlib.suppress(BlockingIOError):
                while sent < len(payload):
                    sent += raw.send(payload[sent:])
            assert sent > 3 * 65536  # (what the kernels of both ends buffer)
            await anyio.sleep(0.05)
            for sock in list(server._connections):
                sock.resume()
            with anyio.fail_after(5):
                await done.wait()
            await anyio.sleep(0.05)
            assert len(chunks) == 1, chunks
        finally:
            raw.close()
            server.close()
            for sock in list(server._connections):
                sock.destroy()
