"""Server.listen(): every call form, address(), 'listening', argument errors and bind failures.

Real sockets on loopback, on every engine. Node's reference: behaviour checklist
sections A, B, 3.5, 3.7, 3.8 and trace 6(c).
"""

from __future__ import annotations

import errno
import math
import os
import socket
from collections.abc import Callable
from typing import Any

import anyio
import pytest

import trionet
from tests.support import HAVE_IPV6, Trace, needs_ipv6

pytestmark = pytest.mark.anyio


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (bound and released, no TIME-WAIT)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
    return port


async def wait(emitter: trionet.EventEmitter, event: str, timeout: float = 5) -> tuple[Any, ...]:
    with anyio.fail_after(timeout):
        return await trionet.once(emitter, event)


async def close_server(server: trionet.Server) -> None:
    """Close (if listening) and wait for 'close'."""
    done = anyio.Event()
    server.once("close", lambda *a: done.set())
    server.close()
    with anyio.fail_after(5):
        await done.wait()


async def reach(port: int, host: str) -> None:
    """Open a client connection to host:port, then close it (raises if refused)."""
    client = trionet.connect(port, host)
    await wait(client, "connect")
    client.destroy()
    await wait(client, "close")


def served(server: trionet.Server) -> list[tuple[str | None, str | None]]:
    """Record accepted connections' remote ends, and close each at once."""
    seen: list[tuple[str | None, str | None]] = []

    def on_connection(sock: trionet.Socket) -> None:
        seen.append((sock.remote_family, sock.remote_address))
        sock.destroy()

    server.on("connection", on_connection)
    return seen


# -- the call forms ------------------------------------------------------------------


async def test_listen_without_arguments_binds_the_unspecified_address() -> None:
    async with trionet.open_scope():
        server = trionet.create_server()
        seen = served(server)
        assert server.listen() is server
        await wait(server, "listening")
        address = server.address()
        assert isinstance(address, dict)
        assert set(address) == {"address", "family", "port"}
        if HAVE_IPV6:
            assert (address["address"], address["family"]) == ("::", "IPv6")
        else:
            assert (address["address"], address["family"]) == ("0.0.0.0", "IPv4")
        assert isinstance(address["port"], int) and address["port"] > 0
        # Dual stack: an IPv4 client is served by the '::' listener.
        await reach(address["port"], "127.0.0.1")
        if HAVE_IPV6:
            await reach(address["port"], "::1")
        await close_server(server)
    assert len(seen) == (2 if HAVE_IPV6 else 1)
    if HAVE_IPV6:
        assert seen[0] == ("IPv6", "::ffff:127.0.0.1")
        assert seen[1] == ("IPv6", "::1")


async def test_listen_without_host_is_usable_before_listening_is_emitted() -> None:
    # Node binds synchronously when no host is given (A14): address() is valid at once.
    async with trionet.open_scope():
        server = trionet.create_server()
        trace = Trace().watch(server, "server", "listening")
        server.listen(0)
        assert trace.events == []  # 'listening' is never emitted inside listen() (A13)
        assert server.listening is True
        address = server.address()
        assert isinstance(address, dict) and address["port"] > 0
        await wait(server, "listening")
        assert trace.names() == ["listening"]
        assert server.address() == address
        await close_server(server)


#: (id, the listen() arguments for a port, the host bound, whether the port is given)
LISTEN_FORMS: list[tuple[str, Callable[[int], tuple[Any, ...]], str | None, bool]] = [
    ("listen()", lambda port: (), None, False),
    ("listen(None)", lambda port: (None,), None, False),
    ("listen(port)", lambda port: (port,), None, True),
    ("listen(port, host)", lambda port: (port, "127.0.0.1"), "127.0.0.1", True),
    ("listen(port, host, backlog)", lambda port: (port, "127.0.0.1", 7), "127.0.0.1", True),
    ("listen(port, backlog)", lambda port: (port, 7), None, True),
    ("listen(str port, host)", lambda port: (str(port), "127.0.0.1"), "127.0.0.1", True),
    ("listen(hex str port, host)", lambda port: (hex(port), "127.0.0.1"), "127.0.0.1", True),
    ("listen({port})", lambda port: ({"port": port},), None, True),
    ("listen({port: None})", lambda port: ({"port": None},), None, False),
    (
        "listen({port, host})",
        lambda port: ({"port": port, "host": "127.0.0.1"},),
        "127.0.0.1",
        True,
    ),
    (
        "listen({port, host, backlog})",
        lambda port: ({"port": port, "host": "127.0.0.1", "backlog": 3},),
        "127.0.0.1",
        True,
    ),
    ("listen({port: str})", lambda port: ({"port": str(port)},), None, True),
]


