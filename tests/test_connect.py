"""The connect path: call forms, event order, errors, lookups, Happy Eyeballs, local binding.

Real sockets on loopback, on every engine; no real name server is asked (only
``localhost``, IP literals and custom lookups). Node's reference: behaviour
checklist sections G, N, O, P, S, 3.6-3.8 and trace 6(b).
"""

from __future__ import annotations

import errno
import math
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import trionet
from tests.support import Trace, needs_ipv6

pytestmark = pytest.mark.anyio

CLIENT_EVENTS = (
    "lookup",
    "connectionAttempt",
    "connectionAttemptFailed",
    "connectionAttemptTimeout",
    "connect",
    "ready",
    "data",
    "end",
    "error",
    "close",
)

#: A client's events for a connect + a one-chunk reply + the server's end.
EXCHANGE = ["connectionAttempt", "connect", "ready", "data", "end", "close"]
EXCHANGE_AFTER_LOOKUP = ["lookup", *EXCHANGE]


async def wait_for(event: anyio.Event, timeout: float = 5) -> None:
    with anyio.fail_after(timeout):
        await event.wait()


async def hello_server(host: str = "127.0.0.1") -> tuple[trionet.Server, int]:
    """A server that answers every connection with b'hello' and ends it."""

    def on_connection(sock: trionet.Socket) -> None:
        sock.resume()
        sock.end(b"hello")

    server = trionet.create_server(on_connection)
    server.listen(0, host)
    with anyio.fail_after(5):
        await trionet.once(server, "listening")
    address = server.address()
    assert isinstance(address, dict)
    return server, address["port"]


@contextmanager
def refused_port(*hosts: str) -> Iterator[int]:
    """A port bound (not listening) on every host given: connecting there is refused."""
    for _ in range(50):
        held: list[socket.socket] = []
        try:
            port = 0
            for host in hosts:
                family = socket.AF_INET6 if ":" in host else socket.AF_INET
                sock = socket.socket(family, socket.SOCK_STREAM)
                held.append(sock)
                sock.bind((host, port))
                port = sock.getsockname()[1]
        except OSError:  # taken on a later host: try another port
            for sock in held:
                sock.close()
            continue
        try:
            yield port
        finally:
            for sock in held:
                sock.close()
        return
    pytest.skip("no port free on every host")


class Watched:
    """A client socket with every event recorded; ``closed`` is set at its 'close'."""

    def __init__(self, sock: trionet.Socket) -> None:
        self.sock = sock
        self.trace = Trace().watch(sock, "c", *CLIENT_EVENTS)
        self.closed = anyio.Event()
        self.states: dict[str, Any] = {}
        sock.on("close", lambda had_error: self.closed.set())
        sock.on("error", lambda err: self.states.setdefault("connecting at error", sock.connecting))

    async def finished(self, timeout: float = 5) -> list[tuple[Any, ...]]:
        await wait_for(self.closed, timeout)
        return self.trace.events

    def names(self) -> list[str]:
        return self.trace.names()

    def data(self) -> bytes:
        return b"".join(e[2] for e in self.trace.events if e[1] == "data")

    def args(self, name: str) -> list[tuple[Any, ...]]:
        return [e[2:] for e in self.trace.events if e[1] == name]


# -- call forms ----------------------------------------------------------------------

