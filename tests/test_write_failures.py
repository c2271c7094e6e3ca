"""Writes that fail: a peer that resets while (or before) this side writes, and end() after it.

Every peer here is a plain stdlib socket on loopback, so that its FIN and RST go out at
a known point: ``close()`` with ``SO_LINGER {1, 0}`` sends the RST before it returns.
Node reference: node-net-behaviour.md M7-M9 (a peer that goes away while this side
writes), E4 and 3.3 (EPIPE after the peer's FIN), H7/H16 (callbacks), 3.8 (messages).
The expected events were taken from Node v20 running the same scenarios (the script
of each is summed up in the test's docstring).

Where Python differs from Node: ``errno`` is positive (Node: -104), ``had_error`` is a bool.
"""

from __future__ import annotations

import errno
import hashlib
import socket
import struct
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from anyio.abc import SocketAttribute

import trionet
from tests.support import Rec, listening

pytestmark = pytest.mark.anyio

CHUNK = bytes(range(256)) * 256  # 64 KiB
#: A guard for the write loops: 32 MiB, far more than loopback's buffers take (a few MiB).
MAX_WRITES = 512
_TCP_CLOSE = 7  # tcpi_state of a socket that got an RST (linux/tcp_states.h)


# -- helpers ------------------------------------------------------------------------


class Accepted:
    """A server's 'connection' listener: keeps each socket, with a recorder made at once."""

    def __init__(self, *names: str, then: Callable[[trionet.Socket], object] | None = None):
        self.names = names or ("drain", "end", "finish", "error", "close")
        self.then = then
        self.sockets: list[trionet.Socket] = []
        self.recs: list[Rec] = []
        self._arrived = anyio.Event()

    def __call__(self, sock: trionet.Socket) -> None:
        self.sockets.append(sock)
        self.recs.append(Rec(sock, *self.names))
        self._arrived.set()
        if self.then is not None:
            self.then(sock)

    async def first(self) -> tuple[trionet.Socket, Rec]:
        with anyio.fail_after(5):
            await self._arrived.wait()
        return self.sockets[0], self.recs[0]


def raw_connect(port: int) -> socket.socket:
    """A plain peer (loopback connects at once); non-blocking afterwards."""
    raw = socket.create_connection(("127.0.0.1", port))
    raw.setblocking(False)
    return raw


def reset(raw: socket.socket) -> None:
    """Close with an RST (SO_LINGER {1, 0}); on loopback it has arrived when this returns."""
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    raw.close()


def tcp_state(sock: trionet.Socket) -> int:
    raw = sock.extra(SocketAttribute.raw_socket)
    return int(raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0])


async def until_reset_seen(sock: trionet.Socket) -> None:
    """Wait until the kernel has taken the peer's RST for ``sock`` (without reading its error)."""
    with anyio.fail_after(5):
        while tcp_state(sock) != _TCP_CLOSE:
            await anyio.sleep(0.001)


async def read_raw_until(raw: socket.socket, done: Callable[[], bool]) -> bytes:
    """Read a non-blocking plain socket until ``done()`` (checked between reads)."""
    got = bytearray()
    with anyio.fail_after(10):
        while not done():
            await anyio.wait_readable(raw)
            try:
                data = raw.recv(1 << 20)
            except BlockingIOError:
                continue
            assert data, "the peer closed early"
            got += data
    return bytes(got)


async def serve_one() -> tuple[trionet.Server, socket.socket, trionet.Socket, Rec]:
    """A server, a raw peer connected to it, and the accepted socket with its recorder."""
    accepted = Accepted()
    server = trionet.create_server(accepted)
    raw = raw_connect(await listening(server))
    sock, rec = await accepted.first()
    return server, raw, sock, rec


def write_until_false(
    sock: trionet.Socket, make: Callable[[str], Callable[..., None]]
) -> list[bool]:
    """``while sock.write(chunk, cb)``, bounded: every result, up to the first False."""
    results: list[bool] = []
    for i in range(MAX_WRITES):
        results.append(sock.write(CHUNK, make(f"w{i}")))
        if not results[-1]:
            break
    return results


