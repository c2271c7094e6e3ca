"""Regression tests for bugs found by review: write callbacks called once when one of
them destroys the socket, the first 'data' listener restarting a paused reader, and
TCP_NODELAY of inherited descriptors on asyncio. Real sockets, every engine."""

from __future__ import annotations

import socket
from typing import Any

import anyio
import pytest

import trionet
from tests.support import closed, listening

pytestmark = pytest.mark.anyio


async def _wait(event: anyio.Event, timeout: float = 5) -> None:
    with anyio.fail_after(timeout):
        await event.wait()


async def test_write_callback_once_when_an_earlier_callback_destroys() -> None:
    """Node H7: every write callback is called exactly once.

    Two writes wait in the engine's queue with callbacks; when the queue drains,
    resume_writing() pops them from ``_write_cbs``. The first destroys the socket:
    destroy() swapped ``_write_cbs`` to None and schedules the rest with an error,
    but leaves the deque it took untouched, so resume_writing's loop goes on popping
    from it and calls the second callback again (with None)."""
    async with trionet.open_scope():
        accepted: list[trionet.Socket] = []
        got = anyio.Event()
        server = trionet.create_server(pause_on_connect=True)

        def on_connection(conn: trionet.Socket) -> None:
            accepted.append(conn)
            conn.on("error", lambda err: None)
            got.set()

        server.on("connection", on_connection)
        port = await listening(server)
        client = trionet.create_connection(port, "127.0.0.1")
        client.on("error", lambda err: None)
        await trionet.once(client, "connect")
        await _wait(got)
        calls: dict[str, list[Any]] = {"first": [], "second": []}

        def first(err: Any) -> None:
            calls["first"].append(err)
            client.destroy()

        assert client.write(b"x" * (8 << 20), first) is False  # the kernel cannot take it all
        client.write(b"y", lambda err: calls["second"].append(err))
        accepted[0].on("data", lambda data: None)  # drain: the client's queue empties
        accepted[0].resume()
        await closed(client, timeout=10)
        await anyio.sleep(0.05)  # (ticks)
        server.close()
        accepted[0].destroy()
        assert calls["first"] == [None]
        assert len(calls["second"]) == 1, calls["second"]


async def test_data_listener_resumes_a_reader_paused_at_high_water_mark_zero() -> None:
    """resume() without a tick for a fresh socket skips _flow(), and so the
    transport.resume_reading() at its end: a socket whose reading was paused
    (high_water_mark=0: every buffered read pauses it; receive() does not resume it
    below 0) stays paused when its first 'data' listener is added."""
    async with trionet.open_scope():
        accepted: list[trionet.Socket] = []
        got = anyio.Event()

        def on_connection(conn: trionet.Socket) -> None:
            accepted.append(conn)
            conn.write(b"a")
            got.set()

        server = trionet.create_server(on_connection)
        port = await listening(server)
        client = trionet.Socket(high_water_mark=0)
        client.connect(port, "127.0.0.1")
        with anyio.fail_after(5):
            assert await client.receive() == b"a"
        await _wait(got)
        accepted[0].write(b"b")
        await anyio.sleep(0.1)  # (b is in the client's kernel buffer)
        data: list[bytes] = []
        seen = anyio.Event()

        def on_data(chunk: bytes) -> None:
            data.append(chunk)
            seen.set()

        client.on("data", on_data)
        try:
            with anyio.move_on_after(2):
                await seen.wait()
        finally:
            client.destroy()
            accepted[0].destroy()
            server.close()
        assert data == [b"b"]


def _nodelay(s: trionet.Socket) -> int:
    transport = s._transport
    assert transport is not None
    return int(transport.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0)


async def test_no_delay_of_an_inherited_descriptor_as_asked() -> None:
    """L13/L3: Nagle stays as it was unless asked; set_no_delay(False) leaves it off.

    asyncio's selector transport turns TCP_NODELAY on for a socket whose proto is
    IPPROTO_TCP, which is what socket.socket(fileno=fd) reads from an inherited
    descriptor. AsyncioTransport says ``no_delay = False`` (only uvloop was thought
    to change it), so _sync_no_delay at the hand-over believes there is nothing to
    do: the socket ends up with TCP_NODELAY on, even after set_no_delay(False)."""
    async with trionet.open_scope():
        server = trionet.create_server(lambda conn: conn.on("error", lambda err: None))
        port = await listening(server)
        raw_plain = socket.create_connection(("127.0.0.1", port))
        raw_off = socket.create_connection(("127.0.0.1", port))
        plain = trionet.Socket(fd=raw_plain.detach())  # never asked: left as it was (off)
        off = trionet.Socket(fd=raw_off.detach())
        off.set_no_delay(False)  # asked off
        await anyio.sleep(0.1)  # (the engine has adopted both)
        try:
            assert (_nodelay(plain), _nodelay(off)) == (0, 0)
        finally:
            plain.destroy()
            off.destroy()
            server.close()


async def test_no_delay_off_by_default_on_a_server_listening_on_a_descriptor() -> None:
    """L13: accepted sockets have Nagle on unless createServer({noDelay}) asked.

    A server listening on an inherited descriptor (listen(fd=...)) accepts sockets
    whose proto is IPPROTO_TCP: asyncio turns TCP_NODELAY on for each, and
    AsyncioTransport (no_delay = False) hides it from _sync_no_delay."""
    async with trionet.open_scope():
        accepted: list[trionet.Socket] = []
        got = anyio.Event()

        def on_connection(conn: trionet.Socket) -> None:
            accepted.append(conn)
            got.set()

        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.bind(("127.0.0.1", 0))
        port = raw.getsockname()[1]
        server = trionet.create_server(on_connection)
        server.listen(fd=raw.detach())
        with anyio.fail_after(5):
            await trionet.once(server, "listening")
        client = trionet.create_connection(port, "127.0.0.1")
        await _wait(got)
        try:
            assert _nodelay(accepted[0]) == 0
        finally:
            client.destroy()
            accepted[0].destroy()
            server.close()
