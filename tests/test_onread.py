"""Node's ``onread``: reads go into one caller-owned buffer, ``callback(nread, buf)``, no 'data'.

Checklist section F (F5-F9): the callback always gets the user's buffer; 'data' is
never emitted and 'end' still is; a buffer factory is called once up front and
once after each read; returning False stops reading until ``resume()``, and so
does ``pause()`` inside the callback. Every engine reads with ``recv_into`` (trio)
or a ``BufferedProtocol`` handing out the user's buffer (asyncio, uvloop).
"""

from __future__ import annotations

import array
import socket
from collections.abc import Callable
from typing import Any

import anyio
import pytest

import trionet
from tests.support import Trace, closed

pytestmark = pytest.mark.anyio

Sender = Callable[[trionet.Socket], object]


async def serve(sender: Sender) -> tuple[trionet.Server, int]:
    server = trionet.create_server(sender)
    server.listen(0, "127.0.0.1")
    with anyio.fail_after(5):
        await trionet.once(server, "listening")
    address = server.address()
    assert isinstance(address, dict)
    return server, address["port"]


class Recorder:
    """An onread callback that keeps each read's bytes and the buffer object it got."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.reads: list[bytes] = []
        self.buffers: list[Any] = []
        self.stop_after = stop_after

    def __call__(self, nread: int, buf: Any) -> bool | None:
        self.buffers.append(buf)
        self.reads.append(bytes(memoryview(buf).cast("B")[:nread]))
        if self.stop_after is not None and len(self.reads) == self.stop_after:
            return False
        return None

    @property
    def data(self) -> bytes:
        return b"".join(self.reads)


async def test_static_buffer_gets_every_byte_and_no_data_events() -> None:
    payload = bytes(range(256)) * 40  # 10240 bytes
    async with trionet.open_scope():
        server, port = await serve(lambda conn: conn.end(payload))
        buf = bytearray(1000)
        rec = Recorder()
        client = trionet.connect(port, "127.0.0.1", onread={"buffer": buf, "callback": rec})
        trace = Trace().watch(client, "c", "connect", "data", "end", "close")
        await closed(client)
        assert rec.data == payload
        assert all(b is buf for b in rec.buffers)  # F5: always the same user buffer
        assert all(1 <= len(r) <= 1000 for r in rec.reads)
        assert len(rec.reads) >= 11
        assert trace.names() == ["connect", "end", "close"]  # no 'data', 'end' still comes
        assert client.bytes_read == len(payload)
        server.close()


async def test_data_listener_gets_nothing() -> None:
    async with trionet.open_scope():
        server, port = await serve(lambda conn: conn.end(b"abcdef"))
        rec = Recorder()
        client = trionet.Socket(onread={"buffer": bytearray(4), "callback": rec})
        seen: list[bytes] = []
        client.on("data", seen.append)
        client.connect(port, "127.0.0.1")
        await closed(client)
        assert seen == []
        assert rec.data == b"abcdef"
        server.close()


async def test_factory_called_up_front_and_after_each_read() -> None:
    """F6: Node's probe: 11 bytes into 2-byte buffers is 6 reads and 7 factory calls."""
    async with trionet.open_scope():
        server, port = await serve(lambda conn: conn.end(b"hello world"))
        made: list[bytearray] = []

        def factory() -> bytearray:
            made.append(bytearray(2))
            return made[-1]

        rec = Recorder()
        client = trionet.Socket(onread={"buffer": factory, "callback": rec})
        assert made == []
        client.connect(port, "127.0.0.1")
        assert len(made) == 1  # up front, at connect (as Node)
        await closed(client)
        assert rec.data == b"hello world"
        assert all(len(r) <= 2 for r in rec.reads)
        assert len(made) == len(rec.reads) + 1
        # Each read went into the buffer the factory gave just before it.
        assert all(got is want for got, want in zip(rec.buffers, made, strict=False))
        if len(rec.reads) == 6:  # all 11 bytes were there at the first read
            assert len(made) == 7
        server.close()


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: memoryview(bytearray(3)), id="memoryview"),
        pytest.param(lambda: array.array("B", bytes(3)), id="array-B"),
        pytest.param(lambda: array.array("H", bytes(4)), id="array-H"),
    ],
)
async def test_other_writable_buffers(make: Callable[[], Any]) -> None:
    """F7: any writable buffer works as Node's Uint8Array does."""
    async with trionet.open_scope():
        server, port = await serve(lambda conn: conn.end(b"0123456789"))
        buf = make()
        rec = Recorder()
        client = trionet.connect(port, "127.0.0.1", onread={"buffer": buf, "callback": rec})
        await closed(client)
        assert rec.data == b"0123456789"
        assert all(b is buf for b in rec.buffers)
        server.close()


async def later_end(conn: trionet.Socket, data: bytes) -> None:
    """Send once the client surely has its transport (no read before 'connect')."""
    await anyio.sleep(0.05)
    conn.end(data)