def callback_log() -> tuple[list[tuple[Any, ...]], Callable[[str], Callable[..., None]]]:
    """A list of ``(name, *args)`` and a maker of callbacks that append to it."""
    log: list[tuple[Any, ...]] = []

    def make(name: str) -> Callable[..., None]:
        def callback(*args: Any) -> None:
            log.append((name, *args))

        return callback

    return log, make


def assert_read_econnreset(err: BaseException) -> None:
    assert isinstance(err, ConnectionResetError)
    assert err.code == "ECONNRESET"  # type: ignore[attr-defined]
    assert err.syscall == "read"  # type: ignore[attr-defined]
    assert err.errno == errno.ECONNRESET
    assert str(err) == "read ECONNRESET"


# -- 1. a write loop, and a peer that resets -------------------------------------------


async def test_write_loop_stops_and_a_reset_while_blocked_errors_once() -> None:
    """``while sock.write(chunk)`` against a peer that does not read, then resets.

    Node v20 (same scenario): the loop ends with write() false once the buffers are full;
    the RST is seen by the read side: 'error' ``read ECONNRESET`` then 'close'(true). The
    writes the kernel took get null; a write queued behind them gets the error.
    """
    async with trionet.open_scope():
        server, raw, sock, rec = await serve_one()
        log, make = callback_log()
        results = write_until_false(sock, make)
        assert results[-1] is False, "the write loop never stopped"
        assert sock.write(CHUNK, make("after false")) is False  # still over the mark
        await anyio.sleep(0.05)  # nothing reads: whatever the kernel takes, it is full
        assert rec.names() == []
        assert sock.writable_length > 0  # so no 'drain' can be on its way ...
        reset(raw)  # ... when the RST arrives (no checkpoint in between)
        await rec.wait("close")
        with anyio.fail_after(5):  # every write callback, exactly once
            while len(log) < len(results) + 1:
                await anyio.sleep(0.001)
        await anyio.sleep(0.05)  # (nothing more comes)
        assert rec.names() == ["error", "close"]
        (err,) = rec.args("error")[0]
        assert_read_econnreset(err)
        assert rec.args("close") == [(True,)]
        names = [entry[0] for entry in log]
        assert sorted(names) == sorted([f"w{i}" for i in range(len(results))] + ["after false"])
        outcomes = [entry[1:] for entry in log]
        assert all(len(args) == 1 for args in outcomes)
        by_name = {entry[0]: entry[1] for entry in log}
        # the writes the kernel took: None; from the first that was queued on: the error
        in_order = [by_name[f"w{i}"] for i in range(len(results))] + [by_name["after false"]]
        first_failed = in_order.index(err)
        assert all(arg is None for arg in in_order[:first_failed])
        assert all(arg is err for arg in in_order[first_failed:])
        assert by_name[f"w{len(results) - 1}"] is err  # the one that returned False
        assert by_name["after false"] is err
        # afterwards: write() is False at once, its callback fails, no second 'error' (H16)
        late: list[Any] = []
        assert sock.write(CHUNK, late.append) is False
        with anyio.fail_after(5):
            while not late:
                await anyio.sleep(0.001)
        assert late[0].code == "ERR_STREAM_DESTROYED"
        assert str(late[0]) == "Cannot call write after a stream was destroyed"
        await anyio.sleep(0.02)
        assert rec.names() == ["error", "close"]
        server.close()