@pytest.mark.parametrize("with_callback", [False, True], ids=["no-callback", "callback"])
@pytest.mark.parametrize(
    ("form", "make_args", "host", "explicit"), LISTEN_FORMS, ids=[f[0] for f in LISTEN_FORMS]
)
async def test_listen_forms(
    form: str,
    make_args: Callable[[int], tuple[Any, ...]],
    host: str | None,
    explicit: bool,
    with_callback: bool,
) -> None:
    port = free_port() if explicit else 0
    calls: list[tuple[Any, ...]] = []
    async with trionet.open_scope():
        server = trionet.create_server()
        served(server)
        args = make_args(port)
        if with_callback:

            def callback(*cb_args: Any) -> None:
                calls.append((cb_args, server.listening))

            args = (*args, callback)
        assert server.listen(*args) is server
        await wait(server, "listening")
        address = server.address()
        assert isinstance(address, dict)
        if explicit:
            assert address["port"] == port
        else:
            assert address["port"] > 0
        if host is not None:
            assert address == {"address": host, "family": "IPv4", "port": address["port"]}
        await reach(address["port"], "127.0.0.1")
        await close_server(server)
    assert calls == ([((), True)] if with_callback else [])


async def test_listen_keywords() -> None:
    calls: list[str] = []
    async with trionet.open_scope():
        server = trionet.create_server()
        served(server)
        port = free_port()
        server.listen(port=port, host="127.0.0.1", backlog=10, callback=lambda: calls.append("a"))
        await wait(server, "listening")
        assert server.address() == {"address": "127.0.0.1", "family": "IPv4", "port": port}
        await reach(port, "127.0.0.1")
        await close_server(server)

        server = trionet.create_server()
        served(server)
        server.listen(port=0, callback=lambda: calls.append("b"))
        await wait(server, "listening")
        address = server.address()
        assert isinstance(address, dict) and address["port"] > 0
        await close_server(server)

        # An options dict with Node's (camelCase) key names, and a trailing callback.
        server = trionet.create_server()
        served(server)
        server.listen(
            {"port": 0, "host": "127.0.0.1", "ipv6Only": False}, lambda: calls.append("c")
        )
        await wait(server, "listening")
        await close_server(server)
    assert calls == ["a", "b", "c"]


async def test_listen_callback_is_a_once_listening_listener_added_by_listen() -> None:
    async with trionet.open_scope():
        server = trionet.create_server()
        order: list[str] = []
        server.on("listening", lambda: order.append("before"))
        server.listen(0, "127.0.0.1", lambda: order.append("callback"))
        server.on("listening", lambda: order.append("after"))
        assert order == []
        assert server.listener_count("listening") == 3
        await wait(server, "listening")
        assert order == ["before", "callback", "after"]
        assert server.listener_count("listening") == 2  # the callback was a once listener
        await close_server(server)
        # listen -> close -> listen: the first callback is not called again (A8).
        server.listen(0, "127.0.0.1", lambda: order.append("second"))
        await wait(server, "listening")
        assert order == ["before", "callback", "after", "before", "after", "second"]
        await close_server(server)