async def test_returning_false_stops_reading_until_resume() -> None:
    """F8: no callbacks while stopped; is_paused() stays False (as Node); resume() reads on."""
    async with trionet.open_scope():
        server, port = await serve(lambda conn: later_end(conn, b"x" * 40))
        rec = Recorder(stop_after=1)
        client = trionet.connect(
            port, "127.0.0.1", onread={"buffer": bytearray(4), "callback": rec}
        )
        trace = Trace().watch(client, "c", "end", "close")
        with anyio.fail_after(5):
            while not rec.reads:
                await anyio.sleep(0.01)
        await anyio.sleep(0.2)
        assert rec.reads == [b"xxxx"]
        assert client.bytes_read == 4
        assert not client.is_paused()
        assert trace.events == []
        client.resume()
        await closed(client)
        assert rec.data == b"x" * 40
        assert trace.names() == ["end", "close"]
        server.close()


async def test_pause_inside_the_callback() -> None:
    async with trionet.open_scope():
        server, port = await serve(lambda conn: conn.end(b"y" * 30))
        client: trionet.Socket | None = None
        reads: list[int] = []

        def callback(nread: int, buf: bytearray) -> None:
            reads.append(nread)
            if len(reads) == 2:
                assert client is not None
                client.pause()

        client = trionet.connect(
            port, "127.0.0.1", onread={"buffer": bytearray(5), "callback": callback}
        )
        with anyio.fail_after(5):
            while len(reads) < 2:
                await anyio.sleep(0.01)
        await anyio.sleep(0.2)
        assert reads == [5, 5]
        assert client.is_paused()
        client.resume()
        await closed(client)
        assert sum(reads) == 30
        server.close()


async def test_reads_before_connect_are_replayed_after_it() -> None:
    """The asyncio engines may read before 'connect': the callback still comes after it,
    through the user's buffer, in buffer-sized pieces, and False still stops it."""
    payload = bytes(range(50))
    async with trionet.open_scope():
        server, port = await serve(lambda conn: conn.end(payload))
        order: list[str] = []
        buf = bytearray(8)
        rec = Recorder(stop_after=2)

        def callback(nread: int, got: bytearray) -> bool | None:
            order.append("read")
            return rec(nread, got)

        client = trionet.connect(port, "127.0.0.1", onread={"buffer": buf, "callback": callback})
        client.on("connect", lambda: order.append("connect"))
        with anyio.fail_after(5):
            while len(rec.reads) < 2:
                await anyio.sleep(0.01)
        await anyio.sleep(0.1)
        assert order == ["connect", "read", "read"]
        assert rec.reads == [payload[:8], payload[8:16]]
        client.resume()
        await closed(client)
        assert rec.data == payload
        assert all(b is buf for b in rec.buffers)
        assert order[0] == "connect"
        server.close()


async def test_stopped_stays_stopped_when_async_delivery_drains() -> None:
    """An async listener's queue draining must not restart a stopped onread socket."""
    async with trionet.open_scope():
        server, port = await serve(lambda conn: conn.write(b"z" * 20))
        rec = Recorder(stop_after=1)
        client = trionet.connect(
            port, "127.0.0.1", onread={"buffer": bytearray(4), "callback": rec}
        )
        with anyio.fail_after(5):
            while not rec.reads:
                await anyio.sleep(0.01)
        timed_out = anyio.Event()

        async def on_timeout() -> None:  # async: delivered through the handle's queue
            await anyio.sleep(0.02)
            timed_out.set()

        client.on("timeout", on_timeout)
        client.set_timeout(0.05)
        with anyio.fail_after(5):
            await timed_out.wait()
        await anyio.sleep(0.2)
        assert rec.reads == [b"zzzz"]
        client.resume()
        with anyio.fail_after(5):
            while len(rec.data) < 20:
                await anyio.sleep(0.01)
        assert rec.data == b"z" * 20
        client.destroy()
        server.close()


async def test_onread_over_ipc_and_socket_connect(tmp_path: Any) -> None:
    path = str(tmp_path / "s.sock")
    async with trionet.open_scope():
        server = trionet.create_server(lambda conn: conn.end(b"ipc onread"))
        server.listen(path)
        with anyio.fail_after(5):
            await trionet.once(server, "listening")
        rec = Recorder()
        client = trionet.Socket({"onread": {"buffer": bytearray(3), "callback": rec}})
        client.connect(path)
        await closed(client)
        assert rec.data == b"ipc onread"
        server.close()


async def test_onread_with_inherited_fd() -> None:
    a, b = socket.socketpair()
    try:
        async with trionet.open_scope():
            rec = Recorder()
            client = trionet.Socket(fd=a.detach(), onread={"buffer": bytearray(8), "callback": rec})
            b.sendall(b"over an inherited descriptor")
            b.shutdown(socket.SHUT_WR)
            trace = Trace().watch(client, "c", "data", "end", "close")
            await closed(client)
            assert rec.data == b"over an inherited descriptor"
            assert trace.names() == ["end", "close"]
    finally:
        b.close()


