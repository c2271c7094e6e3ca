"""The idle timeout on virtual time: trio's MockClock (autojump), so nothing really sleeps.

Real loopback sockets still carry the data; the clock only jumps when every task is
blocked, so each 'timeout' lands at an exact virtual time that the tests can assert.
Node reference: node-net-behaviour.md section K and 3.2.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import trio
import trio.lowlevel
import trio.testing

import trionet
from tests.support import listening

# Time limits (conftest's `bound`) are virtual seconds here: a hang fails at once.
pytestmark = [pytest.mark.trio, pytest.mark.bound(100_000)]


@pytest.fixture
def clock() -> trio.testing.MockClock:
    """pytest-trio runs the test on the clock a fixture returns."""
    return trio.testing.MockClock(autojump_threshold=0)


class Timeouts:
    """The virtual times at which a socket emitted 'timeout'."""

    def __init__(self, sock: trionet.Socket) -> None:
        self.at: list[float] = []
        sock.on("timeout", lambda: self.at.append(trio.current_time()))


async def pair(
    setup: Callable[[trionet.Socket], object] | None = None, **options: Any
) -> tuple[trionet.Server, trionet.Socket, trionet.Socket]:
    accepted: list[trionet.Socket] = []

    def on_connection(sock: trionet.Socket) -> None:
        sock.on("error", lambda err: None)
        sock.resume()
        accepted.append(sock)
        if setup is not None:
            setup(sock)

    server = trionet.create_server(on_connection)
    port = await listening(server)
    client = trionet.connect(port, "127.0.0.1", **options)
    await trionet.once(client, "connect")
    while not accepted:
        await trio.lowlevel.checkpoint()
    return server, client, accepted[0]


def close(server: trionet.Server, client: trionet.Socket) -> None:
    client.destroy()
    server.close()


async def test_ten_second_idle_timeout_fires_exactly_at_ten(clock: trio.testing.MockClock) -> None:
    async with trionet.open_scope():
        server, client, _peer = await pair()
        timeouts = Timeouts(client)
        start = trio.current_time()
        client.set_timeout(10)
        await trio.sleep(9.999)
        assert timeouts.at == []
        await trio.sleep(0.002)
        assert [t - start for t in timeouts.at] == [pytest.approx(10, abs=1e-9)]
        await trio.sleep(1000)  # one 'timeout' per idle period
        assert len(timeouts.at) == 1
        assert client.destroyed is False
        close(server, client)


async def test_writes_postpone_the_timeout(clock: trio.testing.MockClock) -> None:
    async with trionet.open_scope():
        server, client, _peer = await pair()
        timeouts = Timeouts(client)
        start = trio.current_time()
        client.set_timeout(10)
        await trio.sleep(4)
        client.write(b"a")
        await trio.sleep(4)
        client.write(b"b")  # the last activity: start + 8
        await trio.sleep(9.999)
        assert timeouts.at == []
        await trio.sleep(1)
        assert [t - start for t in timeouts.at] == [pytest.approx(18, abs=1e-9)]
        close(server, client)


async def test_reads_postpone_the_timeout(clock: trio.testing.MockClock) -> None:
    async with trionet.open_scope():
        server, client, peer = await pair()
        got: list[tuple[float, bytes]] = []
        client.on("data", lambda data: got.append((trio.current_time(), data)))
        timeouts = Timeouts(client)
        start = trio.current_time()
        client.set_timeout(10)
        await trio.sleep(4)
        peer.write(b"a")
        await trio.sleep(4)
        peer.write(b"b")
        await trio.sleep(9.999)
        assert [data for _, data in got] == [b"a", b"b"]
        assert [t - start for t, _ in got] == [
            pytest.approx(4, abs=1e-9),
            pytest.approx(8, abs=1e-9),
        ]
        assert timeouts.at == []
        await trio.sleep(1)
        assert [t - start for t in timeouts.at] == [pytest.approx(18, abs=1e-9)]
        close(server, client)


async def test_activity_after_a_timeout_rearms_it(clock: trio.testing.MockClock) -> None:
    async with trionet.open_scope():
        server, client, _peer = await pair()
        timeouts = Timeouts(client)
        calls: list[float] = []
        start = trio.current_time()
        client.set_timeout(10, lambda: calls.append(trio.current_time()))
        await trio.sleep(60)
        client.write(b"x")  # at start + 60
        await trio.sleep(100)
        assert [t - start for t in timeouts.at] == [
            pytest.approx(10, abs=1e-9),
            pytest.approx(70, abs=1e-9),
        ]
        assert [t - start for t in calls] == [pytest.approx(10, abs=1e-9)]  # once
        close(server, client)


async def test_set_timeout_again_restarts_from_now(clock: trio.testing.MockClock) -> None:
    async with trionet.open_scope():
        server, client, _peer = await pair()
        timeouts = Timeouts(client)
        start = trio.current_time()
        client.set_timeout(10)
        await trio.sleep(5)
        client.set_timeout(3)
        assert client.timeout == 3
        await trio.sleep(100)
        assert [t - start for t in timeouts.at] == [pytest.approx(8, abs=1e-9)]
        close(server, client)


async def test_zero_turns_it_off(clock: trio.testing.MockClock) -> None:
    async with trionet.open_scope():
        server, client, _peer = await pair()
        timeouts = Timeouts(client)
        client.set_timeout(10)
        await trio.sleep(5)
        client.set_timeout(0)
        await trio.sleep(1000)
        assert timeouts.at == []
        close(server, client)


async def test_timeout_option_counts_from_connect(clock: trio.testing.MockClock) -> None:
    async with trionet.open_scope():
        server = trionet.create_server(lambda sock: sock.resume())
        port = await listening(server)
        start = trio.current_time()
        client = trionet.connect(port=port, host="127.0.0.1", timeout=10)
        timeouts = Timeouts(client)
        await trionet.once(client, "connect")
        assert trio.current_time() == start  # loopback: no virtual time passes
        await trio.sleep(20)
        assert [t - start for t in timeouts.at] == [pytest.approx(10, abs=1e-9)]
        close(server, client)


async def test_never_connected_socket_times_out(clock: trio.testing.MockClock) -> None:
    async with trionet.open_scope():
        sock = trionet.Socket()
        timeouts = Timeouts(sock)
        start = trio.current_time()
        sock.set_timeout(7.5)
        await trio.sleep(100)
        assert [t - start for t in timeouts.at] == [pytest.approx(7.5, abs=1e-9)]
        sock.destroy()


async def test_the_idle_timer_keeps_nothing_alive(clock: trio.testing.MockClock) -> None:
    start = trio.current_time()
    async with trionet.open_scope():
        sock = trionet.Socket()
        timeouts = Timeouts(sock)
        sock.set_timeout(1000)
    assert trio.current_time() - start < 1000  # the scope did not wait for it (Node K9)
    assert timeouts.at == []


async def test_write_progress_postpones_a_stalled_queue_does_not(
    clock: trio.testing.MockClock,
) -> None:
    """Node K12: a write queue that shrinks between two checks is not idle."""
    async with trionet.open_scope():
        server, client, peer = await pair()
        peer.pause()
        block = b"x" * (1 << 20)
        while client.write(block):  # fill the kernel buffers: the peer does not read
            pass
        for _ in range(12):  # and queue 12 MiB more in the socket
            client.write(block)
        timeouts = Timeouts(client)
        start = trio.current_time()
        client.set_timeout(10)
        # Every 4 s the peer reads about 1 MiB: the queue moves, so no 'timeout'.
        taken = [0]

        def on_data(data: bytes) -> None:
            taken[0] += len(data)
            if taken[0] >= 1 << 20:
                taken[0] = 0
                peer.pause()

        peer.on("data", on_data)
        sizes = []
        for _ in range(8):
            await trio.sleep(4)
            peer.resume()
            await trio.lowlevel.checkpoint()
            sizes.append(client.writable_length)
        assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) > 4
        assert client.writable_length > 0
        assert timeouts.at == []
        # Now it stalls: a 'timeout' within two periods.
        await trio.sleep(25)
        assert len(timeouts.at) == 1
        assert start + 32 < timeouts.at[0] <= start + 32 + 20
        peer.destroy()
        close(server, client)