async def test_listening_property_follows_listen_and_close() -> None:
    states: list[tuple[str, bool]] = []
    async with trionet.open_scope():
        server = trionet.create_server()
        states.append(("before", server.listening))
        server.listen(0, "127.0.0.1", lambda: states.append(("listen callback", server.listening)))
        await wait(server, "listening")
        done = anyio.Event()

        def on_closed(err: BaseException | None) -> None:
            states.append(("close callback", server.listening))
            done.set()

        server.close(on_closed)
        states.append(("after close()", server.listening))
        with anyio.fail_after(5):
            await done.wait()
    assert states == [
        ("before", False),
        ("listen callback", True),
        ("after close()", False),
        ("close callback", False),
    ]


async def test_listen_again_after_close() -> None:
    async with trionet.open_scope():
        server = trionet.create_server()
        served(server)
        server.listen(0, "127.0.0.1")
        await wait(server, "listening")
        address = server.address()
        assert isinstance(address, dict)
        first = address["port"]
        server.close()
        # Immediately, before 'close': Node allows it (A12).
        server.listen(first, "127.0.0.1")
        await wait(server, "listening")
        assert server.address() == {"address": "127.0.0.1", "family": "IPv4", "port": first}
        await reach(first, "127.0.0.1")
        await close_server(server)


# -- address() -----------------------------------------------------------------------


async def test_address_shapes() -> None:
    async with trionet.open_scope():
        server = trionet.create_server()
        assert server.address() is None
        server.listen(0, "127.0.0.1")
        await wait(server, "listening")
        address = server.address()
        assert isinstance(address, dict)
        assert list(address) == ["address", "family", "port"]
        assert address["address"] == "127.0.0.1" and address["family"] == "IPv4"
        assert isinstance(address["port"], int) and 0 < address["port"] < 65536
        assert server.address() is not address  # a fresh dict each time
        server.close()
        assert server.address() is None
        await wait(server, "close")
        assert server.address() is None


@needs_ipv6
async def test_address_of_an_ipv6_listener() -> None:
    async with trionet.open_scope():
        server = trionet.create_server()
        served(server)
        server.listen(0, "::1")
        await wait(server, "listening")
        address = server.address()
        assert isinstance(address, dict)
        assert (address["address"], address["family"]) == ("::1", "IPv6")
        await reach(address["port"], "::1")
        await close_server(server)


async def test_listen_on_a_host_name_resolves_it_first() -> None:
    async with trionet.open_scope():
        server = trionet.create_server()
        served(server)
        calls: list[bool] = []
        server.listen(0, "localhost", lambda: calls.append(server.listening))
        # The name is looked up first: not yet listening (A14, trace c).
        assert server.listening is False
        assert server.address() is None
        await wait(server, "listening")
        assert calls == [True]
        address = server.address()
        assert isinstance(address, dict)
        expected = {"127.0.0.1": "IPv4", "::1": "IPv6"}
        assert address["address"] in expected
        assert address["family"] == expected[address["address"]]
        await reach(address["port"], address["address"])
        await close_server(server)


async def test_close_while_the_host_is_being_resolved_cancels_the_listen() -> None:
    async with trionet.open_scope():
        server = trionet.create_server()
        trace = Trace().watch(server, "server", "listening", "error", "close")
        calls: list[Any] = []
        server.listen(0, "localhost", lambda: calls.append("listen callback"))
        server.close(lambda err: calls.append(err))
        await wait(server, "close")
        await anyio.sleep(0.05)
        assert trace.names() == ["close"]
        assert server.listening is False
        assert len(calls) == 1  # the close callback only, with Node's error
        assert getattr(calls[0], "code", None) == "ERR_SERVER_NOT_RUNNING"


# -- errors raised at once -----------------------------------------------------------


async def test_listen_twice_raises_at_once() -> None:
    async with trionet.open_scope():
        server = trionet.create_server()
        server.listen(0, "127.0.0.1")
        for args in [(0,), (0, "127.0.0.1"), ()]:
            with pytest.raises(trionet.NodeError) as info:
                server.listen(*args)
            assert info.value.code == "ERR_SERVER_ALREADY_LISTEN"
            assert str(info.value) == (
                "Listen method has been called more than once without closing."
            )
        await wait(server, "listening")
        with pytest.raises(trionet.NodeError) as info:
            server.listen(0)
        assert info.value.code == "ERR_SERVER_ALREADY_LISTEN"
        await close_server(server)


