"""Socket behaviours found in review: each test failed before its fix."""

from __future__ import annotations

import socket as _socket
from typing import Any

import anyio
import pytest

import trionet
from tests.support import listening

pytestmark = pytest.mark.anyio


def _dead_port() -> int:
    probe = _socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = int(probe.getsockname()[1])
    probe.close()
    return port


async def test_data_arriving_while_an_async_listener_runs_is_still_delivered() -> None:
    """A 'data' listener plus a slow async listener of an earlier event: no stall, 'end' follows."""
    log: list[Any] = []
    async with trionet.open_scope():
        server = trionet.create_server(lambda conn: conn.end(b"hello"))
        port = await listening(server)
        client = trionet.connect(port, "127.0.0.1")

        async def slow_attempt(ip: str, port: int, family: int) -> None:
            await anyio.sleep(0.2)

        client.on("connectionAttempt", slow_attempt)
        client.on("data", lambda data: log.append(("data", data)))
        client.on("end", lambda: log.append("end"))
        with anyio.fail_after(5):
            await trionet.once(client, "close")
        server.close()
    assert log == [("data", b"hello"), "end"]


async def test_end_callbacks_get_err_stream_destroyed_on_destroy() -> None:
    log: list[Any] = []
    async with trionet.open_scope():
        server = trionet.create_server(lambda conn: conn.pause())  # the peer never reads
        port = await listening(server)
        client = trionet.connect(port, "127.0.0.1")
        with anyio.fail_after(5):
            await trionet.once(client, "connect")
        while client.write(b"x" * 65536):  # fill the kernel buffers: the FIN cannot go out
            pass
        client.end(b"bye", lambda err: log.append(("end cb", getattr(err, "code", err))))
        client.destroy()
        client.end(lambda err: log.append(("after destroy", getattr(err, "code", err))))
        with anyio.fail_after(5):
            await trionet.once(client, "close")
        server.close()
        for conn in list(server._connections):
            conn.destroy()
    assert sorted(log) == [
        ("after destroy", "ERR_STREAM_DESTROYED"),
        ("end cb", "ERR_STREAM_DESTROYED"),
    ]


async def test_pending_is_true_right_after_destroy() -> None:
    async with trionet.open_scope():
        server = trionet.create_server()
        port = await listening(server)
        client = trionet.connect(port, "127.0.0.1")
        with anyio.fail_after(5):
            await trionet.once(client, "connect")
        assert client.pending is False
        client.destroy()
        assert client.pending is True  # Node: no handle any more, at once
        with anyio.fail_after(5):
            await client.wait_closed()
        server.close()
        for conn in list(server._connections):
            conn.destroy()


async def test_wait_closed_waits_for_close_when_destroyed_while_connecting() -> None:
    log: list[Any] = []
    async with trionet.open_scope():
        client = trionet.connect(_dead_port(), "127.0.0.1")
        client.on("error", lambda err: log.append(("error", err.code)))
        client.on("close", lambda had_error: log.append(("close", had_error)))
        with anyio.fail_after(5):
            await trionet.once(client, "connectionAttemptFailed")
            await client.wait_closed()
        log.append("wait_closed returned")
    assert log == [("error", "ECONNREFUSED"), ("close", True), "wait_closed returned"]


async def test_concurrent_receive_is_busy_not_stranded() -> None:
    async with trionet.open_scope():
        server = trionet.create_server()
        port = await listening(server)
        client = trionet.connect(port, "127.0.0.1")
        results: list[Any] = []

        async def reader() -> None:
            try:
                results.append(await client.receive())
            except anyio.BusyResourceError:
                results.append("busy")

        with anyio.fail_after(5):
            conn = (await trionet.once(server, "connection"))[0]
            async with anyio.create_task_group() as tg:
                tg.start_soon(reader)
                await anyio.sleep(0.05)
                tg.start_soon(reader)
                await anyio.sleep(0.05)
                conn.write(b"x")
        assert results == ["busy", b"x"]
        # a cancelled receive() leaves the socket usable
        with anyio.move_on_after(0.05):
            await client.receive()
        conn.write(b"y")
        with anyio.fail_after(5):
            assert await client.receive() == b"y"
        client.destroy()
        conn.destroy()
        server.close()


async def test_socket_takes_nodes_option_names_as_keywords() -> None:
    async with trionet.open_scope():
        assert trionet.Socket(allowHalfOpen=True).allow_half_open is True
        assert trionet.Socket({"highWaterMark": 10}).writable_high_water_mark == 10
        assert trionet.Socket(highWaterMark=7, unknownOption=1).readable_high_water_mark == 7


class _Boom(Exception):
    pass


async def test_an_error_in_a_delayed_write_callback_ends_the_scope() -> None:
    """A write whose callback waits for the kernel (queued): its exception is not lost."""
    with pytest.raises(_Boom):
        async with trionet.open_scope():
            server = trionet.create_server(lambda conn: conn.pause())
            port = await listening(server)
            client = trionet.connect(port, "127.0.0.1")
            with anyio.fail_after(5):
                conn = (await trionet.once(server, "connection"))[0]

            def callback(err: BaseException | None) -> None:
                raise _Boom(f"callback got {err!r}")

            payload = b"x" * (8 * 1024 * 1024)  # more than the kernel buffers hold
            assert client.write(payload, callback) is False
            conn.resume()  # the queue drains, the callback runs and raises
            with anyio.fail_after(10):
                await anyio.sleep_forever()