CONNECT_FORMS: list[tuple[str, Callable[[int, Callable[..., Any]], trionet.Socket], bool]] = [
    ("connect(port, host)", lambda p, cb: trionet.connect(p, "127.0.0.1"), False),
    ("connect(port, host, cb)", lambda p, cb: trionet.connect(p, "127.0.0.1", cb), False),
    ("connect(port)", lambda p, cb: trionet.connect(p), True),
    ("connect(port, cb)", lambda p, cb: trionet.connect(p, cb), True),
    ("connect(str port, host)", lambda p, cb: trionet.connect(str(p), "127.0.0.1"), False),
    (
        "connect({port, host})",
        lambda p, cb: trionet.connect({"port": p, "host": "127.0.0.1"}),
        False,
    ),
    (
        "connect({port, host}, cb)",
        lambda p, cb: trionet.connect({"port": p, "host": "127.0.0.1"}, cb),
        False,
    ),
    ("connect({port})", lambda p, cb: trionet.connect({"port": p}), True),
    ("connect(port=, host=)", lambda p, cb: trionet.connect(port=p, host="127.0.0.1"), False),
    (
        "connect(port=, host=, connect_listener=)",
        lambda p, cb: trionet.connect(port=p, host="127.0.0.1", connect_listener=cb),
        False,
    ),
    (
        "create_connection(port, host, cb)",
        lambda p, cb: trionet.create_connection(p, "127.0.0.1", cb),
        False,
    ),
    (
        "create_connection({port, host})",
        lambda p, cb: trionet.create_connection({"port": p, "host": "127.0.0.1"}),
        False,
    ),
    ("Socket().connect(port, host)", lambda p, cb: trionet.Socket().connect(p, "127.0.0.1"), False),
    (
        "Socket().connect(port, host, cb)",
        lambda p, cb: trionet.Socket().connect(p, "127.0.0.1", cb),
        False,
    ),
    (
        "Socket().connect({port, host}, cb)",
        lambda p, cb: trionet.Socket().connect({"port": p, "host": "127.0.0.1"}, cb),
        False,
    ),
]


@pytest.mark.parametrize(
    ("form", "make", "by_name"), CONNECT_FORMS, ids=[f[0] for f in CONNECT_FORMS]
)
async def test_connect_forms(
    form: str, make: Callable[[int, Callable[..., Any]], trionet.Socket], by_name: bool
) -> None:
    calls: list[tuple[Any, ...]] = []
    async with trionet.open_scope():
        server, port = await hello_server()
        client = Watched(make(port, lambda *args: calls.append(args)))
        assert isinstance(client.sock, trionet.Socket)
        assert client.sock.connecting is True
        assert client.names() == []  # nothing is emitted inside connect()
        await client.finished()
        server.close()
    expected = ["connectionAttempt", "connect", "ready", "data", "end", "close"]
    if by_name:  # 'localhost', the default host, is looked up
        expected.insert(0, "lookup")
        assert client.args("lookup") == [(None, "127.0.0.1", 4, "localhost")]
    assert client.names() == expected
    assert client.args("connectionAttempt") == [("127.0.0.1", port, 4)]
    assert client.data() == b"hello"
    assert client.args("close") == [(False,)]
    if "cb" in form or "connect_listener" in form:
        assert calls == [()]
    else:
        assert calls == []


async def test_create_connection_is_connect() -> None:
    assert trionet.create_connection is trionet.connect


async def test_connect_to_server_address_g19() -> None:
    # The 'address' key is not a host: the host stays 'localhost', family 'IPv4' is used.
    async with trionet.open_scope():
        server, _ = await hello_server()
        address = server.address()
        assert isinstance(address, dict)
        client = Watched(trionet.connect(address))
        await client.finished()
        server.close()
    assert client.names() == EXCHANGE_AFTER_LOOKUP
    assert client.args("lookup") == [(None, "127.0.0.1", 4, "localhost")]
    assert client.data() == b"hello"


async def test_connecting_state_and_addresses_through_a_connection() -> None:
    seen: dict[str, Any] = {}
    async with trionet.open_scope():
        server, port = await hello_server()
        sock = trionet.connect(port, "127.0.0.1")
        seen["returned"] = (sock.connecting, sock.pending, sock.ready_state, sock.remote_address)

        def on_connect() -> None:
            seen["connect"] = (
                sock.connecting,
                sock.pending,
                sock.ready_state,
                sock.remote_address,
                sock.remote_port,
                sock.remote_family,
                sock.local_address,
                sock.local_family,
            )

        sock.on("connect", on_connect)
        client = Watched(sock)
        await client.finished()
        server.close()
    assert seen["returned"] == (True, True, "opening", None)
    assert seen["connect"] == (False, False, "open", "127.0.0.1", port, "IPv4", "127.0.0.1", "IPv4")


# -- event order ---------------------------------------------------------------------