BAD_PORTS: list[tuple[Any, str]] = [
    (-1, "type number (-1)"),
    (65536, "type number (65536)"),
    (1.5, "type number (1.5)"),
    (math.nan, "type number (nan)"),
    (math.inf, "type number (inf)"),
    (2**32 - 1, "type number (4294967295)"),
    ("", "type string ('')"),
    (" ", "type string (' ')"),
    ("65536", "type string ('65536')"),
]


@pytest.mark.parametrize(("port", "shown"), BAD_PORTS, ids=[repr(p) for p, _ in BAD_PORTS])
@pytest.mark.parametrize("form", ["(port, cb)", "({port}, cb)", "(port, host, cb)", "port="])
async def test_bad_port_raises_err_socket_bad_port(port: Any, shown: str, form: str) -> None:
    calls: list[Any] = []

    def cb() -> None:
        calls.append("cb")

    async with trionet.open_scope():
        server = trionet.create_server()
        trace = Trace().watch(server, "server", "listening", "error", "close")
        with pytest.raises(ValueError) as info:
            if form == "(port, cb)":
                server.listen(port, cb)
            elif form == "({port}, cb)":
                server.listen({"port": port}, cb)
            elif form == "(port, host, cb)":
                server.listen(port, "127.0.0.1", cb)
            else:
                server.listen(port=port, callback=cb)
        err = info.value
        assert isinstance(err, trionet.NodeValueError)
        assert err.code == "ERR_SOCKET_BAD_PORT"
        assert str(err) == f"options.port should be >= 0 and < 65536. Received {shown}."
        assert server.listening is False
        await anyio.sleep(0.01)
    assert trace.events == [] and calls == []


async def test_port_wins_over_path_in_options() -> None:
    async with trionet.open_scope():
        server = trionet.create_server()
        with pytest.raises(trionet.NodeValueError) as info:
            server.listen({"port": -1, "path": "/tmp/never-used.sock"})
        assert info.value.code == "ERR_SOCKET_BAD_PORT"


INVALID_OPTIONS: list[tuple[tuple[Any, ...], dict[str, Any], str]] = [
    ((True,), {}, "is invalid. Received {'port': True}"),
    ((False,), {}, "is invalid. Received {'port': False}"),
    (({"port": True},), {}, "is invalid. Received {'port': True}"),
    (({"port": False},), {}, "is invalid. Received {'port': False}"),
    (({"path": -1},), {}, "is invalid. Received {'path': -1}"),
    (({},), {}, 'must have the property "port" or "path". Received {}'),
    (
        ({"host": "127.0.0.1"},),
        {},
        "must have the property \"port\" or \"path\". Received {'host': '127.0.0.1'}",
    ),
    (({"backlog": 5},), {}, 'must have the property "port" or "path". Received {\'backlog\': 5}'),
    ((), {"host": "127.0.0.1"}, 'must have the property "port" or "path".'),
]


@pytest.mark.parametrize(
    ("args", "kwargs", "tail"),
    INVALID_OPTIONS,
    ids=[repr(a or k) for a, k, _ in INVALID_OPTIONS],
)
async def test_invalid_options_raise_err_invalid_arg_value(
    args: tuple[Any, ...], kwargs: dict[str, Any], tail: str
) -> None:
    async with trionet.open_scope():
        server = trionet.create_server()
        trace = Trace().watch(server, "server", "listening", "error", "close")
        with pytest.raises(TypeError) as info:
            server.listen(*args, **kwargs)
        err = info.value
        assert isinstance(err, trionet.NodeTypeError)
        assert err.code == "ERR_INVALID_ARG_VALUE"
        assert str(err).startswith(f"The argument 'options' {tail}")
        assert server.listening is False
        await anyio.sleep(0.01)
    assert trace.events == []


async def test_a_non_callable_callback_is_refused() -> None:
    async with trionet.open_scope():
        server = trionet.create_server()
        with pytest.raises(trionet.NodeTypeError) as info:
            server.listen(port=0, callback="not callable")
        assert info.value.code == "ERR_INVALID_ARG_TYPE"
        assert server.listening is False


