"""Invariants the per-connection fast paths rely on (real sockets, every backend).

* ``Socket._accepted`` sets every field itself instead of running ``__init__``: an
  accepted socket must hold the same values as one made the general way, except
  for what the server and the connection set.
* ``Socket.on``/``EventEmitter.on`` add a plain function without ``_add``: what they
  store, and the first 'data' listener's resume(), must be what ``_add`` does.
* The automatic close emits 'close' in the tick of 'finish' only when nothing can
  run in between: a tick queued before (or by one queued before) still runs first.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

import trionet
from tests.support import closed, listening

pytestmark = pytest.mark.anyio


def _slots() -> list[str]:
    names: list[str] = []
    for cls in trionet.Socket.__mro__:
        names.extend(n for n in cls.__dict__.get("__slots__", ()) if n != "__weakref__")
    return names


def _fields(sock: trionet.Socket) -> dict[str, Any]:
    return {name: getattr(sock, name) for name in _slots()}  # AttributeError: a field unset


@pytest.mark.parametrize(
    "options",
    [
        {},
        {
            "allow_half_open": True,
            "high_water_mark": 100,
            "pause_on_connect": True,
            "no_delay": True,
            "keep_alive": True,
            "keep_alive_initial_delay": 3,
        },
    ],
)
async def test_accepted_socket_fields_match_a_socket_made_by_init(options: dict[str, Any]) -> None:
    async with trionet.open_scope():
        seen: list[tuple[dict[str, Any], dict[str, Any], Any]] = []

        def on_connection(sock: trionet.Socket) -> None:
            reference = trionet.Socket(
                allow_half_open=options.get("allow_half_open", False),
                high_water_mark=options.get("high_water_mark"),
            )
            seen.append((_fields(sock), _fields(reference), server._group))
            sock.destroy()

        server = trionet.create_server(on_connection, **options)
        port = await listening(server)
        client = trionet.connect(port, "127.0.0.1")
        client.on("error", lambda err: None)
        with anyio.fail_after(5):
            while not seen:
                await anyio.sleep(0.01)
        client.destroy()
        server.close()
    accepted, reference, group = seen[0]
    expected_differences = {
        "_transport",
        "server",
        "_group",
        "_connected_once",
        "_sock_family",
        "_no_delay",
        "_keep_alive",
        "_flowing",
        "_events",  # (another dict, both empty)
    }
    for name, value in reference.items():
        if name not in expected_differences:
            assert accepted[name] == value, name
    assert accepted["_events"] == reference["_events"] == {}
    assert accepted["server"] is server
    assert accepted["_group"] is group is not None
    assert accepted["_transport"] is not None
    assert accepted["_connected_once"] is True
    assert accepted["_sock_family"] == server._lsock_family
    if options.get("no_delay"):
        assert accepted["_no_delay"] is True
    else:  # None: the engine left Nagle on; False: it had to be turned back on (uvloop)
        assert accepted["_no_delay"] in (None, False)
        assert accepted["_transport"].no_delay in (None, False)
    keep_alive = (True, 3.0) if options.get("keep_alive") else None
    assert accepted["_keep_alive"] == keep_alive
    assert accepted["_flowing"] == (False if options.get("pause_on_connect") else None)


async def test_plain_on_stores_what_add_stores_and_resumes_on_data() -> None:
    async with trionet.open_scope():
        got: list[bytes] = []
        done = anyio.Event()
        stored: list[Any] = []

        def on_connection(sock: trionet.Socket) -> None:
            def on_data(data: bytes) -> None:
                got.append(data)
                done.set()

            async def on_end() -> None:
                pass

            assert sock.is_paused() is False
            sock.on("data", on_data)  # the fast path: the first 'data' listener resumes
            sock.on("end", on_end)  # async: the general path
            sock.add_listener("data", on_data)  # a second one: the general path
            stored.append(
                (
                    sock.raw_listeners("data"),
                    sock.listeners("end"),
                    sock._has_async("end"),
                    sock._has_async("data"),
                    sock._flowing,
                )
            )

        server = trionet.create_server(on_connection)
        port = await listening(server)
        client = trionet.connect(port, "127.0.0.1")
        client.write(b"ping")
        with anyio.fail_after(5):
            await done.wait()
        client.destroy()
        server.close()
    data_listeners, end_listeners, end_async, data_async, flowing = stored[0]
    assert len(data_listeners) == 2 and data_listeners[0] is data_listeners[1]
    assert len(end_listeners) == 1 and end_async is True and data_async is False
    assert flowing is True
    assert got[0] == b"ping"

    emitter = trionet.EventEmitter()
    added: list[tuple[str, Any]] = []
    emitter.on("newListener", lambda event, fn: added.append((event, fn)))

    def listener() -> None:
        pass

    emitter.on("x", listener)  # 'newListener' listeners: the general path emits it
    assert added == [("x", listener)]
    with pytest.raises(TypeError):
        emitter.on("y", 42)  # type: ignore[arg-type]


@pytest.mark.parametrize("finish_listener", [False, True])
async def test_automatic_close_runs_ticks_queued_before_it_first(finish_listener: bool) -> None:
    """A tick queued in 'end', and the tick that one queues, run before 'close' (Node's
    order: end, T, T2, close): 'close' joins the tick of 'finish' only with no tick queued."""
    trace: list[str] = []
    async with trionet.open_scope() as scope:
        done = anyio.Event()

        def on_connection(sock: trionet.Socket) -> None:
            sock.resume()

            def t2() -> None:
                trace.append("T2")

            def t1() -> None:
                trace.append("T")
                scope.call_soon(t2)

            def on_end() -> None:
                trace.append("end")
                scope.call_soon(t1)

            sock.on("end", on_end)
            if finish_listener:
                sock.on("finish", lambda: trace.append("finish"))
            sock.on("close", lambda had_error: (trace.append("close"), done.set()))

        server = trionet.create_server(on_connection)
        port = await listening(server)
        client = trionet.connect(port, "127.0.0.1")
        client.on("error", lambda err: None)
        client.end()
        with anyio.fail_after(5):
            await done.wait()
        server.close()
    if finish_listener:  # (trionet's 'finish' is a tick after end(), Node's a loop iteration)
        assert trace == ["end", "T", "finish", "T2", "close"]
    else:
        assert trace == ["end", "T", "T2", "close"]


async def test_server_side_close_sequence_with_no_listeners_accounts_each_connection() -> None:
    """The quiet close (no 'end'/'finish'/'close' listener: 'close' in the tick of
    'finish'): each socket leaves the server's count and the scope, and the server's
    'close' follows the last one."""
    async with trionet.open_scope() as scope:
        sockets: list[trionet.Socket] = []

        def on_connection(sock: trionet.Socket) -> None:
            sockets.append(sock)
            sock.on("data", lambda data: sock.write(data))

        server = trionet.create_server(on_connection)
        port = await listening(server)
        for _ in range(3):
            client = trionet.connect(port, "127.0.0.1")
            echoed: list[bytes] = []
            client.on("data", echoed.append)
            client.on("error", lambda err: None)
            client.write(b"x")
            client.end()
            with anyio.fail_after(5):
                await client.wait_closed()
            assert echoed == [b"x"]
        with anyio.fail_after(5):
            while server.connections:
                await anyio.sleep(0.01)
        assert len(sockets) == 3
        for sock in sockets:
            assert sock.destroyed and sock.writable_finished and sock.readable_ended
            assert sock not in scope._handles
        closed = anyio.Event()
        server.close(lambda err: closed.set())
        with anyio.fail_after(5):
            await closed.wait()


async def test_peer_end_calls_a_subclass_end() -> None:
    """The automatic end() after the peer's FIN is the socket's own end(), overridden or not."""
    calls: list[str] = []

    class Recording(trionet.Socket):
        __slots__ = ()

        def end(self, *args: Any, **kwargs: Any) -> Recording:
            calls.append("end")
            super().end(*args, **kwargs)
            return self

    async with trionet.open_scope():
        server = trionet.create_server(lambda sock: sock.end())
        port = await listening(server)
        client = Recording()
        events: list[str] = []
        client.on("end", lambda: events.append("end"))
        client.on("finish", lambda: events.append("finish"))
        client.connect(port, "127.0.0.1")
        client.resume()
        await closed(client)
        server.close()
        assert calls == ["end"]
        assert events == ["end", "finish"]