async def test_event_order_for_a_host_name() -> None:
    async with trionet.open_scope():
        server, port = await hello_server()
        client = Watched(trionet.connect(port, "localhost"))
        await client.finished()
        server.close()
    assert client.names() == EXCHANGE_AFTER_LOOKUP
    assert client.args("lookup") == [(None, "127.0.0.1", 4, "localhost")]


async def test_no_lookup_event_for_an_ip_literal_and_no_lookup_call() -> None:
    calls: list[str] = []

    def lookup(hostname: str, options: dict[str, Any], callback: Callable[..., None]) -> None:
        calls.append(hostname)
        callback(None, "127.0.0.1", 4)

    async with trionet.open_scope():
        server, port = await hello_server()
        client = Watched(trionet.connect(port, "127.0.0.1", lookup=lookup))
        await client.finished()
        server.close()
    assert calls == []
    assert "lookup" not in client.names()
    assert client.names()[:3] == ["connectionAttempt", "connect", "ready"]


@needs_ipv6
async def test_ipv6_loopback() -> None:
    remote: list[tuple[Any, ...]] = []
    async with trionet.open_scope():

        def on_connection(sock: trionet.Socket) -> None:
            remote.append((sock.remote_address, sock.remote_family, sock.local_address))
            sock.resume()
            sock.end(b"v6")

        server = trionet.create_server(on_connection)
        server.listen(0, "::1")
        await trionet.once(server, "listening")
        address = server.address()
        assert isinstance(address, dict)
        sock = trionet.connect(address["port"], "::1")
        families: list[tuple[Any, ...]] = []
        sock.on(
            "connect",
            lambda: families.append((sock.remote_address, sock.remote_family, sock.local_family)),
        )
        client = Watched(sock)
        await client.finished()
        server.close()
    assert client.args("connectionAttempt") == [("::1", address["port"], 6)]
    assert client.data() == b"v6"
    assert families == [("::1", "IPv6", "IPv6")]
    assert remote == [("::1", "IPv6", "::1")]


# -- a refused connection ------------------------------------------------------------


async def test_refused_connect_emits_attempt_failed_error_and_close() -> None:
    async with trionet.open_scope():
        with refused_port("127.0.0.1") as port:
            client = Watched(trionet.connect(port, "127.0.0.1"))
            await client.finished()
    assert client.names() == ["connectionAttempt", "connectionAttemptFailed", "error", "close"]
    assert client.args("connectionAttempt") == [("127.0.0.1", port, 4)]
    ((ip, failed_port, family, failed),) = client.args("connectionAttemptFailed")
    assert (ip, failed_port, family) == ("127.0.0.1", port, 4)
    ((err,),) = client.args("error")
    assert err is failed
    assert isinstance(err, ConnectionRefusedError)
    assert err.errno == errno.ECONNREFUSED
    assert err.code == "ECONNREFUSED"  # type: ignore[attr-defined]
    assert err.syscall == "connect"  # type: ignore[attr-defined]
    assert err.address == "127.0.0.1"  # type: ignore[attr-defined]
    assert err.port == port  # type: ignore[attr-defined]
    assert str(err) == f"connect ECONNREFUSED 127.0.0.1:{port}"
    assert client.args("close") == [(True,)]
    assert client.states["connecting at error"] is False
    assert client.sock.destroyed is True


async def test_refused_connect_without_error_listener_ends_the_scope() -> None:
    with refused_port("127.0.0.1") as port, pytest.raises(ConnectionRefusedError) as info:
        async with trionet.open_scope():
            trionet.connect(port, "127.0.0.1")  # never raises here
    assert str(info.value) == f"connect ECONNREFUSED 127.0.0.1:{port}"


async def test_connect_to_port_zero_fails_asynchronously() -> None:
    async with trionet.open_scope():
        client = Watched(trionet.connect(0, "127.0.0.1"))  # not a validation error (N9)
        await client.finished()
    ((err,),) = client.args("error")
    assert isinstance(err, ConnectionRefusedError)
    assert str(err) == "connect ECONNREFUSED 127.0.0.1"  # Node leaves out a port of 0
    assert err.port is None  # type: ignore[attr-defined]
    assert client.names() == ["connectionAttempt", "connectionAttemptFailed", "error", "close"]