# -- errors from the OS --------------------------------------------------------------


async def test_eaddrinuse_is_an_error_event_and_listen_can_be_retried() -> None:
    async with trionet.open_scope():
        first = trionet.create_server()
        first.listen(0, "127.0.0.1")
        await wait(first, "listening")
        address = first.address()
        assert isinstance(address, dict)
        port = address["port"]

        second = trionet.create_server()
        served(second)
        trace = Trace().watch(second, "second", "listening", "error", "close")
        calls: list[str] = []
        assert second.listen(port, "127.0.0.1", lambda: calls.append("first callback")) is second
        assert trace.events == []  # never raised, never emitted inside listen()
        (err,) = await wait(second, "error")
        assert isinstance(err, OSError)
        assert err.errno == errno.EADDRINUSE
        assert err.code == "EADDRINUSE"  # type: ignore[attr-defined]
        assert err.syscall == "listen"  # type: ignore[attr-defined]
        assert err.address == "127.0.0.1"  # type: ignore[attr-defined]
        assert err.port == port  # type: ignore[attr-defined]
        assert str(err) == f"listen EADDRINUSE: address already in use 127.0.0.1:{port}"
        await anyio.sleep(0.05)
        assert trace.names() == ["error"]  # no 'listening', no 'close' (A20, C8)
        assert second.listening is False
        assert second.address() is None
        assert calls == []

        # Listening again works (A11); as in Node the first callback is still armed.
        second.listen(0, "127.0.0.1", lambda: calls.append("second callback"))
        await wait(second, "listening")
        assert calls == ["first callback", "second callback"]
        address2 = second.address()
        assert isinstance(address2, dict) and address2["port"] != port
        await reach(address2["port"], "127.0.0.1")
        await close_server(second)
        await close_server(first)
    assert trace.names() == ["error", "listening", "close"]


async def test_eaddrinuse_without_host() -> None:
    async with trionet.open_scope():
        first = trionet.create_server()
        first.listen(0)
        await wait(first, "listening")
        address = first.address()
        assert isinstance(address, dict)
        port = address["port"]
        second = trionet.create_server()
        second.listen(port)
        (err,) = await wait(second, "error")
        assert isinstance(err, OSError)
        assert err.code == "EADDRINUSE"  # type: ignore[attr-defined]
        assert err.syscall == "listen"  # type: ignore[attr-defined]
        assert err.port == port  # type: ignore[attr-defined]
        shown = "::" if HAVE_IPV6 else "0.0.0.0"
        assert err.address == shown  # type: ignore[attr-defined]
        assert str(err) == f"listen EADDRINUSE: address already in use {shown}:{port}"
        assert second.listening is False
        await close_server(first)


async def test_eaddrinuse_without_an_error_listener_ends_the_scope() -> None:
    port = 0
    with pytest.raises(OSError) as info:
        async with trionet.open_scope():
            first = trionet.create_server()
            first.listen(0, "127.0.0.1")
            await wait(first, "listening")
            address = first.address()
            assert isinstance(address, dict)
            port = address["port"]
            first.unref()
            trionet.create_server().listen(port, "127.0.0.1")
    assert info.value.errno == errno.EADDRINUSE
    assert str(info.value) == f"listen EADDRINUSE: address already in use 127.0.0.1:{port}"


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0,
    reason="running as root: binding a privileged port succeeds, so EACCES cannot be provoked",
)
async def test_privileged_port_gives_eacces() -> None:  # pragma: no cover - skipped as root
    async with trionet.open_scope():
        server = trionet.create_server()
        server.listen(1, "127.0.0.1")
        (err,) = await wait(server, "error")
        assert isinstance(err, PermissionError)
        assert err.code == "EACCES"  # type: ignore[attr-defined]
        assert err.syscall == "listen"  # type: ignore[attr-defined]
        assert str(err) == "listen EACCES: permission denied 127.0.0.1:1"
        assert server.listening is False
