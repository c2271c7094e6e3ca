"""``Socket.write()`` over real loopback TCP: return value, 'drain', callbacks, queueing, errors.

Node reference: node-net-behaviour.md section H (and I for ``bytes_written``), 3.1.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import anyio
import pytest

import trionet
from tests.support import Rec, listening

pytestmark = pytest.mark.anyio

HWM = 16384


class Sink:
    """A server-side consumer: collects every byte of every accepted connection."""

    def __init__(self, paused: bool = False) -> None:
        self.paused = paused
        self.sockets: list[trionet.Socket] = []
        self.chunks: list[bytes] = []
        self.errors: list[BaseException] = []
        self.ended = anyio.Event()
        self.closed = anyio.Event()
        self.connected = anyio.Event()

    def __call__(self, sock: trionet.Socket) -> None:
        self.sockets.append(sock)
        if self.paused:
            sock.pause()
        sock.on("data", self.chunks.append)
        sock.on("end", self.ended.set)
        sock.on("error", self.errors.append)
        sock.on("close", lambda had_error: self.closed.set())
        self.connected.set()

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks)


async def sink_server(paused: bool = False, **options: Any) -> tuple[trionet.Server, Sink, int]:
    sink = Sink(paused)
    server = trionet.create_server(sink, **options)
    port = await listening(server)
    return server, sink, port


async def wait(event: anyio.Event, timeout: float = 5) -> None:
    with anyio.fail_after(timeout):
        await event.wait()


# -- return value and 'drain' -----------------------------------------------------------


async def test_write_while_connecting_returns_false_at_high_water_mark_then_drain() -> None:
    async with trionet.open_scope():
        server, sink, port = await sink_server()
        client = trionet.connect(port, "127.0.0.1")
        drains: list[int] = []
        drained = anyio.Event()

        def on_drain() -> None:
            drains.append(client.writable_length)
            drained.set()

        client.on("drain", on_drain)
        assert client.connecting is True
        assert client.writable_high_water_mark == HWM
        assert client.write(b"a" * 10) is True  # 10 < 16384
        assert client.writable_length == 10
        assert client.write(b"b" * 20000) is False  # 20010 >= 16384
        assert client.writable_length == 20010
        assert client.buffer_size == 20010
        assert client.write(b"c") is False  # still accepted, still over the mark
        assert client.bytes_written == 20011
        await wait(drained)
        assert drains == [0]
        client.end()
        await wait(sink.ended)
        assert sink.data == b"a" * 10 + b"b" * 20000 + b"c"
        assert client.bytes_written == 20011
        server.close()


async def test_high_water_mark_zero_every_queued_write_returns_false() -> None:
    async with trionet.open_scope():
        server, sink, port = await sink_server()
        client = trionet.connect(port, "127.0.0.1", high_water_mark=0)
        rec = Rec(client, "drain", "connect")
        assert client.writable_high_water_mark == 0
        assert client.write(b"ab") is False
        assert client.write(b"cd") is False
        assert client.writable_length == 4
        await rec.wait("drain")
        assert rec.names() == ["connect", "drain"]
        assert client.writable_length == 0
        client.end()
        await wait(sink.ended)
        assert sink.data == b"abcd"
        server.close()


async def test_write_small_chunk_to_connected_socket_returns_true() -> None:
    async with trionet.open_scope():
        server, sink, port = await sink_server()
        client = trionet.connect(port, "127.0.0.1")
        await Rec(client, "connect").wait("connect")
        # Node v20: the kernel takes it at once, so nothing stays queued.
        assert client.write(b"x" * 100) is True
        assert client.writable_length == 0
        client.end()
        await wait(sink.ended)
        assert sink.data == b"x" * 100
        server.close()


async def test_non_reading_peer_write_false_more_accepted_drain_at_zero() -> None:
    async with trionet.open_scope():
        server, sink, port = await sink_server(paused=True)
        client = trionet.connect(port, "127.0.0.1")
        rec = Rec(client, "connect", "drain", "finish", "close", "error")
        await rec.wait("connect")
        chunk = b"\x5a" * 65536
        done: list[int] = []
        n = 0
        while client.write(chunk, lambda err, i=n: done.append(i) if err is None else None):
            n += 1
            assert n < 2000, "write() never reported backpressure"
        n += 1
        assert client.writable_length >= HWM
        assert "drain" not in rec.names()
        # More writes are still accepted (queued) while over the mark.
        assert client.write(b"tail", lambda err: done.append(-1)) is False
        queued = client.writable_length
        assert queued >= HWM + 4
        assert client.buffer_size == queued
        assert client.bytes_written == n * 65536 + 4
        await anyio.sleep(0.05)
        assert "drain" not in rec.names()  # nothing moves while the peer does not read
        await wait(sink.connected)
        sink.sockets[0].resume()
        await rec.wait("drain")
        assert client.writable_length == 0
        assert len(rec.args("drain")) == 1
        client.end()
        await wait(sink.ended)
        await rec.wait("close")
        assert done == [*range(n), -1]
        assert sink.data == chunk * n + b"tail"
        assert rec.names()[-2:] == ["finish", "close"]
        assert rec.args("close") == [(False,)]
        server.close()


async def test_drain_driven_loop_delivers_everything() -> None:
    total = 4 * 1024 * 1024
    block = bytes(range(256)) * 4096  # 1 MiB
    async with trionet.open_scope():
        server, sink, port = await sink_server()
        client = trionet.connect(port, "127.0.0.1")
        await Rec(client, "connect").wait("connect")
        sent = 0
        falses = 0
        while sent < total:
            ok = client.write(block)
            sent += len(block)
            if not ok:
                falses += 1
                with anyio.fail_after(10):
                    await trionet.once(client, "drain")
        client.end()
        await wait(sink.ended, 20)
        assert len(sink.data) == total
        assert sink.data == block * 4
        assert falses >= 1  # 1 MiB writes do not all fit into the kernel at once
        server.close()


# -- callbacks --------------------------------------------------------------------------


async def test_write_callbacks_each_once_and_in_order() -> None:
    async with trionet.open_scope():
        server, sink, port = await sink_server()
        client = trionet.connect(port, "127.0.0.1")
        calls: list[tuple[int, Any]] = []
        finished = anyio.Event()

        def cb(i: int) -> Callable[[BaseException | None], None]:
            return lambda err: calls.append((i, err))

        for i in range(500):  # queued while connecting
            client.write(b"%d," % i, cb(i))

        def on_connect() -> None:
            for i in range(500, 1000):
                client.write(b"%d," % i, cb(i))
            client.end(b"end", lambda err: finished.set())

        client.on("connect", on_connect)
        rec = Rec(client, "close")
        await wait(finished)
        await rec.wait("close")
        assert calls == [(i, None) for i in range(1000)]
        await wait(sink.ended)
        assert sink.data == b"".join(b"%d," % i for i in range(1000)) + b"end"
        server.close()


async def test_write_callback_is_called_later_not_inside_write() -> None:
    async with trionet.open_scope():
        server, sink, port = await sink_server()
        client = trionet.connect(port, "127.0.0.1")
        await Rec(client, "connect").wait("connect")
        calls: list[Any] = []
        client.write(b"x", calls.append)
        assert calls == []
        with anyio.fail_after(5):
            while not calls:
                await anyio.sleep(0.001)
        assert calls == [None]
        client.end()
        await wait(sink.ended)
        server.close()


# -- queueing before connect ------------------------------------------------------------


async def test_writes_before_connect_flushed_in_order_before_connect_handler_write() -> None:
    async with trionet.open_scope():
        server, sink, port = await sink_server()
        client = trionet.connect(port, "127.0.0.1")
        assert client.write("be") is True
        assert client.write(b"fore") is True

        def on_connect() -> None:
            assert client.connecting is False
            client.write(" after")
            client.end()

        client.on("connect", on_connect)
        rec = Rec(client, "close")
        await wait(sink.ended)
        assert sink.data == b"before after"
        await rec.wait("close")
        assert rec.args("close") == [(False,)]
        assert client.bytes_written == len(b"before after")
        server.close()


async def test_connect_listener_registered_before_writes_still_comes_after() -> None:
    async with trionet.open_scope():
        server, sink, port = await sink_server()
        client = trionet.Socket()

        def on_connect() -> None:
            client.write(b" after")
            client.end()

        client.on("connect", on_connect)
        client.connect(port, "127.0.0.1")
        client.write(b"before")
        await wait(sink.ended)
        assert sink.data == b"before after"
        server.close()


# -- counters ---------------------------------------------------------------------------


async def test_buffer_size_and_writable_length_counters() -> None:
    async with trionet.open_scope():
        fresh = trionet.Socket()
        assert fresh.buffer_size is None  # no OS handle
        assert fresh.writable_length == 0
        assert fresh.bytes_written == 0
        server, sink, port = await sink_server()
        client = trionet.connect(port, "127.0.0.1")
        for i in range(1, 6):
            client.write(b"x")
            assert client.buffer_size == i
            assert client.writable_length == i
            assert client.bytes_written == i
        finish_state: list[tuple[Any, ...]] = []
        client.on(
            "finish",
            lambda: finish_state.append(
                (client.buffer_size, client.writable_length, client.bytes_written)
            ),
        )
        client.end()
        rec = Rec(client, "close")
        await rec.wait("close")
        assert finish_state == [(0, 0, 5)]
        assert client.bytes_written == 5  # kept after close
        await wait(sink.ended)
        assert sink.data == b"xxxxx"
        server.close()


async def test_bytes_written_counts_encoded_bytes() -> None:
    async with trionet.open_scope():
        server, sink, port = await sink_server()
        client = trionet.connect(port, "127.0.0.1")
        client.write("one")
        client.write("twø")  # ø is two bytes in UTF-8
        assert client.bytes_written == 7  # counted before connect already (Node I4)
        client.write("€€")
        assert client.bytes_written == 13
        # trionet counts queued *bytes* (Node counts UTF-16 units of a string here).
        assert client.writable_length == 13
        await Rec(client, "connect").wait("connect")
        client.end("ünï", "latin1")
        assert client.bytes_written == 16
        await wait(sink.ended)
        assert sink.data == "onetwø€€".encode() + "ünï".encode("latin1")
        assert client.bytes_written == len(sink.data)
        server.close()


# -- encodings --------------------------------------------------------------------------

ENCODED = [
    ("utf8", "héllo €", "héllo €".encode()),
    ("utf-8", "naïve", "naïve".encode()),
    ("UTF8", "ok", b"ok"),
    ("ascii", "plain", b"plain"),
    ("latin1", "".join(map(chr, range(256))), bytes(range(256))),
    ("binary", "\xff\x00\x80", b"\xff\x00\x80"),
    ("hex", "deadBEEF00", b"\xde\xad\xbe\xef\x00"),
    ("base64", "aGVsbG8gd29ybGQ=", b"hello world"),
    ("utf16le", "h€", "h€".encode("utf-16-le")),
    ("ucs2", "hi", b"h\x00i\x00"),
]


@pytest.mark.parametrize(("encoding", "text", "expected"), ENCODED, ids=[e[0] for e in ENCODED])
async def test_write_str_with_encoding(encoding: str, text: str, expected: bytes) -> None:
    async with trionet.open_scope():
        server, sink, port = await sink_server()
        client = trionet.connect(port, "127.0.0.1")
        calls: list[Any] = []
        assert client.write(text, encoding) is True  # while connecting
        await Rec(client, "connect").wait("connect")
        assert client.write(text, encoding, calls.append) is True  # connected, with a callback
        client.end(text, encoding)
        await wait(sink.ended)
        assert sink.data == expected * 3
        assert client.bytes_written == 3 * len(expected)
        assert calls == [None]
        server.close()


async def test_write_str_default_encoding_is_utf8_and_callback_as_second_argument() -> None:
    async with trionet.open_scope():
        server, sink, port = await sink_server()
        client = trionet.connect(port, "127.0.0.1")
        calls: list[Any] = []
        client.write("€", calls.append)
        client.write(bytearray(b"[ba]"))
        client.write(memoryview(b"[mv]"))
        client.end()
        await wait(sink.ended)
        assert sink.data == b"\xe2\x82\xac[ba][mv]"
        assert calls == [None]
        server.close()


async def test_write_unknown_encoding_raises_at_once() -> None:
    async with trionet.open_scope():
        server, sink, port = await sink_server()
        client = trionet.connect(port, "127.0.0.1")
        with pytest.raises(TypeError) as info:
            client.write("x", "no-such-encoding")
        assert getattr(info.value, "code", None) == "ERR_UNKNOWN_ENCODING"
        client.end()
        await wait(sink.ended)
        assert sink.data == b""
        server.close()


# -- argument errors --------------------------------------------------------------------

BAD_CHUNKS: list[tuple[object, str]] = [
    (1, "type number (1)"),
    (1.5, "type number (1.5)"),
    (True, "type boolean (True)"),
    ({}, "an instance of dict"),
    ([], "an instance of list"),
    (object(), "an instance of object"),
]


async def test_write_bad_chunk_type_raises_invalid_arg_type_at_once() -> None:
    async with trionet.open_scope():
        server, sink, port = await sink_server()
        client = trionet.connect(port, "127.0.0.1")
        rec = Rec(client, "error", "close")
        for chunk, received in BAD_CHUNKS:
            with pytest.raises(TypeError) as info:
                client.write(chunk)
            err = info.value
            assert getattr(err, "code", None) == "ERR_INVALID_ARG_TYPE"
            assert str(err) == (
                'The "chunk" argument must be of type string or an instance of '
                f"bytes, bytearray, or memoryview. Received {received}"
            )
        await Rec(client, "connect").wait("connect")
        with pytest.raises(TypeError):
            client.write(42)  # connected: the same
        assert client.bytes_written == 0
        # No 'error' event, and the socket stays usable.
        assert client.write(b"fine") is True
        client.end()
        await rec.wait("close")
        assert rec.names() == ["close"]
        assert rec.args("close") == [(False,)]
        await wait(sink.ended)
        assert sink.data == b"fine"
        server.close()


async def test_write_none_raises_stream_null_values() -> None:
    async with trionet.open_scope():
        fresh = trionet.Socket()
        with pytest.raises(TypeError) as info:
            fresh.write(None)
        assert getattr(info.value, "code", None) == "ERR_STREAM_NULL_VALUES"
        assert str(info.value) == "May not write null values to stream"
        server, sink, port = await sink_server()
        client = trionet.connect(port, "127.0.0.1")
        rec = Rec(client, "error", "close")
        with pytest.raises(TypeError) as info:
            client.write(None)
        assert getattr(info.value, "code", None) == "ERR_STREAM_NULL_VALUES"
        client.end(b"ok")
        await rec.wait("close")
        assert rec.names() == ["close"]
        await wait(sink.ended)
        assert sink.data == b"ok"
        server.close()


async def test_write_bad_callback_raises_invalid_arg_type() -> None:
    async with trionet.open_scope():
        server, sink, port = await sink_server()
        client = trionet.connect(port, "127.0.0.1")
        with pytest.raises(TypeError) as info:
            client.write(b"x", "utf8", 123)  # type: ignore[arg-type]
        assert getattr(info.value, "code", None) == "ERR_INVALID_ARG_TYPE"
        client.end()
        await wait(sink.ended)
        server.close()


# -- write after end / destroy ----------------------------------------------------------


@pytest.mark.parametrize("when", ["connecting", "connected"])
async def test_write_after_end_errors_and_closes_with_error(when: str) -> None:
    async with trionet.open_scope():
        server, _sink, port = await sink_server()
        client = trionet.connect(port, "127.0.0.1")
        rec = Rec(client, "connect", "error", "close")
        if when == "connected":
            await rec.wait("connect")
        client.end()
        assert client.writable_ended is True
        order: list[Any] = []
        client.on("error", lambda err: order.append(("error", err)))
        client.on("close", lambda had_error: order.append(("close", had_error)))
        result = client.write(b"late", lambda err: order.append(("cb", err)))
        assert result is False
        assert order == []  # nothing inside write(): callback and 'error' come later
        await rec.wait("close")
        assert [entry[0] for entry in order] == ["cb", "error", "close"]
        err = order[0][1]
        assert isinstance(err, trionet.NodeError)
        assert err.code == "ERR_STREAM_WRITE_AFTER_END"
        assert str(err) == "write after end"
        assert order[1][1] is err
        assert order[2] == ("close", True)
        assert client.destroyed is True
        assert rec.args("error") == [(err,)]
        server.close()


async def test_write_after_destroy_calls_back_with_stream_destroyed_and_no_error() -> None:
    async with trionet.open_scope():
        server, sink, port = await sink_server()
        client = trionet.connect(port, "127.0.0.1")
        rec = Rec(client, "connect", "error", "close")
        await rec.wait("connect")
        assert client.destroy() is client
        calls: list[Any] = []
        assert client.write(b"late", calls.append) is False
        assert calls == []
        await rec.wait("close")
        with anyio.fail_after(5):
            while not calls:
                await anyio.sleep(0.001)
        assert len(calls) == 1
        err = calls[0]
        assert getattr(err, "code", None) == "ERR_STREAM_DESTROYED"
        assert str(err) == "Cannot call write after a stream was destroyed"
        assert rec.names() == ["connect", "close"]
        assert rec.args("close") == [(False,)]
        await wait(sink.closed)
        server.close()


async def test_write_while_connecting_then_destroy_fails_the_callback() -> None:
    async with trionet.open_scope():
        server, sink, port = await sink_server()
        client = trionet.connect(port, "127.0.0.1")
        rec = Rec(client, "connect", "error", "close")
        calls: list[Any] = []
        assert client.write(b"never", calls.append) is True
        client.destroy()
        assert client.destroyed is True
        await rec.wait("close")
        await anyio.sleep(0.05)  # 'connect' would have arrived by now
        assert len(calls) == 1
        err = calls[0]
        assert getattr(err, "code", None) == "ERR_SOCKET_CLOSED_BEFORE_CONNECTION"
        assert str(err) == "Socket closed before the connection was established"
        assert "connect" not in rec.names()
        assert "error" not in rec.names()
        assert sink.data == b""
        server.close()


# -- a big transfer with a slow reader --------------------------------------------------


@pytest.mark.bound(60)
async def test_8_mib_to_a_slow_paused_reader_arrives_intact() -> None:
    size = 8 * 1024 * 1024
    payload = hashlib.shake_256(b"trionet").digest(size)
    digest = hashlib.sha256(payload).hexdigest()
    async with trionet.open_scope():
        received = hashlib.sha256()
        counts = {"bytes": 0, "chunks": 0, "pauses": 0}
        ended = anyio.Event()

        def on_connection(sock: trionet.Socket) -> None:
            sock.pause()  # start paused: the writer has to queue

            def on_data(chunk: bytes) -> None:
                received.update(chunk)
                counts["bytes"] += len(chunk)
                counts["chunks"] += 1
                if counts["chunks"] % 16 == 0:  # a slow reader: stop for a while now and then
                    counts["pauses"] += 1
                    sock.pause()
                    current.call_soon(restart, sock)

            sock.on("data", on_data)
            sock.on("end", ended.set)
            current.call_soon(restart, sock)

        def restart(sock: trionet.Socket) -> None:
            async def later() -> None:
                await anyio.sleep(0.005)
                sock.resume()

            current.spawn(later)

        current = trionet.current_scope()
        server = trionet.create_server(on_connection)
        port = await listening(server)
        client = trionet.connect(port, "127.0.0.1")
        rec = Rec(client, "drain", "finish", "close", "error")
        callbacks: list[Any] = []
        assert client.write(payload, callbacks.append) is False  # one 8 MiB write, while connecting
        assert client.writable_length == size
        client.end()
        await wait(ended, 45)
        await rec.wait("close", 10)
        assert counts["bytes"] == size
        assert received.hexdigest() == digest
        assert counts["pauses"] >= 1
        assert callbacks == [None]
        assert client.bytes_written == size
        assert rec.names() == ["finish", "close"]  # no 'drain' once end() was called (Node)
        server.close()