async def test_reconnect_takes_a_fresh_factory_buffer() -> None:
    async with trionet.open_scope():
        server, port = await serve(lambda conn: conn.end(b"round"))
        made: list[bytearray] = []

        def factory() -> bytearray:
            made.append(bytearray(64))
            return made[-1]

        rec = Recorder()
        client = trionet.Socket(onread={"buffer": factory, "callback": rec})
        for _ in range(2):
            client.connect(port, "127.0.0.1")
            await closed(client)
        assert rec.data == b"roundround"
        assert len(made) == 2 + len(rec.reads)
        server.close()


async def test_callback_exception_ends_the_scope() -> None:
    class Boom(Exception):
        pass

    def callback(nread: int, buf: bytearray) -> None:
        raise Boom

    with pytest.raises(Boom):
        async with trionet.open_scope():
            server, port = await serve(lambda conn: conn.end(b"boom"))
            client = trionet.connect(
                port, "127.0.0.1", onread={"buffer": bytearray(8), "callback": callback}
            )
            await closed(client)
            server.close()


async def test_factory_returning_junk_destroys_the_socket() -> None:
    async with trionet.open_scope():
        server, port = await serve(
            lambda conn: (conn.on("error", lambda err: None), conn.end(b"abcdefgh"))
        )
        calls = 0

        def factory() -> Any:
            nonlocal calls
            calls += 1
            return bytearray(4) if calls == 1 else b"read-only"

        rec = Recorder()
        client = trionet.connect(port, "127.0.0.1", onread={"buffer": factory, "callback": rec})
        trace = Trace().watch(client, "c", "error", "close")
        await closed(client)
        assert rec.reads == [b"abcd"]
        assert trace.names() == ["error", "close"]
        err = trace.events[0][2]
        assert err.code == "ERR_INVALID_RETURN_VALUE"
        assert str(err) == (
            'Expected a non-empty writable buffer to be returned from the "onread.buffer"'
            " function but got an instance of bytes."
        )
        server.close()


async def test_bad_onread_options_raise_at_once() -> None:
    """Node v20 silently ignores a malformed onread; trionet refuses it (Python's way)."""

    async def async_callback(nread: int, buf: bytearray) -> None:
        pass

    cases: list[tuple[Any, type[Exception], str, str]] = [
        (
            "nope",
            TypeError,
            "ERR_INVALID_ARG_TYPE",
            "The \"options.onread\" property must be of type object. Received type string ('nope')",
        ),
        (
            {"buffer": bytearray(4)},
            TypeError,
            "ERR_INVALID_ARG_TYPE",
            'The "options.onread.callback" property must be of type function. Received None',
        ),
        (
            {"buffer": b"immutable", "callback": print},
            TypeError,
            "ERR_INVALID_ARG_VALUE",
            "The property 'options.onread.buffer' must be writable. Received b'immutable'",
        ),
        (
            {"buffer": bytearray(), "callback": print},
            TypeError,
            "ERR_INVALID_ARG_VALUE",
            "The property 'options.onread.buffer' must not be empty. Received bytearray(b'')",
        ),
        (
            {"buffer": 42, "callback": print},
            TypeError,
            "ERR_INVALID_ARG_TYPE",
            'The "options.onread.buffer" property must be of type function or an instance of'
            " bytearray or memoryview. Received type number (42)",
        ),
        (
            {"buffer": bytearray(4), "callback": async_callback},
            TypeError,
            "ERR_INVALID_ARG_TYPE",
            'The "options.onread.callback" property must be a plain (not async) function.',
        ),
    ]
    async with trionet.open_scope():
        for onread, kind, code, message in cases:
            with pytest.raises(kind) as info:
                trionet.Socket(onread=onread)
            assert info.value.code == code  # type: ignore[attr-defined]
            assert str(info.value).startswith(message)
            with pytest.raises(kind):
                trionet.connect(1, "127.0.0.1", onread=onread)
        # A factory's first buffer is taken in connect(): a bad one raises there.
        sock = trionet.Socket(onread={"buffer": lambda: None, "callback": print})
        with pytest.raises(TypeError) as info:
            sock.connect(1, "127.0.0.1")
        assert info.value.code == "ERR_INVALID_RETURN_VALUE"  # type: ignore[attr-defined]
        assert not sock.connecting


async def test_servers_take_no_onread() -> None:
    """Node v20: createServer ignores onread (its sockets emit 'data'); trionet too."""
    async with trionet.open_scope():
        got: list[bytes] = []
        server = trionet.create_server(
            {"onread": {"buffer": bytearray(4), "callback": print}},
            lambda conn: (conn.on("data", got.append), conn.on("end", conn.end)),
        )
        server.listen(0, "127.0.0.1")
        with anyio.fail_after(5):
            await trionet.once(server, "listening")
        address = server.address()
        assert isinstance(address, dict)
        client = trionet.connect(address["port"], "127.0.0.1")
        client.end(b"plain data")
        await closed(client)
        server.close()
        await server.wait_closed()
        assert b"".join(got) == b"plain data"
        with pytest.raises(TypeError):
            trionet.create_server(onread={"buffer": bytearray(4), "callback": print})