# -- argument validation -------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((), {}), (({},), {}), ((), {"host": "127.0.0.1"}), (({"host": "127.0.0.1"},), {})],
    ids=["connect()", "connect({})", "connect(host=)", "connect({host})"],
)
async def test_missing_port_and_path(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    async with trionet.open_scope():
        for connect in (trionet.connect, trionet.Socket().connect):
            with pytest.raises(TypeError) as info:
                connect(*args, **kwargs)
            assert isinstance(info.value, trionet.NodeTypeError)
            assert info.value.code == "ERR_MISSING_ARGS"
            assert str(info.value) == (
                'The "options" or "port" or "path" argument must be specified'
            )


BAD_PORT_TYPES: list[tuple[Any, str]] = [
    (True, "type boolean (True)"),
    (False, "type boolean (False)"),
    ([], "an instance of list"),
    ({}, "an instance of dict"),
    (None, "None"),
]


@pytest.mark.parametrize(
    ("port", "shown"), BAD_PORT_TYPES, ids=[repr(p) for p, _ in BAD_PORT_TYPES]
)
async def test_bad_port_types(port: Any, shown: str) -> None:
    async with trionet.open_scope():
        attempts: list[Callable[[], Any]] = [
            lambda: trionet.connect({"port": port, "host": "127.0.0.1"}),
            lambda: trionet.connect(port=port),
        ]
        for attempt in attempts:
            with pytest.raises(TypeError) as info:
                attempt()
            assert isinstance(info.value, trionet.NodeTypeError)
            assert info.value.code == "ERR_INVALID_ARG_TYPE"
            assert str(info.value) == (
                'The "options.port" property must be one of type number or string. '
                f"Received {shown}"
            )


BAD_PORT_VALUES: list[tuple[Any, str]] = [
    ("", "type string ('')"),
    (" ", "type string (' ')"),
    ("0x", "type string ('0x')"),
    ("-0x1", "type string ('-0x1')"),
    (math.nan, "type number (nan)"),
    (math.inf, "type number (inf)"),
    (-1, "type number (-1)"),
    (65536, "type number (65536)"),
    (1.5, "type number (1.5)"),
]


@pytest.mark.parametrize(
    ("port", "shown"), BAD_PORT_VALUES, ids=[repr(p) for p, _ in BAD_PORT_VALUES]
)
async def test_bad_port_values(port: Any, shown: str) -> None:
    async with trionet.open_scope():
        attempts: list[Callable[[], Any]] = [
            lambda: trionet.connect({"port": port, "host": "127.0.0.1"}),
            lambda: trionet.connect(port=port, host="127.0.0.1"),
            lambda: trionet.Socket().connect({"port": port}),
        ]
        if not isinstance(port, str):  # a positional string that is no number is a path
            attempts.append(lambda: trionet.connect(port, "127.0.0.1"))
        for attempt in attempts:
            with pytest.raises(ValueError) as info:
                attempt()
            assert isinstance(info.value, trionet.NodeValueError)
            assert info.value.code == "ERR_SOCKET_BAD_PORT"
            assert str(info.value) == f"Port should be >= 0 and < 65536. Received {shown}."


@pytest.mark.parametrize("spelling", ["decimal", "hex", "padded", "float"])
async def test_port_spellings_node_accepts(spelling: str) -> None:
    async with trionet.open_scope():
        server, port = await hello_server()
        given = {
            "decimal": str(port),
            "hex": hex(port),
            "padded": f" {port} ",
            "float": f"{port}.0",
        }[spelling]
        client = Watched(trionet.connect({"port": given, "host": "127.0.0.1"}))
        await client.finished()
        server.close()
    assert client.args("connectionAttempt") == [("127.0.0.1", port, 4)]
    assert client.data() == b"hello"


INVALID_OPTIONS: list[tuple[dict[str, Any], str, str]] = [
    ({"local_address": "foobar"}, "ERR_INVALID_IP_ADDRESS", "Invalid IP address: foobar"),
    (
        {"local_port": "80"},
        "ERR_INVALID_ARG_TYPE",
        "The \"options.localPort\" property must be of type number. Received type string ('80')",
    ),
    (
        {"lookup": "foo"},
        "ERR_INVALID_ARG_TYPE",
        "The \"options.lookup\" property must be of type function. Received type string ('foo')",
    ),
    (
        {"family": 5},
        "ERR_INVALID_ARG_VALUE",
        "The property 'options.family' must be one of: 0, 4, 6. Received 5",
    ),
    (
        {"auto_select_family": "yes"},
        "ERR_INVALID_ARG_TYPE",
        'The "options.autoSelectFamily" property must be of type boolean. '
        "Received type string ('yes')",
    ),
]


@pytest.mark.parametrize(
    ("options", "code", "message"), INVALID_OPTIONS, ids=[c for _, c, _ in INVALID_OPTIONS]
)
async def test_invalid_options_raise_at_once(
    options: dict[str, Any], code: str, message: str
) -> None:
    async with trionet.open_scope():
        with pytest.raises(TypeError) as info:
            trionet.connect(port=80, host="localhost", **options)
        assert isinstance(info.value, trionet.NodeError)
        assert info.value.code == code
        assert str(info.value) == message


# -- custom lookups ------------------------------------------------------------------


async def test_custom_lookup_callback_style_single_address() -> None:
    calls: list[tuple[str, dict[str, Any]]] = []

    def lookup(hostname: str, options: dict[str, Any], callback: Callable[..., None]) -> None:
        calls.append((hostname, dict(options)))
        callback(None, "127.0.0.1", 4)

    async with trionet.open_scope():
        server, port = await hello_server()
        client = Watched(
            trionet.connect(port, "example.test", lookup=lookup, auto_select_family=False)
        )
        await client.finished()
        server.close()
    ((hostname, options),) = calls
    assert hostname == "example.test"
    assert not options.get("all")
    assert options.get("family") in (0, None)
    assert options["hints"] == socket.AI_ADDRCONFIG  # Node's default hints
    assert client.names() == EXCHANGE_AFTER_LOOKUP
    assert client.args("lookup") == [(None, "127.0.0.1", 4, "example.test")]


async def test_custom_lookup_callback_style_all_addresses() -> None:
    calls: list[dict[str, Any]] = []

    def lookup(hostname: str, options: dict[str, Any], callback: Callable[..., None]) -> None:
        calls.append(dict(options))
        callback(None, [{"address": "127.0.0.1", "family": 4}])

    async with trionet.open_scope():
        server, port = await hello_server()
        client = Watched(trionet.connect(port, "example.test", lookup=lookup))
        await client.finished()
        server.close()
    assert calls[0]["all"] is True  # auto_select_family (the default) asks for all addresses
    assert calls[0]["hints"] == socket.AI_ADDRCONFIG
    assert client.names() == EXCHANGE_AFTER_LOOKUP
    assert client.args("lookup") == [(None, "127.0.0.1", 4, "example.test")]


async def test_custom_lookup_async_style() -> None:
    calls: list[tuple[str, dict[str, Any]]] = []

    async def lookup(hostname: str, options: dict[str, Any]) -> Any:
        calls.append((hostname, dict(options)))
        await anyio.lowlevel.checkpoint()
        if options.get("all"):
            return [{"address": "127.0.0.1", "family": 4}]
        return {"address": "127.0.0.1", "family": 4}

    async with trionet.open_scope():
        server, port = await hello_server()
        single = Watched(trionet.connect(port, "one.test", lookup=lookup, auto_select_family=False))
        many = Watched(trionet.connect(port, "all.test", lookup=lookup))
        await single.finished()
        await many.finished()
        server.close()
    assert sorted((h, bool(o.get("all"))) for h, o in calls) == [
        ("all.test", True),
        ("one.test", False),
    ]
    for client, host in ((single, "one.test"), (many, "all.test")):
        assert client.args("lookup") == [(None, "127.0.0.1", 4, host)]
        assert client.data() == b"hello"
        assert client.args("close") == [(False,)]


async def test_family_4_is_passed_to_the_lookup_and_bypasses_happy_eyeballs() -> None:
    calls: list[dict[str, Any]] = []

    def lookup(hostname: str, options: dict[str, Any], callback: Callable[..., None]) -> None:
        calls.append(dict(options))
        callback(None, "127.0.0.1", 4)

    async with trionet.open_scope():
        server, port = await hello_server()
        client = Watched(trionet.connect(port, "example.test", lookup=lookup, family=4))
        await client.finished()
        server.close()
    assert calls[0]["family"] == 4
    assert calls[0]["hints"] == 0
    assert not calls[0].get("all")
    assert client.args("lookup") == [(None, "127.0.0.1", 4, "example.test")]
    assert client.data() == b"hello"


async def test_family_4_with_the_system_lookup() -> None:
    async with trionet.open_scope():
        server, port = await hello_server()
        client = Watched(trionet.connect(port, "localhost", family=4))
        await client.finished()
        server.close()
    assert client.args("lookup") == [(None, "127.0.0.1", 4, "localhost")]
    assert client.data() == b"hello"


@needs_ipv6
async def test_family_6_connects_over_ipv6() -> None:
    calls: list[dict[str, Any]] = []

    def lookup(hostname: str, options: dict[str, Any], callback: Callable[..., None]) -> None:
        calls.append(dict(options))
        callback(None, "::1", 6)

    async with trionet.open_scope():
        server, port = await hello_server("::1")
        client = Watched(trionet.connect(port, "example.test", lookup=lookup, family=6))
        await client.finished()
        server.close()
    assert calls[0]["family"] == 6
    assert client.args("lookup") == [(None, "::1", 6, "example.test")]
    assert client.args("connectionAttempt") == [("::1", port, 6)]
    assert client.data() == b"hello"


async def test_lookup_error_is_lookup_then_error_then_close() -> None:
    def lookup(hostname: str, options: dict[str, Any], callback: Callable[..., None]) -> None:
        callback(socket.gaierror(socket.EAI_NONAME, "Name or service not known"))

    async with trionet.open_scope():
        client = Watched(trionet.connect(80, "nope.invalid", lookup=lookup))
        await client.finished()
    assert client.names() == ["lookup", "error", "close"]
    ((err, address, family, host),) = client.args("lookup")
    assert (address, family, host) == (None, None, "nope.invalid")
    assert client.args("error") == [(err,)]
    assert isinstance(err, OSError)
    assert err.code == "ENOTFOUND"  # type: ignore[attr-defined]
    assert err.syscall == "getaddrinfo"  # type: ignore[attr-defined]
    assert err.hostname == "nope.invalid"  # type: ignore[attr-defined]
    assert str(err) == "getaddrinfo ENOTFOUND nope.invalid"
    assert client.args("close") == [(True,)]


async def test_async_lookup_error() -> None:
    async def lookup(hostname: str, options: dict[str, Any]) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    async with trionet.open_scope():
        client = Watched(trionet.connect(80, "nope.invalid", lookup=lookup))
        await client.finished()
    assert client.names() == ["lookup", "error", "close"]
    ((err,),) = client.args("error")
    assert str(err) == "getaddrinfo ENOTFOUND nope.invalid"


async def test_lookup_result_that_is_not_an_ip() -> None:
    def lookup(hostname: str, options: dict[str, Any], callback: Callable[..., None]) -> None:
        callback(None, "not-an-ip", 4)

    async with trionet.open_scope():
        client = Watched(
            trionet.connect(80, "example.test", lookup=lookup, auto_select_family=False)
        )
        await client.finished()
    ((err,),) = client.args("error")
    assert isinstance(err, TypeError)
    assert err.code == "ERR_INVALID_IP_ADDRESS"  # type: ignore[attr-defined]
    assert str(err) == "Invalid IP address: not-an-ip"
    assert client.names() == ["lookup", "error", "close"]
    assert client.args("lookup") == [(None, "not-an-ip", 4, "example.test")]


# -- Happy Eyeballs ------------------------------------------------------------------


def two_families(hostname: str, options: dict[str, Any], callback: Callable[..., None]) -> None:
    callback(None, [{"address": "::1", "family": 6}, {"address": "127.0.0.1", "family": 4}])


@needs_ipv6
async def test_happy_eyeballs_tries_each_address_in_order() -> None:
    async with trionet.open_scope():
        refusing, port = _port_free_on_both("::1", "127.0.0.1")  # ::1:port refuses
        server = trionet.create_server(lambda sock: (sock.resume(), sock.end(b"hello")))
        server.listen(port, "127.0.0.1")
        await trionet.once(server, "listening")
        with refusing:
            client = Watched(trionet.connect(port, "example.test", lookup=two_families))
            await client.finished()
        server.close()
    assert client.names() == [
        "lookup",
        "lookup",
        "connectionAttempt",
        "connectionAttemptFailed",
        "connectionAttempt",
        "connect",
        "ready",
        "data",
        "end",
        "close",
    ]
    assert client.args("lookup") == [
        (None, "::1", 6, "example.test"),
        (None, "127.0.0.1", 4, "example.test"),
    ]
    assert client.args("connectionAttempt") == [("::1", port, 6), ("127.0.0.1", port, 4)]
    ((ip, failed_port, family, err),) = client.args("connectionAttemptFailed")
    assert (ip, failed_port, family) == ("::1", port, 6)
    assert str(err) == f"connect ECONNREFUSED ::1:{port}"
    assert client.data() == b"hello"
    assert client.args("close") == [(False,)]


@needs_ipv6
async def test_happy_eyeballs_all_refused_gives_an_aggregate_error() -> None:
    async with trionet.open_scope():
        with refused_port("127.0.0.1", "::1") as port:
            client = Watched(trionet.connect(port, "example.test", lookup=two_families))
            await client.finished()
    assert client.names() == [
        "lookup",
        "lookup",
        "connectionAttempt",
        "connectionAttemptFailed",
        "connectionAttempt",
        "connectionAttemptFailed",
        "error",
        "close",
    ]
    failed = [args[3] for args in client.args("connectionAttemptFailed")]
    ((err,),) = client.args("error")
    assert isinstance(err, OSError)
    assert isinstance(err, ConnectionRefusedError)  # the first attempt's class
    assert err.code == "ECONNREFUSED"  # type: ignore[attr-defined]
    assert err.errors == failed  # type: ignore[attr-defined]
    assert [str(e) for e in err.errors] == [  # type: ignore[attr-defined]
        f"connect ECONNREFUSED ::1:{port}",
        f"connect ECONNREFUSED 127.0.0.1:{port}",
    ]
    assert str(err) == ""  # Node's AggregateError has an empty message
    assert client.args("close") == [(True,)]


@needs_ipv6
async def test_without_auto_select_family_only_the_first_address_is_tried() -> None:
    calls: list[dict[str, Any]] = []

    def lookup(hostname: str, options: dict[str, Any], callback: Callable[..., None]) -> None:
        calls.append(dict(options))
        if options.get("all"):
            two_families(hostname, options, callback)
        else:
            callback(None, "::1", 6)

    async with trionet.open_scope():
        with refused_port("127.0.0.1", "::1") as port:
            client = Watched(
                trionet.connect(port, "example.test", lookup=lookup, auto_select_family=False)
            )
            await client.finished()
    assert not calls[0].get("all")
    assert client.names() == [
        "lookup",
        "connectionAttempt",
        "connectionAttemptFailed",
        "error",
        "close",
    ]
    ((err,),) = client.args("error")
    assert isinstance(err, ConnectionRefusedError)
    assert str(err) == f"connect ECONNREFUSED ::1:{port}"  # a plain error, not an aggregate
    assert getattr(err, "errors", None) is None


@needs_ipv6
async def test_an_attempt_that_hangs_times_out_and_the_next_address_is_tried() -> None:
    async with trionet.open_scope():
        # 127.0.0.1:port accepts one connection into a backlog of 0 and is never
        # accepted from: the kernel drops later SYNs, so a connect there hangs.
        # The server listens on ::1 at the same port.
        blackhole, port = _port_free_on_both("127.0.0.1", "::1")
        server = trionet.create_server(lambda sock: (sock.resume(), sock.end(b"hello")))
        server.listen(port, "::1")
        await trionet.once(server, "listening")
        with blackhole:
            blackhole.listen(0)
            with socket.create_connection(("127.0.0.1", port), timeout=2):
                probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                probe.setblocking(False)
                probe.connect_ex(("127.0.0.1", port))
                await anyio.sleep(0.1)
                with probe:
                    hangs = probe.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0 and not (
                        _writable(probe)
                    )
                if not hangs:
                    server.close()
                    pytest.skip("a connect to a full backlog does not hang on this host")

                def lookup(hostname: str, options: dict[str, Any], callback: Any) -> None:
                    callback(
                        None,
                        [{"address": "127.0.0.1", "family": 4}, {"address": "::1", "family": 6}],
                    )

                client = Watched(
                    trionet.connect(
                        port,
                        "example.test",
                        lookup=lookup,
                        auto_select_family_attempt_timeout=0.05,
                    )
                )
                await client.finished()
        server.close()
    assert client.names() == [
        "lookup",
        "lookup",
        "connectionAttempt",
        "connectionAttemptTimeout",
        "connectionAttempt",
        "connect",
        "ready",
        "data",
        "end",
        "close",
    ]
    assert client.args("connectionAttemptTimeout") == [("127.0.0.1", port, 4)]
    assert client.args("connectionAttempt") == [("127.0.0.1", port, 4), ("::1", port, 6)]
    assert client.data() == b"hello"


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _port_free_on_both(bound: str, free: str) -> tuple[socket.socket, int]:
    """A socket bound (not listening) to ``bound``:port, where ``free``:port is free too."""
    for _ in range(50):
        sock = socket.socket(_family(bound), socket.SOCK_STREAM)
        sock.bind((bound, 0))
        port: int = sock.getsockname()[1]
        try:
            with socket.socket(_family(free), socket.SOCK_STREAM) as probe:
                probe.bind((free, port))
        except OSError:
            sock.close()
            continue
        return sock, port
    pytest.skip("no port free on both addresses")


def _writable(sock: socket.socket) -> bool:
    import select

    _, writable, _ = select.select([], [sock], [], 0)
    return bool(writable)


# -- local_address / local_port ------------------------------------------------------


async def test_local_address_and_local_port_bind_the_client_end() -> None:
    remote: list[tuple[Any, Any]] = []
    async with trionet.open_scope():

        def on_connection(sock: trionet.Socket) -> None:
            remote.append((sock.remote_address, sock.remote_port))
            sock.resume()
            sock.end(b"hello")

        server = trionet.create_server(on_connection)
        server.listen(0, "127.0.0.1")
        await trionet.once(server, "listening")
        address = server.address()
        assert isinstance(address, dict)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            local_port = probe.getsockname()[1]
        sock = trionet.connect(
            address["port"], "127.0.0.1", local_address="127.0.0.1", local_port=local_port
        )
        local: list[tuple[Any, Any]] = []
        sock.on("connect", lambda: local.append((sock.local_address, sock.local_port)))
        client = Watched(sock)
        await client.finished()
        server.close()
    assert local == [("127.0.0.1", local_port)]
    assert remote == [("127.0.0.1", local_port)]  # S4
    assert client.data() == b"hello"


@pytest.mark.parametrize("with_address", [True, False], ids=["local_address", "no local_address"])
async def test_local_port_in_use_is_a_bind_error(with_address: bool) -> None:
    async with trionet.open_scope():
        server, port = await hello_server()
        options: dict[str, Any] = {"local_port": port}
        if with_address:
            options["local_address"] = "127.0.0.1"
        client = Watched(trionet.connect(port, "127.0.0.1", **options))
        await client.finished()
        server.close()
    # Node binds before its connection attempt: no 'connectionAttempt'.
    assert client.names() == ["error", "close"]
    ((err,),) = client.args("error")
    bound = "127.0.0.1" if with_address else "0.0.0.0"
    assert isinstance(err, OSError)
    assert err.errno == errno.EADDRINUSE
    assert err.code == "EADDRINUSE"  # type: ignore[attr-defined]
    assert err.syscall == "bind"  # type: ignore[attr-defined]
    assert err.address == bound  # type: ignore[attr-defined]
    assert err.port == port  # type: ignore[attr-defined]
    assert str(err) == f"bind EADDRINUSE {bound}:{port}"
    assert client.args("close") == [(True,)]