async def test_drain_driven_pump_stops_when_the_peer_resets() -> None:
    """benchmarks/server.py's ``source``: write until false, again on each 'drain'.

    The peer reads until two 'drain's have come, stops reading, then resets. The pump is not
    run again; 'error' ``read ECONNRESET`` then 'close'(true), once each (Node M7/M8).
    """
    async with trionet.open_scope():
        state: dict[str, Any] = {"open": True, "pumps": 0, "writes": 0, "last": None}
        after_close: list[str] = []

        def source(sock: trionet.Socket) -> None:
            def pump() -> None:
                if not state["open"]:
                    after_close.append("pump")
                state["pumps"] += 1
                ok = True
                while state["open"] and state["writes"] < MAX_WRITES:
                    state["writes"] += 1
                    ok = sock.write(CHUNK)
                    if not ok:
                        break
                state["last"] = ok

            def on_close(had_error: bool) -> None:
                state["open"] = False

            sock.on("drain", pump)
            sock.on("close", on_close)
            pump()

        accepted = Accepted("drain", "end", "finish", "error", "close", then=source)
        server = trionet.create_server(accepted)
        port = await listening(server)
        raw = raw_connect(port)
        sock, rec = await accepted.first()
        # read until the pump has run again on two 'drain's, then stop reading
        data = await read_raw_until(raw, lambda: rec.names().count("drain") >= 2)
        assert data == (CHUNK * (len(data) // len(CHUNK) + 1))[: len(data)]  # in order
        with anyio.fail_after(5):  # the pump is stopped on a full queue, not half way
            while not (state["last"] is False and sock.writable_length > 0):
                await anyio.sleep(0.001)
        assert state["writes"] < MAX_WRITES
        assert state["pumps"] >= 3  # the first call, then one per 'drain'
        drains = rec.names().count("drain")
        assert drains == state["pumps"] - 1
        writes_before = state["writes"]
        reset(raw)
        await rec.wait("close")
        await anyio.sleep(0.05)
        assert rec.names() == ["drain"] * drains + ["error", "close"]
        (err,) = rec.args("error")[0]
        assert_read_econnreset(err)
        assert rec.args("close") == [(True,)]
        assert state["writes"] == writes_before  # no write after the RST
        assert after_close == []
        assert sock.write(CHUNK) is False
        server.close()


async def _paused_and_reset(port: int, accepted: Accepted) -> tuple[trionet.Socket, Rec]:
    """A connection whose server side stopped reading, then the peer's RST (not yet read)."""
    raw = raw_connect(port)
    sock, rec = await accepted.first()
    first = anyio.Event()

    def on_data(data: bytes) -> None:
        sock.pause()  # (after a first read: uvloop ignores a pause before reading starts)
        first.set()

    sock.once("data", on_data)
    raw.send(b"x")
    with anyio.fail_after(5):
        await first.wait()
    reset(raw)
    await until_reset_seen(sock)
    return sock, rec


async def test_write_loop_into_an_already_reset_peer_stops_at_once() -> None:
    """The RST has arrived but is unread (reading paused): the first write finds it.

    Node v20 (``pauseOnConnect``): the loop stops at the first write; 'error' then
    'close'(true), once each; every write and end() callback is called once, with an error.
    """
    async with trionet.open_scope():
        accepted = Accepted()
        server = trionet.create_server(accepted)
        port = await listening(server)
        sock, rec = await _paused_and_reset(port, accepted)
        assert rec.names() == []  # the reset is not known yet
        log, make = callback_log()
        results = write_until_false(sock, make)
        assert len(results) == 1  # Node: the first write finds the reset
        assert results[-1] is False
        sock.end(make("end"))
        await rec.wait("close")
        with anyio.fail_after(5):
            while len(log) < len(results) + 1:
                await anyio.sleep(0.001)
        await anyio.sleep(0.05)
        assert rec.names() == ["error", "close"]
        (err,) = rec.args("error")[0]
        assert isinstance(err, ConnectionResetError)
        assert err.code == "ECONNRESET"  # type: ignore[attr-defined]
        assert rec.args("close") == [(True,)]
        assert sorted(entry[0] for entry in log) == sorted(
            [f"w{i}" for i in range(len(results))] + ["end"]
        )
        assert all(len(entry) == 2 for entry in log)
        assert [isinstance(args[0], Exception) for name, *args in log if name == "end"] == [True]
        server.close()


async def test_a_write_that_finds_the_reset_is_write_econnreset() -> None:
    """Node v20 (``pauseOnConnect``, the peer resets, then ``write``):
    ``error ECONNRESET syscall 'write' "write ECONNRESET"``, then 'close'(true)."""
    async with trionet.open_scope():
        accepted = Accepted()
        server = trionet.create_server(accepted)
        port = await listening(server)
        sock, rec = await _paused_and_reset(port, accepted)
        sock.write(CHUNK)
        await rec.wait("close")
        server.close()
    (err,) = rec.args("error")[0]
    assert isinstance(err, ConnectionResetError)
    assert err.code == "ECONNRESET"  # type: ignore[attr-defined]
    assert err.syscall == "write"  # type: ignore[attr-defined]
    assert str(err) == "write ECONNRESET"


async def test_the_write_that_fails_returns_false_and_its_callback_gets_the_error() -> None:
    """Node v20: the write that finds the reset returns false and its callback (like every
    later write's and end()'s) gets the error that 'error' carries."""
    async with trionet.open_scope():
        accepted = Accepted()
        server = trionet.create_server(accepted)
        port = await listening(server)
        sock, rec = await _paused_and_reset(port, accepted)
        log, make = callback_log()
        first = sock.write(CHUNK, make("w0"))
        second = sock.write(CHUNK, make("w1"))
        sock.end(make("end"))
        await rec.wait("close")
        await anyio.sleep(0.02)
        server.close()
    assert (first, second) == (False, False)
    (err,) = rec.args("error")[0]
    assert log == [("w0", err), ("w1", err), ("end", err)]
    assert rec.names() == ["error", "close"]


# -- 2. writing inside the 'connection' listener -------------------------------------------


@pytest.mark.bound(60)
async def test_connection_listener_writes_16_mib_before_returning() -> None:
    """The 'connection' listener writes far more than the kernel takes, then returns.

    write() turns false once the queue is over the mark (and stays false); every byte
    arrives in order at a slow reader; 'drain' comes once, after the client has read.
    """
    count = 256
    chunks = [hashlib.shake_256(i.to_bytes(4, "big")).digest(len(CHUNK)) for i in range(count)]
    digest = hashlib.sha256(b"".join(chunks)).hexdigest()
    results: list[bool] = []
    at_drain: list[tuple[int, int]] = []
    async with trionet.open_scope():
        scope = trionet.current_scope()
        client_box: list[trionet.Socket] = []

        def on_connection(sock: trionet.Socket) -> None:
            for chunk in chunks:
                results.append(sock.write(chunk))

            def on_drain() -> None:
                client = client_box[0]
                at_drain.append((client.bytes_read, sock.writable_length))
                sock.end()

            sock.on("drain", on_drain)

        accepted = Accepted(then=on_connection)
        server = trionet.create_server(accepted)
        port = await listening(server)
        client = trionet.connect(port, "127.0.0.1")
        client_box.append(client)
        client.pause()
        received = hashlib.sha256()
        size = {"bytes": 0, "chunks": 0}
        ended = anyio.Event()

        def restart() -> None:
            async def later() -> None:
                await anyio.sleep(0.002)
                client.resume()

            scope.spawn(later)

        def on_data(data: bytes) -> None:
            received.update(data)
            size["bytes"] += len(data)
            size["chunks"] += 1
            if size["chunks"] % 8 == 0:  # a slow reader
                client.pause()
                scope.call_soon(restart)

        client.on("data", on_data)
        client.on("end", ended.set)
        sock, rec = await accepted.first()
        await anyio.sleep(0.1)  # the client does not read yet: no 'drain'
        assert rec.names() == []
        assert sock.writable_length > 0
        client.resume()
        with anyio.fail_after(45):
            await ended.wait()
        await rec.wait("close", 10)
        server.close()
    assert False in results
    first_false = results.index(False)
    assert results == [True] * first_false + [False] * (count - first_false)
    assert size["bytes"] == count * len(CHUNK)
    assert received.hexdigest() == digest
    assert rec.names() == ["drain", "finish", "end", "close"]  # one 'drain'
    assert len(at_drain) == 1
    read_at_drain, queued_at_drain = at_drain[0]
    assert read_at_drain > 0  # 'drain' came once the client read
    assert queued_at_drain == 0
    assert rec.args("close") == [(False,)]


# -- 3. end() when the peer has gone ----------------------------------------------------


def _fin_then_reset(raw: socket.socket) -> None:
    raw.shutdown(socket.SHUT_WR)
    reset(raw)


async def test_peer_fin_then_reset_the_automatic_end_closes_cleanly() -> None:
    """The peer sends FIN then RST before this side reacts (shutdown() answers ENOTCONN).

    Node v20: 'end', 'finish', 'close'(false); nothing raised from the scope."""
    async with trionet.open_scope():
        server, raw, sock, rec = await serve_one()
        sock.resume()
        _fin_then_reset(raw)
        await rec.wait("close")
        await anyio.sleep(0.05)
        server.close()
    assert rec.names() == ["end", "finish", "close"]
    assert rec.args("close") == [(False,)]


async def test_half_open_end_after_peer_fin_then_reset_closes_cleanly() -> None:
    """allow_half_open: end(cb) in 'end' after the peer's FIN and RST.

    Node v20: 'end', the end() callback with null, 'finish', 'close'(false)."""
    log, make = callback_log()
    async with trionet.open_scope():

        def on_connection(sock: trionet.Socket) -> None:
            sock.on("end", lambda: sock.end(make("end cb")))
            sock.resume()

        accepted = Accepted(then=on_connection)
        server = trionet.create_server(accepted, allow_half_open=True)
        port = await listening(server)
        raw = raw_connect(port)
        sock, rec = await accepted.first()
        sock.on("finish", lambda: log.append(("finish",)))
        _fin_then_reset(raw)
        await rec.wait("close")
        await anyio.sleep(0.05)
        server.close()
    assert rec.names() == ["end", "finish", "close"]
    assert log == [("end cb", None), ("finish",)]
    assert rec.args("close") == [(False,)]


async def test_half_open_write_and_end_after_peer_fin_then_reset_is_write_epipe() -> None:
    """allow_half_open: a reply and end(cb) in 'end' after the peer's FIN and RST.

    Node v20: write() false; its callback and end()'s get ``write EPIPE``; 'error'
    ``EPIPE`` (syscall 'write', "write EPIPE"), then 'close'(true)."""
    log, make = callback_log()
    results: list[bool] = []
    async with trionet.open_scope():

        def on_connection(sock: trionet.Socket) -> None:
            def on_end() -> None:
                results.append(sock.write(b"reply", make("write cb")))
                sock.end(make("end cb"))

            sock.on("end", on_end)
            sock.resume()

        accepted = Accepted(then=on_connection)
        server = trionet.create_server(accepted, allow_half_open=True)
        port = await listening(server)
        raw = raw_connect(port)
        _sock, rec = await accepted.first()
        _fin_then_reset(raw)
        await rec.wait("close")
        await anyio.sleep(0.05)
        server.close()
    assert rec.names() == ["end", "error", "close"]
    (err,) = rec.args("error")[0]
    assert isinstance(err, BrokenPipeError)
    assert err.code == "EPIPE"  # type: ignore[attr-defined]
    assert err.syscall == "write"  # type: ignore[attr-defined]
    assert str(err) == "write EPIPE"
    assert results == [False]
    assert log == [("write cb", err), ("end cb", err)]
    assert rec.args("close") == [(True,)]


async def test_end_after_an_unread_reset_finishes_then_resume_errors() -> None:
    """Reading paused, the peer resets, then ``end(cb)``: shutdown() answers ENOTCONN.

    Node v20 (``pauseOnConnect``): the end() callback with null, 'finish'; nothing more
    until ``resume()``, then 'error' ``read ECONNRESET`` and 'close'(true)."""
    log, make = callback_log()
    async with trionet.open_scope():
        accepted = Accepted()
        server = trionet.create_server(accepted)
        port = await listening(server)
        sock, rec = await _paused_and_reset(port, accepted)
        sock.end(make("end cb"))
        await rec.wait("finish")
        await anyio.sleep(0.05)
        assert rec.names() == ["finish"]
        assert log == [("end cb", None)]
        sock.resume()
        await rec.wait("close")
        await anyio.sleep(0.02)
        server.close()
    assert rec.names() == ["finish", "error", "close"]
    (err,) = rec.args("error")[0]
    assert_read_econnreset(err)
    assert rec.args("close") == [(True,)]
    assert log == [("end cb", None)]


async def _end_in_drain_after_reset(size: int) -> tuple[Rec, list[tuple[Any, ...]]]:
    """One connection: a write of ``size`` bytes blocks; in its 'drain' listener the peer
    resets (its RST has arrived when ``reset`` returns), then ``end(cb)`` is called."""
    log, make = callback_log()
    raw_box: list[socket.socket] = []
    stop_reading = {"now": False}

    def on_connection(sock: trionet.Socket) -> None:
        def on_drain() -> None:
            stop_reading["now"] = True
            anyio.notify_closing(raw_box[0])  # (the test task may be waiting for it)
            reset(raw_box[0])
            sock.end(make("end cb"))
            log.append(("end called",))

        sock.on("drain", on_drain)
        sock.on("finish", lambda: log.append(("finish",)))
        log.append(("write", sock.write(b"\1" * size)))

    async with trionet.open_scope():
        accepted = Accepted(then=on_connection)
        server = trionet.create_server(accepted)
        port = await listening(server)
        raw_box.append(raw_connect(port))
        _sock, rec = await accepted.first()
        assert log == [("write", False)]  # it blocked: a 'drain' is to come
        raw = raw_box[0]
        with anyio.fail_after(10):  # read until the server's 'drain' resets this socket
            while not stop_reading["now"]:
                try:
                    await anyio.wait_readable(raw)
                except anyio.ClosedResourceError:
                    break
                if stop_reading["now"]:
                    break
                try:
                    raw.recv(1 << 20)
                except BlockingIOError:
                    pass
        await rec.wait("close")
        await anyio.sleep(0.02)
        server.close()
    return rec, log


async def test_end_in_drain_after_the_peer_reset_closes_with_the_read_error() -> None:
    """'drain' listener: the peer resets, then ``end(cb)``.

    On asyncio the shutdown is put off to after asyncio's own write bookkeeping, where it
    answers ENOTCONN. Node v20 (same scenario): 'drain', end() callback null, 'finish',
    'error' ``read ECONNRESET``, 'close'(true). Nothing is raised from the scope.
    """
    rec, log = await _end_in_drain_after_reset(8 << 20)
    (err,) = rec.args("error")[0]
    assert_read_econnreset(err)
    assert rec.args("close") == [(True,)]
    assert rec.names() == ["drain", "finish", "error", "close"]
    assert log == [("write", False), ("end called",), ("end cb", None), ("finish",)]


async def test_end_in_drain_after_the_peer_reset_events_in_nodes_order() -> None:
    """The same, 20 times: Node's order every time (its nextTick queue runs before I/O)."""
    for _ in range(20):
        rec, _log = await _end_in_drain_after_reset(8 << 20)
        assert rec.names() == ["drain", "finish", "error", "close"]


# -- 4. write(cb) and end(cb) while the peer resets -----------------------------------------


async def test_write_and_end_callbacks_once_each_when_the_peer_resets() -> None:
    """Queued ``write(cb)`` then ``end(cb)``; the peer resets before anything flushes.

    Node v20: 'error' ``read ECONNRESET``; the write and end() callbacks get that
    error, once each; no 'finish'; 'close'(true)."""
    async with trionet.open_scope():
        server, raw, sock, rec = await serve_one()
        log, make = callback_log()
        writes = 0
        while sock.write(CHUNK) and writes < MAX_WRITES:
            writes += 1
        assert writes < MAX_WRITES
        assert sock.write(CHUNK, make("write cb")) is False
        sock.end(make("end cb"))
        assert sock.writable_ended is True
        await anyio.sleep(0.05)
        assert rec.names() == []
        assert sock.writable_length > 0
        reset(raw)
        await rec.wait("close")
        await anyio.sleep(0.05)
        server.close()
    assert rec.names() == ["error", "close"]
    (err,) = rec.args("error")[0]
    assert_read_econnreset(err)
    assert log == [("write cb", err), ("end cb", err)]
    assert rec.args("close") == [(True,)]
