"""``Socket.set_timeout()`` and ``'timeout'`` over real loopback TCP, with short real timeouts.

Node reference: node-net-behaviour.md section K and 3.2 (seconds here, not milliseconds).
The exact-time checks live in test_socket_timeout_trio.py (trio's MockClock).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import anyio
import pytest

import trionet
from tests.support import listening

pytestmark = pytest.mark.anyio

#: asyncio may run a timer a little before its deadline (its clock resolution).
EARLY = 0.01


class Clocked:
    """Records the (anyio) time of each event of one emitter."""

    def __init__(self, emitter: trionet.EventEmitter, *names: str) -> None:
        self.log: list[tuple[str, float]] = []
        self._seen = {name: anyio.Event() for name in names}
        for name in names:
            emitter.on(name, self._recorder(name))

    def _recorder(self, name: str) -> Callable[..., None]:
        def record(*args: Any) -> None:
            self.log.append((name, anyio.current_time()))
            self._seen[name].set()

        return record

    def names(self) -> list[str]:
        return [name for name, _ in self.log]

    def times(self, name: str) -> list[float]:
        return [at for entry, at in self.log if entry == name]

    async def wait(self, name: str, timeout: float = 5) -> None:
        with anyio.fail_after(timeout):
            await self._seen[name].wait()


async def connected_pair(
    setup: Callable[[trionet.Socket], object] | None = None, **connect_options: Any
) -> tuple[trionet.Server, trionet.Socket, list[trionet.Socket]]:
    accepted: list[trionet.Socket] = []

    def on_connection(sock: trionet.Socket) -> None:
        sock.on("error", lambda err: None)
        accepted.append(sock)
        if setup is not None:
            setup(sock)
        else:
            sock.resume()  # consume, so that the peer's FIN ends it (Node withholds 'end')

    server = trionet.create_server(on_connection)
    port = await listening(server)
    client = trionet.connect(port, "127.0.0.1", **connect_options)
    with anyio.fail_after(5):
        await trionet.once(client, "connect")
        while not accepted:
            await anyio.sleep(0.001)
    return server, client, accepted


async def finish(server: trionet.Server, client: trionet.Socket) -> None:
    client.destroy()
    server.close()


# -- firing -------------------------------------------------------------------------------------


async def test_timeout_fires_after_idle_and_does_not_close() -> None:
    async with trionet.open_scope():
        received: list[bytes] = []

        def setup(sock: trionet.Socket) -> None:
            sock.on("data", received.append)

        server, client, _accepted = await connected_pair(setup)
        assert client.timeout is None  # Node: undefined until set
        clock = Clocked(client, "timeout", "end", "close")
        start = anyio.current_time()
        assert client.set_timeout(0.1) is client
        assert getattr(client, "timeout") == 0.1  # noqa: B009 (mypy narrowed it to None)
        await clock.wait("timeout")
        assert clock.times("timeout")[0] - start >= 0.1 - EARLY
        await anyio.sleep(0.05)
        assert client.destroyed is False  # Node K3: nothing is closed
        assert client.ready_state == "open"
        assert client.write(b"still usable") is True
        with anyio.fail_after(5):
            while not received:
                await anyio.sleep(0.001)
        assert b"".join(received) == b"still usable"
        assert "end" not in clock.names() and "close" not in clock.names()
        await finish(server, client)


async def test_timeout_fires_once_per_idle_period() -> None:
    async with trionet.open_scope():
        server, client, _accepted = await connected_pair()
        clock = Clocked(client, "timeout")
        client.set_timeout(0.05)
        await anyio.sleep(0.3)  # six idle periods, one 'timeout' (as Node)
        assert len(clock.times("timeout")) == 1
        client.write(b"x")  # activity re-arms it
        await anyio.sleep(0.2)
        assert len(clock.times("timeout")) == 2
        await finish(server, client)


async def test_write_in_timeout_handler_rearms_the_timer() -> None:
    async with trionet.open_scope():
        got: list[bytes] = []
        server, client, _accepted = await connected_pair(lambda s: s.on("data", got.append))
        client.on("timeout", lambda: client.write(b"."))
        clock = Clocked(client, "timeout")
        client.set_timeout(0.05)
        await anyio.sleep(0.4)
        count = len(clock.times("timeout"))
        assert count >= 3  # each write restarts the idle period
        times = clock.times("timeout")
        assert all(b - a >= 0.05 - EARLY for a, b in itertools.pairwise(times))
        await finish(server, client)


# -- activity postpones it ------------------------------------------------------------------------


async def test_timeout_is_reset_by_writes() -> None:
    async with trionet.open_scope():
        server, client, _accepted = await connected_pair(lambda s: s.resume())
        clock = Clocked(client, "timeout")
        client.set_timeout(0.2)
        last = anyio.current_time()
        for _ in range(10):  # 0.4 s of activity, never 0.2 s idle
            await anyio.sleep(0.04)
            client.write(b"tick")
            last = anyio.current_time()
        assert clock.names() == []
        await clock.wait("timeout")
        assert clock.times("timeout")[0] - last >= 0.2 - EARLY  # Node K11
        await finish(server, client)


async def test_timeout_is_reset_by_reads() -> None:
    async with trionet.open_scope():
        sent_at: list[float] = []

        def setup(sock: trionet.Socket) -> None:
            async def talk() -> None:
                for _ in range(10):
                    await anyio.sleep(0.04)
                    sock.write(b"tock")
                    sent_at.append(anyio.current_time())

            trionet.current_scope().spawn(talk)

        server, client, _accepted = await connected_pair(setup)
        client.on("data", lambda data: None)
        clock = Clocked(client, "timeout")
        client.set_timeout(0.2)
        with anyio.fail_after(5):
            while len(sent_at) < 10:
                await anyio.sleep(0.01)
        assert clock.names() == []
        await clock.wait("timeout")
        assert clock.times("timeout")[0] - sent_at[-1] >= 0.2 - EARLY
        assert client.bytes_read == 40
        await finish(server, client)


async def test_stalled_write_queue_lets_the_timeout_fire() -> None:
    async with trionet.open_scope():
        server, client, accepted = await connected_pair(lambda s: s.pause())
        block = b"x" * (1 << 20)
        while client.write(block):  # fill the kernel buffers: the peer does not read
            pass
        assert client.writable_length > 0
        clock = Clocked(client, "timeout")
        client.set_timeout(0.1)
        await clock.wait("timeout")  # Node K12: no progress is idle
        assert client.writable_length > 0
        assert client.destroyed is False
        accepted[0].destroy()
        client.destroy()
        server.close()


# -- turning it off, the callback -----------------------------------------------------------------


async def test_zero_disables_and_removes_the_callback() -> None:
    async with trionet.open_scope():
        server, client, _accepted = await connected_pair()
        calls: list[tuple[Any, ...]] = []

        def cb(*args: Any) -> None:
            calls.append(args)

        clock = Clocked(client, "timeout")
        client.set_timeout(0.05, cb)
        assert client.listener_count("timeout") == 2  # the Clocked one and cb
        assert client.set_timeout(0, cb) is client
        assert client.timeout == 0
        assert client.listener_count("timeout") == 1
        await anyio.sleep(0.2)
        assert calls == []
        assert clock.names() == []
        # set_timeout(T, cb) then set_timeout(0): cb never runs (Node K5)
        client.set_timeout(0.05, cb)
        client.set_timeout(0)
        await anyio.sleep(0.2)
        assert clock.names() == []
        await finish(server, client)


async def test_callback_form_adds_a_once_listener() -> None:
    async with trionet.open_scope():
        server, client, _accepted = await connected_pair()
        calls: list[tuple[Any, ...]] = []

        def cb(*args: Any) -> None:
            calls.append(args)

        clock = Clocked(client, "timeout")
        client.set_timeout(0.05, cb)
        assert client.listener_count("timeout") == 2
        await clock.wait("timeout")
        assert calls == [()]
        assert client.listener_count("timeout") == 1
        client.write(b"x")
        await anyio.sleep(0.2)
        assert len(clock.times("timeout")) == 2
        assert calls == [()]  # one-shot (Node K6)
        await finish(server, client)


async def test_setting_it_twice_runs_one_timer() -> None:
    async with trionet.open_scope():
        server, client, _accepted = await connected_pair()
        clock = Clocked(client, "timeout")
        client.set_timeout(0.05)
        client.set_timeout(0.05)
        client.set_timeout(0)
        client.set_timeout(0.05)
        await anyio.sleep(0.25)
        assert len(clock.times("timeout")) == 1
        await finish(server, client)


async def test_set_timeout_on_a_destroyed_socket_is_a_no_op() -> None:
    async with trionet.open_scope():
        server, client, _accepted = await connected_pair()
        clock = Clocked(client, "timeout", "close")
        client.destroy()
        assert client.set_timeout(0.05) is client
        await clock.wait("close")
        await anyio.sleep(0.15)
        assert clock.names() == ["close"]
        server.close()


# -- before connecting ----------------------------------------------------------------------------


async def test_timeout_option_on_connect() -> None:
    async with trionet.open_scope():
        server = trionet.create_server(lambda sock: None)
        port = await listening(server)
        start = anyio.current_time()
        client = trionet.connect(port=port, host="127.0.0.1", timeout=0.1)
        assert client.timeout == 0.1  # set before connecting (Node K10)
        clock = Clocked(client, "connect", "timeout")
        await clock.wait("timeout")
        assert clock.names() == ["connect", "timeout"]
        assert clock.times("timeout")[0] - start >= 0.1 - EARLY
        assert client.destroyed is False
        client.destroy()
        server.close()


async def test_timeout_fires_on_a_never_connected_socket() -> None:
    async with trionet.open_scope():
        sock = trionet.Socket()
        clock = Clocked(sock, "timeout", "connect")
        sock.set_timeout(0.05)
        await clock.wait("timeout")  # Node K8
        assert clock.names() == ["timeout"]
        sock.set_timeout(0)


# -- validation ---------------------------------------------------------------------------------

# Node shows NaN and Infinity; trionet shows Python's repr, as for every value it quotes.
OUT_OF_RANGE = [
    (-1, "-1"),
    (-0.5, "-0.5"),
    (math.nan, "nan"),
    (math.inf, "inf"),
    (-math.inf, "-inf"),
]


@pytest.mark.parametrize(("value", "shown"), OUT_OF_RANGE, ids=[s for _, s in OUT_OF_RANGE])
async def test_set_timeout_out_of_range(value: float, shown: str) -> None:
    async with trionet.open_scope():
        sock = trionet.Socket()
        with pytest.raises(ValueError) as info:
            sock.set_timeout(value)
        assert getattr(info.value, "code", None) == "ERR_OUT_OF_RANGE"
        assert str(info.value) == (
            'The value of "msecs" is out of range. It must be a non-negative finite number. '
            f"Received {shown}"
        )
        assert sock.timeout is None


@pytest.mark.parametrize(
    ("value", "shown"),
    [("1", "type string ('1')"), (None, "None"), (True, "type boolean (True)")],
)
async def test_set_timeout_wrong_type(value: object, shown: str) -> None:
    async with trionet.open_scope():
        sock = trionet.Socket()
        with pytest.raises(TypeError) as info:
            sock.set_timeout(value)  # type: ignore[arg-type]
        assert getattr(info.value, "code", None) == "ERR_INVALID_ARG_TYPE"
        assert str(info.value) == f'The "msecs" argument must be of type number. Received {shown}'


@pytest.mark.parametrize("seconds", [0, 0.1])
async def test_set_timeout_bad_callback(seconds: float) -> None:
    async with trionet.open_scope():
        sock = trionet.Socket()
        with pytest.raises(TypeError) as info:
            sock.set_timeout(seconds, "x")  # type: ignore[arg-type]
        assert getattr(info.value, "code", None) == "ERR_INVALID_ARG_TYPE"
        assert str(info.value) == (
            "The \"callback\" argument must be of type function. Received type string ('x')"
        )
        assert sock.timeout is None


@pytest.mark.parametrize("seconds", [0, 0.001, 1, 1e6])
async def test_set_timeout_accepted_values(seconds: float) -> None:
    async with trionet.open_scope():
        sock = trionet.Socket()
        assert sock.set_timeout(seconds) is sock
        assert sock.timeout == seconds
        sock.set_timeout(0)
        assert sock.timeout == 0
