"""Every descriptor an engine opens is closed again: sockets, and the reactors' epoll sets.

The trio and selector engines keep one epoll set per listener and one per
group of clients; it must close with the last socket it serves, also when
the scope ends with connections still open. (Each test first runs one
exchange, so that what a loop opens once, on first use, is not counted.)
"""

from __future__ import annotations

import os

import anyio
import pytest

import trionet
from tests.support import closed, listening

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self/fd"),
]


class Boom(Exception):
    pass


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def _settled(before: int) -> int:
    """The fd count once it is back to ``before``, or after 2 s (the loop transports
    close their sockets an iteration or two after abort())."""
    with anyio.move_on_after(2):
        while _open_fds() > before:
            await anyio.sleep(0.01)
    return _open_fds()


async def _exchange(clients: int = 3) -> None:
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
    await _exchange(1)
    before = _open_fds()
    await _exchange()
    assert await _settled(before) == before


async def test_a_failed_scope_closes_open_connections_and_their_reactors() -> None:
    await _exchange(1)
    before = _open_fds()
    with pytest.raises(Boom):
        async with trionet.open_scope():
            server = trionet.create_server()
            port = await listening(server)
            client = trionet.create_connection(port, "127.0.0.1")
            await trionet.once(client, "connect")
            assert _open_fds() >= before + 3  # (the listener, two ends, epoll sets)
            raise Boom
    assert await _settled(before) == before
