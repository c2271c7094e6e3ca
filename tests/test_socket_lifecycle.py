"""``Socket`` lifecycle over real loopback TCP: event order, half-open, destroy, state, addresses.

Node reference: node-net-behaviour.md sections E, F, G, I, J, L, M, S and 3.3/3.4, and the
live trace 6(a). Event orders are asserted per socket; across two sockets only causal order
is asserted (the engines interleave the two ends differently).
"""

from __future__ import annotations

import gc
import hashlib
import os
import socket as _socket
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from anyio.abc import SocketAttribute

import trionet
from tests.support import Rec, listening, needs_node, run_node

pytestmark = pytest.mark.anyio


class Accepted:
    """Collects the server side sockets, each with a Rec of the usual events."""

    EVENTS = ("data", "end", "finish", "error", "close")

    def __init__(self, setup: Callable[[trionet.Socket], object] | None = None) -> None:
        self.setup = setup
        self.sockets: list[trionet.Socket] = []
        self.recs: list[Rec] = []
        self.order: list[str] = []
        self._arrived = anyio.Event()

    def __call__(self, sock: trionet.Socket) -> None:
        self.order.append("connection")
        if self.setup is not None:
            self.setup(sock)
        self.sockets.append(sock)
        self.recs.append(Rec(sock, *self.EVENTS))
        self._arrived.set()

    async def first(self, timeout: float = 5) -> tuple[trionet.Socket, Rec]:
        with anyio.fail_after(timeout):
            await self._arrived.wait()
        return self.sockets[0], self.recs[0]


async def serve(
    setup: Callable[[trionet.Socket], object] | None = None, host: str = "127.0.0.1", **options: Any
) -> tuple[trionet.Server, Accepted, int]:
    accepted = Accepted(setup)
    server = trionet.create_server(accepted, **options)
    port = await listening(server, 0, host)
    return server, accepted, port


def echo(sock: trionet.Socket) -> None:
    sock.on("data", sock.write)


async def wait(event: anyio.Event, timeout: float = 5) -> None:
    with anyio.fail_after(timeout):
        await event.wait()


async def poll(predicate: Callable[[], bool], timeout: float = 5) -> None:
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.sleep(0.002)


# -- event order --------------------------------------------------------------------------


async def test_full_exchange_event_order_both_sides() -> None:
    """Trace 6(a): the client writes and ends while connecting; the server echoes and auto-ends."""
    async with trionet.open_scope():
        server, accepted, port = await serve(echo)
        server_rec = Rec(server, "connection", "close")
        client = trionet.connect(port, "127.0.0.1")
        rec = Rec(
            client, "lookup", "connectionAttempt", "connect", "ready", "data", "end", "finish"
        )
        rec_close = Rec(client, "close", "error")
        assert client.write("hello") is True
        assert (client.connecting, client.pending, client.ready_state) == (True, True, "opening")
        assert client.end() is client
        assert client.writable_ended is True
        assert client.ready_state == "opening"
        await rec_close.wait("close")
        assert rec.names() == ["connectionAttempt", "connect", "ready", "finish", "data", "end"]
        assert rec.args("connectionAttempt") == [("127.0.0.1", port, 4)]
        assert rec.data() == b"hello"
        assert rec_close.log == [("close", False)]
        assert (client.bytes_read, client.bytes_written) == (5, 5)
        assert (client.destroyed, client.ready_state) == (True, "closed")
        server.close()
        await server_rec.wait("close")
        srv_sock, srv = accepted.sockets[0], accepted.recs[0]
        assert srv.names() == ["data", "end", "finish", "close"]
        assert srv.data() == b"hello"
        assert srv.args("close") == [(False,)]
        assert (srv_sock.bytes_read, srv_sock.bytes_written) == (5, 5)
        assert server_rec.names() == ["connection", "close"]


async def test_lookup_comes_before_connect_and_ready() -> None:
    def lookup(host: str, options: dict[str, Any], callback: Callable[..., None]) -> None:
        if options.get("all"):
            callback(None, [{"address": "127.0.0.1", "family": 4}])
        else:
            callback(None, "127.0.0.1", 4)

    async with trionet.open_scope():
        server, _accepted, port = await serve(echo)
        client = trionet.connect(port=port, host="example.test", lookup=lookup)
        rec = Rec(client, "lookup", "connectionAttempt", "connect", "ready", "close")
        await rec.wait("ready")
        assert rec.names() == ["lookup", "connectionAttempt", "connect", "ready"]
        assert rec.args("lookup") == [(None, "127.0.0.1", 4, "example.test")]
        client.end()
        await rec.wait("close")
        server.close()


async def test_connect_callback_is_a_once_listener() -> None:
    async with trionet.open_scope():
        server, _accepted, port = await serve()
        calls: list[tuple[Any, ...]] = []
        client = trionet.connect(port, "127.0.0.1", lambda *args: calls.append(args))
        rec = Rec(client, "connect", "close")
        await rec.wait("connect")
        assert calls == [()]
        assert client.listener_count("connect") == 1  # only the Rec's: the callback was once
        client.end()
        await rec.wait("close")
        server.close()


# -- end() ----------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["cb", "data_cb", "data_encoding_cb"])
async def test_end_callback_forms_run_at_finish(form: str) -> None:
    async with trionet.open_scope():
        server, accepted, port = await serve()
        client = trionet.connect(port, "127.0.0.1")
        rec = Rec(client, "connect", "finish", "close")
        await rec.wait("connect")
        order: list[Any] = []
        client.on("finish", lambda: order.append("finish"))

        def cb(err: BaseException | None) -> None:
            order.append(("cb", err, client.writable_finished))

        if form == "cb":
            result = client.end(cb)
            expected = b""
        elif form == "data_cb":
            result = client.end(b"bye", cb)
            expected = b"bye"
        else:
            result = client.end("627965", "hex", cb)
            expected = b"bye"
        assert result is client
        assert order == []
        await rec.wait("close")
        # Node v20 runs end()'s callback just before it emits 'finish'.
        assert order == [("cb", None, True), "finish"]
        _sock, srv = await accepted.first()
        await srv.wait("close")
        assert srv.data() == expected
        server.close()


async def test_end_callback_after_finish_still_runs() -> None:
    async with trionet.open_scope():
        server, _accepted, port = await serve()
        client = trionet.connect(port, "127.0.0.1", allow_half_open=True)
        rec = Rec(client, "finish", "close")
        client.end()
        await rec.wait("finish")
        calls: list[Any] = []
        assert client.end(calls.append) is client
        await poll(lambda: bool(calls))
        assert calls == [None]
        await rec.wait("close")
        server.close()


# -- half-open --------------------------------------------------------------------------------


async def test_allow_half_open_false_auto_ends_after_end_and_write_in_end_handler_works() -> None:
    async with trionet.open_scope():

        def setup(sock: trionet.Socket) -> None:
            sock.on("end", lambda: sock.write(b"bye"))  # still writable in 'end' (Node E3)

        server, accepted, port = await serve(setup)
        client = trionet.connect(port, "127.0.0.1")
        rec = Rec(client, "connect", "data", "end", "finish", "close", "error")
        assert client.allow_half_open is False
        await rec.wait("connect")
        client.write(b"hi")
        client.end()
        await rec.wait("close")
        assert rec.names() == ["connect", "finish", "data", "end", "close"]
        assert rec.data() == b"bye"
        srv_sock, srv = await accepted.first()
        await srv.wait("close")
        assert srv_sock.allow_half_open is False
        assert srv.names() == ["data", "end", "finish", "close"]
        assert srv.args("close") == [(False,)]
        server.close()


async def test_allow_half_open_false_end_fires_before_destroyed() -> None:
    async with trionet.open_scope():
        server, _accepted, port = await serve(lambda sock: sock.end(b"x"))
        client = trionet.connect(port, "127.0.0.1")
        seen: list[tuple[bool, bool]] = []
        client.on("end", lambda: seen.append((client.destroyed, client.writable)))
        rec = Rec(client, "data", "end", "finish", "close")
        await rec.wait("close")
        assert seen == [(False, True)]  # Node E2/E3
        assert rec.names() == ["data", "end", "finish", "close"]
        assert rec.args("close") == [(False,)]
        server.close()


async def test_allow_half_open_server_stays_writable_until_end() -> None:
    async with trionet.open_scope():
        states: list[tuple[str, bool]] = []
        writes: list[bool] = []

        def setup(sock: trionet.Socket) -> None:
            def on_end() -> None:
                states.append((sock.ready_state, sock.writable))

                async def later() -> None:
                    await anyio.sleep(0.05)
                    writes.append(sock.write(b"late"))
                    sock.end(b"bye")

                trionet.current_scope().spawn(later)

            sock.on("end", on_end)

        server, accepted, port = await serve(setup, allow_half_open=True)
        client = trionet.connect(port, "127.0.0.1")
        rec = Rec(client, "connect", "data", "end", "finish", "close")
        await rec.wait("connect")
        client.end(b"hi")
        assert client.ready_state == "readOnly"
        await rec.wait("finish")
        srv_sock, srv = await accepted.first()
        await srv.wait("end")
        await anyio.sleep(0.02)
        assert "end" not in rec.names()  # nothing comes back before the server's end()
        assert not srv_sock.destroyed
        await rec.wait("close")
        assert states == [("writeOnly", True)]
        assert writes == [True]
        assert rec.data() == b"latebye"
        assert rec.names()[-2:] == ["end", "close"]
        assert rec.args("close") == [(False,)]
        await srv.wait("close")
        assert srv.names() == ["data", "end", "finish", "close"]
        assert srv.args("close") == [(False,)]
        server.close()


async def test_allow_half_open_client_stays_writable_after_peer_end() -> None:
    async with trionet.open_scope():
        server, accepted, port = await serve(lambda sock: sock.end(b"first"))
        client = trionet.connect(port, "127.0.0.1", allow_half_open=True)
        rec = Rec(client, "data", "end", "finish", "close")
        await rec.wait("end")
        assert client.allow_half_open is True
        assert client.ready_state == "writeOnly"
        await anyio.sleep(0.05)
        assert not client.destroyed
        assert "finish" not in rec.names()
        assert client.write(b"answer") is True
        client.end()
        await rec.wait("close")
        assert rec.names() == ["data", "end", "finish", "close"]
        assert rec.data() == b"first"
        _sock, srv = await accepted.first()
        await srv.wait("close")
        assert srv.data() == b"answer"
        assert srv.names() == ["finish", "data", "end", "close"]
        server.close()


# -- destroy -----------------------------------------------------------------------------------


async def test_destroy_emits_only_close_false_and_peer_sees_end() -> None:
    async with trionet.open_scope():
        server, accepted, port = await serve()
        client = trionet.connect(port, "127.0.0.1")
        rec = Rec(client, "connect", "data", "end", "finish", "error", "close")
        await rec.wait("connect")
        _srv_sock, srv = await accepted.first()
        assert client.destroy() is client
        assert client.destroyed is True
        assert client.ready_state == "closed"
        assert client.destroy() is client  # a second call is a no-op
        await rec.wait("close")
        await anyio.sleep(0.02)
        assert rec.names() == ["connect", "close"]
        assert rec.args("close") == [(False,)]
        await srv.wait("close")
        assert srv.names() == ["end", "finish", "close"]
        assert srv.args("close") == [(False,)]
        server.close()


async def test_destroy_with_error_emits_error_then_close_true_once() -> None:
    async with trionet.open_scope():
        server, accepted, port = await serve()
        client = trionet.connect(port, "127.0.0.1")
        rec = Rec(client, "connect", "end", "finish", "error", "close")
        await rec.wait("connect")
        boom = RuntimeError("boom")
        assert client.destroy(boom) is client
        assert client.destroyed is True
        assert client.ready_state == "closed"
        assert client.destroy(RuntimeError("two")) is client  # ignored
        assert client.destroy() is client
        assert rec.names() == ["connect"]  # 'error' and 'close' come later
        await rec.wait("close")
        await anyio.sleep(0.02)
        assert rec.names() == ["connect", "error", "close"]
        assert rec.args("error") == [(boom,)]
        assert rec.args("close") == [(True,)]
        _sock, srv = await accepted.first()
        await srv.wait("close")
        server.close()


async def test_destroy_in_error_handler_gives_one_close() -> None:
    async with trionet.open_scope():
        server, _accepted, port = await serve()
        client = trionet.connect(port, "127.0.0.1")
        rec = Rec(client, "connect", "error", "close")
        client.on("error", lambda err: client.destroy())
        await rec.wait("connect")
        client.destroy(RuntimeError("x"))
        await rec.wait("close")
        await anyio.sleep(0.02)
        assert rec.names() == ["connect", "error", "close"]
        server.close()


async def test_destroy_never_connected_socket_emits_close() -> None:
    async with trionet.open_scope():
        sock = trionet.Socket()
        rec = Rec(sock, "close", "error")
        assert sock.destroy() is sock
        assert sock.destroyed is True
        await rec.wait("close")
        # Node passes no argument here (no OS handle); trionet always passes a bool.
        assert rec.log == [("close", False)]


async def test_destroy_while_connecting_emits_neither_connect_nor_error() -> None:
    async with trionet.open_scope():
        server, _accepted, port = await serve()
        client = trionet.connect(port, "127.0.0.1")
        rec = Rec(client, "connect", "error", "close")
        client.destroy()
        server.close()  # even with the server gone (Node M5)
        await rec.wait("close")
        await anyio.sleep(0.05)
        assert rec.log == [("close", False)]


async def test_reset_and_destroy_peer_sees_econnreset() -> None:
    async with trionet.open_scope():
        server, accepted, port = await serve(lambda sock: sock.resume())
        client = trionet.connect(port, "127.0.0.1")
        rec = Rec(client, "connect", "end", "error", "close")
        await rec.wait("connect")
        _srv_sock, srv = await accepted.first()
        assert client.reset_and_destroy() is client
        assert client.destroyed is True
        await rec.wait("close")
        assert rec.names() == ["connect", "close"]
        assert rec.args("close") == [(False,)]
        await srv.wait("close")
        assert srv.names() == ["error", "close"]
        (err,) = srv.args("error")[0]
        assert isinstance(err, ConnectionResetError)
        assert err.code == "ECONNRESET"  # type: ignore[attr-defined]
        assert err.syscall == "read"  # type: ignore[attr-defined]
        assert str(err) == "read ECONNRESET"
        assert srv.args("close") == [(True,)]
        server.close()


async def test_reset_and_destroy_while_connecting_resets_once_connected() -> None:
    async with trionet.open_scope():
        server, accepted, port = await serve(lambda sock: sock.resume())
        client = trionet.connect(port, "127.0.0.1")
        rec = Rec(client, "connect", "error", "close")
        assert client.reset_and_destroy() is client
        await rec.wait("close")
        assert rec.names() == ["connect", "close"]
        _sock, srv = await accepted.first()
        await srv.wait("close")
        assert srv.names() == ["error", "close"]
        assert srv.args("error")[0][0].code == "ECONNRESET"
        server.close()


async def test_reset_and_destroy_without_handle_is_socket_closed() -> None:
    async with trionet.open_scope():
        sock = trionet.Socket()
        rec = Rec(sock, "error", "close")
        assert sock.reset_and_destroy() is sock
        await rec.wait("close")
        assert rec.names() == ["error", "close"]
        err = rec.args("error")[0][0]
        assert err.code == "ERR_SOCKET_CLOSED"
        assert str(err) == "Socket is closed"
        assert rec.args("close") == [(True,)]


# -- state ------------------------------------------------------------------------------------


async def test_connecting_pending_ready_state_destroyed_transitions() -> None:
    async with trionet.open_scope():
        server, _accepted, port = await serve(echo)
        client = trionet.Socket()
        # A never-connected socket reports 'open' (Node's quirk G8).
        assert (client.connecting, client.pending, client.ready_state) == (False, True, "open")
        assert client.destroyed is False
        snapshots: dict[str, tuple[Any, ...]] = {}

        def snap(name: str) -> Callable[..., None]:
            def record(*args: Any) -> None:
                snapshots[name] = (
                    client.connecting,
                    client.pending,
                    client.ready_state,
                    client.destroyed,
                )

            return record

        for name in ("connect", "ready", "finish", "end", "close"):
            client.on(name, snap(name))
        client.on("data", lambda data: None)
        assert client.connect(port, "127.0.0.1") is client
        assert (client.connecting, client.pending, client.ready_state) == (True, True, "opening")
        client.write(b"x")
        assert client.ready_state == "opening"
        done = anyio.Event()
        client.on("close", lambda had_error: done.set())
        await trionet.once(client, "connect")
        assert snapshots["connect"] == (False, False, "open", False)
        assert snapshots["ready"] == (False, False, "open", False)
        client.end()
        assert client.ready_state == "readOnly"
        await wait(done)
        assert snapshots["finish"] == (False, False, "readOnly", False)
        assert snapshots["close"] == (False, True, "closed", True)
        assert (client.connecting, client.pending, client.ready_state) == (False, True, "closed")
        server.close()


async def test_addresses_and_ports_on_both_ends_and_after_close() -> None:
    async with trionet.open_scope():
        server, accepted, port = await serve(echo)
        client = trionet.Socket()
        assert client.address() == {}
        before = (client.remote_address, client.remote_port, client.remote_family)
        assert before == (None, None, None)
        assert (client.local_address, client.local_port) == (None, None)
        client.connect(port, "127.0.0.1")
        # While connecting, reading them never raises (Node G18).
        assert (client.remote_address, client.remote_port) == (None, None)
        rec = Rec(client, "connect", "close")
        await rec.wait("connect")
        assert client.remote_address == "127.0.0.1"
        assert client.remote_port == port
        assert client.remote_family == "IPv4"
        assert client.local_address == "127.0.0.1"
        assert client.local_family == "IPv4"
        local_port = client.local_port
        assert isinstance(local_port, int) and local_port > 0 and local_port != port
        assert client.address() == {"address": "127.0.0.1", "family": "IPv4", "port": local_port}
        srv_sock, _srv = await accepted.first()
        assert srv_sock.local_address == "127.0.0.1"
        assert srv_sock.local_port == port
        assert srv_sock.local_family == "IPv4"
        assert srv_sock.remote_address == "127.0.0.1"
        assert srv_sock.remote_port == local_port  # Node G16
        assert srv_sock.remote_family == "IPv4"
        assert srv_sock.address() == {"address": "127.0.0.1", "family": "IPv4", "port": port}
        in_close: list[Any] = []
        client.on(
            "close",
            lambda had_error: in_close.append(
                (client.address(), client.local_port, client.remote_address, client.remote_port)
            ),
        )
        client.end()
        await rec.wait("close")
        # Node v20: the local end is gone once closed; the remote end stays readable (cached).
        assert in_close == [({}, None, "127.0.0.1", port)]
        assert client.address() == {}
        local_after: tuple[object, ...] = (
            client.local_address,
            client.local_port,
            client.local_family,
        )
        assert local_after == (None, None, None)
        assert (client.remote_address, client.remote_port) == ("127.0.0.1", port)
        server.close()


def _have_ipv6() -> bool:
    try:
        with _socket.socket(_socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _have_ipv6(), reason="no IPv6 loopback")
async def test_ipv6_addresses() -> None:
    async with trionet.open_scope():
        server, accepted, port = await serve(echo, host="::1")
        client = trionet.connect(port, "::1")
        rec = Rec(client, "connect", "close")
        await rec.wait("connect")
        assert (client.remote_address, client.remote_port, client.remote_family) == (
            "::1",
            port,
            "IPv6",
        )
        assert client.address() == {
            "address": "::1",
            "family": "IPv6",
            "port": client.local_port,
        }
        srv_sock, _srv = await accepted.first()
        assert (srv_sock.local_address, srv_sock.local_family) == ("::1", "IPv6")
        assert srv_sock.remote_port == client.local_port
        client.end()
        await rec.wait("close")
        server.close()


async def test_bytes_read_grows_with_each_data_and_survives_close() -> None:
    async with trionet.open_scope():

        def setup(sock: trionet.Socket) -> None:
            async def talk() -> None:
                for part in (b"a" * 10, b"b" * 100, b"c" * 1000):
                    sock.write(part)
                    await anyio.sleep(0.02)
                sock.end()

            trionet.current_scope().spawn(talk)

        server, _accepted, port = await serve(setup)
        client = trionet.connect(port, "127.0.0.1")
        seen: list[int] = []
        client.on("data", lambda data: seen.append(client.bytes_read))
        at_end: list[int] = []
        client.on("end", lambda: at_end.append(client.bytes_read))
        rec = Rec(client, "close")
        await rec.wait("close")
        assert seen == sorted(seen) and len(set(seen)) == len(seen)
        assert seen[-1] == 1110
        assert at_end == [1110]
        assert client.bytes_read == 1110  # kept after close
        assert client.bytes_written == 0
        server.close()


# -- pause / resume / encoding -----------------------------------------------------------------


async def test_pause_before_connect_then_resume_delivers_everything_in_order() -> None:
    async with trionet.open_scope():

        def setup(sock: trionet.Socket) -> None:
            async def talk() -> None:
                for i in range(5):
                    sock.write(b"<%d>" % i)
                    await anyio.sleep(0.01)
                sock.end()

            trionet.current_scope().spawn(talk)

        server, _accepted, port = await serve(setup)
        client = trionet.connect(port, "127.0.0.1")
        assert client.pause() is client
        assert client.is_paused() is True
        rec = Rec(client, "data", "end", "close")
        await anyio.sleep(0.15)  # everything has been sent by now
        assert rec.names() == []  # paused: no 'data', and no 'end' while data is unread
        assert client.resume() is client
        assert client.is_paused() is False
        await rec.wait("close")
        assert rec.names() == ["data"] * (len(rec.names()) - 2) + ["end", "close"]
        assert rec.data() == b"<0><1><2><3><4>"
        server.close()


async def test_pause_mid_stream_holds_data_until_resume() -> None:
    async with trionet.open_scope():
        go = anyio.Event()

        def setup(sock: trionet.Socket) -> None:
            async def talk() -> None:
                sock.write(b"first")
                await wait(go)
                sock.write(b"second")
                await anyio.sleep(0.02)
                sock.end(b"third")

            trionet.current_scope().spawn(talk)

        server, _accepted, port = await serve(setup)
        client = trionet.connect(port, "127.0.0.1")
        rec = Rec(client, "data", "end", "close")
        await rec.wait("data")
        client.pause()
        go.set()
        await anyio.sleep(0.1)
        assert rec.data() == b"first"
        assert "end" not in rec.names()
        client.resume()
        await rec.wait("close")
        assert rec.data() == b"firstsecondthird"
        assert rec.names()[-2:] == ["end", "close"]
        server.close()


async def test_set_encoding_keeps_a_split_multibyte_character_whole() -> None:
    async with trionet.open_scope():

        def setup(sock: trionet.Socket) -> None:
            sock.set_no_delay(True)

            async def talk() -> None:
                sock.write(b"\xe2")  # the first byte of the euro sign
                await anyio.sleep(0.05)
                sock.write(b"\x82\xacuro")
                await anyio.sleep(0.02)
                sock.end()

            trionet.current_scope().spawn(talk)

        server, _accepted, port = await serve(setup)
        client = trionet.connect(port, "127.0.0.1")
        assert client.set_encoding("UTF8") is client
        rec = Rec(client, "data", "end", "close")
        await rec.wait("close")
        # Node J2: one chunk '€uro', never an empty or a partial one.
        assert rec.args("data") == [("€uro",)]
        assert client.bytes_read == 6
        server.close()


async def test_set_encoding_flushes_an_incomplete_character_at_end() -> None:
    async with trionet.open_scope():
        server, _accepted, port = await serve(lambda sock: sock.end(b"ok\xe2\x82"))
        client = trionet.connect(port, "127.0.0.1")
        client.set_encoding("utf8")
        rec = Rec(client, "data", "end", "close")
        await rec.wait("close")
        assert rec.data() == "ok\ufffd"  # as Node's StringDecoder.end()
        assert rec.names()[-2:] == ["end", "close"]
        server.close()


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [("latin1", "\xff\x00A"), ("hex", "ff0041"), ("base64", "/wBB"), ("ascii", "\x7f\x00A")],
)
async def test_set_encoding_other_encodings(encoding: str, expected: str) -> None:
    async with trionet.open_scope():
        server, _accepted, port = await serve(lambda sock: sock.end(b"\xff\x00A"))
        client = trionet.connect(port, "127.0.0.1")
        client.set_encoding(encoding)
        rec = Rec(client, "data", "close")
        await rec.wait("close")
        assert rec.data() == expected
        server.close()


# -- options ------------------------------------------------------------------------------------


def _sockopt(sock: trionet.Socket, level: int, name: int) -> int:
    raw: _socket.socket = sock.extra(SocketAttribute.raw_socket)
    return raw.getsockopt(level, name)


async def test_set_no_delay_and_keep_alive_return_self_apply_and_never_throw() -> None:
    async with trionet.open_scope():
        server, _accepted, port = await serve()
        client = trionet.Socket()
        # Before connecting: remembered, applied once connected (Node L3/L10).
        assert client.set_no_delay() is client
        assert client.set_keep_alive(True, 456.9) is client
        client.connect(port, "127.0.0.1")
        rec = Rec(client, "connect", "close")
        await rec.wait("connect")
        assert _sockopt(client, _socket.IPPROTO_TCP, _socket.TCP_NODELAY) == 1
        assert _sockopt(client, _socket.SOL_SOCKET, _socket.SO_KEEPALIVE) == 1
        if hasattr(_socket, "TCP_KEEPIDLE"):
            assert _sockopt(client, _socket.IPPROTO_TCP, _socket.TCP_KEEPIDLE) == 456
        assert client.set_no_delay(False) is client
        assert _sockopt(client, _socket.IPPROTO_TCP, _socket.TCP_NODELAY) == 0
        assert client.set_keep_alive(False) is client
        assert _sockopt(client, _socket.SOL_SOCKET, _socket.SO_KEEPALIVE) == 0
        client.destroy()
        await rec.wait("close")
        # After close: still chainable, never raising (Node G17).
        assert client.set_no_delay(True) is client
        assert client.set_keep_alive(True, 10) is client
        assert client.pause() is client
        assert client.resume() is client
        assert client.address() == {}
        assert client.buffer_size is None
        assert client.remote_port == port
        server.close()


async def test_nagle_stays_on_by_default() -> None:
    async with trionet.open_scope():
        server, accepted, port = await serve()
        client = trionet.connect(port, "127.0.0.1")
        rec = Rec(client, "connect", "close")
        await rec.wait("connect")
        srv_sock, _srv = await accepted.first()
        assert _sockopt(client, _socket.IPPROTO_TCP, _socket.TCP_NODELAY) == 0
        assert _sockopt(srv_sock, _socket.IPPROTO_TCP, _socket.TCP_NODELAY) == 0
        assert _sockopt(client, _socket.SOL_SOCKET, _socket.SO_KEEPALIVE) == 0
        client.end()
        await rec.wait("close")
        server.close()


# -- pipe ---------------------------------------------------------------------------------------


@pytest.mark.bound(60)
async def test_pipe_between_two_connections_with_backpressure() -> None:
    size = 8 * 1024 * 1024  # more than loopback's kernel buffers hold
    payload = hashlib.shake_256(b"pipe").digest(size)
    async with trionet.open_scope():
        current = trionet.current_scope()
        # The source: sends the payload and ends.
        source_server, _src, source_port = await serve(lambda sock: sock.end(payload))
        # The sink: a slow reader that hashes what arrives.
        digest = hashlib.sha256()
        got = {"bytes": 0, "chunks": 0}
        sink_done = anyio.Event()

        def slow_reader(sock: trionet.Socket) -> None:
            sock.pause()

            def on_data(chunk: bytes) -> None:
                digest.update(chunk)
                got["bytes"] += len(chunk)
                got["chunks"] += 1
                if got["chunks"] % 8 == 0:
                    sock.pause()
                    current.spawn(resume_later, sock)

            sock.on("data", on_data)
            sock.on("end", sink_done.set)
            current.spawn(resume_later, sock, 0.2)  # a late start: the kernel buffers fill up

        async def resume_later(sock: trionet.Socket, delay: float = 0.005) -> None:
            await anyio.sleep(delay)
            sock.resume()

        sink_server, _sink, sink_port = await serve(slow_reader)
        destination = trionet.connect(sink_port, "127.0.0.1")
        source = trionet.connect(source_port, "127.0.0.1")
        paused_at_drain: list[bool] = []
        destination.on("drain", lambda: paused_at_drain.append(source.is_paused()))
        assert source.pipe(destination) is destination
        rec_src = Rec(source, "end", "close")
        rec_dst = Rec(destination, "finish", "close")
        await wait(sink_done, 45)
        await rec_src.wait("close")
        await rec_dst.wait("close")
        assert got["bytes"] == size
        assert digest.hexdigest() == hashlib.sha256(payload).hexdigest()
        assert paused_at_drain and any(paused_at_drain)  # the source was held back
        assert destination.bytes_written == size
        assert source.bytes_read == size
        source_server.close()
        sink_server.close()


# -- reconnect ------------------------------------------------------------------------------------


async def test_reconnect_from_close_handler() -> None:
    rounds = 3
    async with trionet.open_scope():
        remote_ports: list[int | None] = []

        def setup(sock: trionet.Socket) -> None:
            remote_ports.append(sock.remote_port)
            sock.resume()
            sock.end(b"hello!")

        server, _accepted, port = await serve(setup)
        client = trionet.Socket()
        client.set_encoding("utf8")
        log: list[Any] = []
        local_ports: list[int | None] = []
        done = anyio.Event()

        def on_connect() -> None:
            local_ports.append(client.local_port)
            log.append(("connect", client.bytes_written))
            client.write(b"ping!!")

        def on_close(had_error: bool) -> None:
            log.append(("close", had_error, client.bytes_read, client.bytes_written))
            if len(local_ports) < rounds:
                client.connect(port, "127.0.0.1")
            else:
                done.set()

        client.on("connect", on_connect)
        client.on("data", lambda data: log.append(("data", data)))
        client.on("end", lambda: log.append(("end",)))
        client.on("close", on_close)
        client.connect(port, "127.0.0.1")
        await wait(done, 10)
        one_round = [
            ("connect", 0),
            ("data", "hello!"),
            ("end",),
            ("close", False, 6, 6),  # counters are per connection (Node I5)
        ]
        assert log == one_round * rounds
        assert len(set(local_ports)) == rounds  # a new local port each time (Node G16)
        assert remote_ports == local_ports
        server.close()


# -- fd leaks -------------------------------------------------------------------------------------


def _fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_error_paths_leave_no_file_descriptors_behind() -> None:
    refused = _socket.socket()
    refused.bind(("127.0.0.1", 0))  # bound, not listening: connects are refused
    refused_port = refused.getsockname()[1]
    try:
        async with trionet.open_scope():
            server, _accepted, port = await serve(lambda sock: sock.on("error", lambda e: None))
            # A first clean round, so that per-loop descriptors (uvloop keeps a reserve fd
            # once it accepts) exist before counting.
            warm = trionet.connect(port, "127.0.0.1")
            warm_rec = Rec(warm, "close")
            warm.end()
            await warm_rec.wait("close")
            gc.collect()
            before = _fd_count()
            for _ in range(5):
                # connect refused
                c1 = trionet.connect(refused_port, "127.0.0.1")
                r1 = Rec(c1, "error", "close")
                # destroy(err) after connecting
                c2 = trionet.connect(port, "127.0.0.1")
                r2 = Rec(c2, "connect", "error", "close")
                # destroy while connecting
                c3 = trionet.connect(port, "127.0.0.1")
                r3 = Rec(c3, "close")
                c3.destroy()
                # reset_and_destroy
                c4 = trionet.connect(port, "127.0.0.1")
                r4 = Rec(c4, "connect", "close")
                # write after end
                c5 = trionet.connect(port, "127.0.0.1")
                r5 = Rec(c5, "connect", "error", "close")
                await r2.wait("connect")
                c2.destroy(RuntimeError("boom"))
                await r4.wait("connect")
                c4.reset_and_destroy()
                await r5.wait("connect")
                c5.end()
                c5.write(b"late")
                for rec in (r1, r2, r3, r4, r5):
                    await rec.wait("close")
                assert r1.args("error")[0][0].code == "ECONNREFUSED"
                assert r2.names() == ["connect", "error", "close"]
                assert r5.args("error")[0][0].code == "ERR_STREAM_WRITE_AFTER_END"
            # The server side closes its ends too (after EOF or RST); the loop may take a moment.
            with anyio.fail_after(2):
                while _fd_count() > before:
                    await anyio.sleep(0.01)
                    gc.collect()
            assert _fd_count() == before
            server.close()
    finally:
        refused.close()


async def test_write_after_the_automatic_end_is_node_epipe() -> None:
    """allow_half_open=False: after 'end' the socket ends itself; a later write is EPIPE."""
    events: list[Any] = []
    async with trionet.open_scope():
        done = anyio.Event()

        def on_connection(sock: trionet.Socket) -> None:
            sock.resume()

            def on_end() -> None:
                assert sock.write(b"in the end listener") is True  # still allowed

                def later() -> None:
                    ok = sock.write(b"too late", lambda err: events.append(("cb", err)))
                    events.append(("write", ok))

                trionet.current_scope().call_soon(later)

            sock.on("end", on_end)
            sock.on("error", lambda err: events.append(("error", err)))
            sock.on("close", lambda had_error: (events.append(("close", had_error)), done.set()))

        server = trionet.create_server(on_connection)
        port = await listening(server)
        client = trionet.connect(port, "127.0.0.1")
        received: list[bytes] = []
        client.on("data", received.append)
        client.on("error", lambda err: None)
        client.end()
        with anyio.fail_after(5):
            await done.wait()
        server.close()
    assert events[0] == ("write", False)
    kinds = [e[0] for e in events]
    assert kinds == ["write", "cb", "error", "close"]
    err = events[2][1]
    assert isinstance(err, BrokenPipeError)
    assert err.code == "EPIPE"
    assert str(err) == "This socket has been ended by the other party"
    assert events[1][1] is err
    assert events[3] == ("close", True)
    assert b"".join(received) == b"in the end listener"


# -- addresses ----------------------------------------------------------------------------

_NODE_ADDRESSES_AFTER_CLOSE = r"""
const net = require('net');
const out = {};
const srv = net.createServer((s) => {
  if (process.argv.includes('read')) out.read = [s.remoteAddress, s.remotePort, s.localPort];
  s.on('close', () => {
    out.server = [s.remoteAddress ?? null, s.remotePort ?? null, s.localPort ?? null];
    out.address = s.address();
    srv.close(() => console.log(JSON.stringify(out)));
  });
  s.end();
});
srv.listen(0, '127.0.0.1', () => {
  const c = net.connect(srv.address().port, '127.0.0.1');
  c.resume();
});
"""


def _names_after_close(read: bool) -> Callable[[], Any]:
    async def scenario() -> dict[str, Any]:
        out: dict[str, Any] = {}
        closed = anyio.Event()

        def on_connection(sock: trionet.Socket) -> None:
            if read:
                out["read"] = [sock.remote_address, sock.remote_port, sock.local_port]

            def on_close(had_error: bool) -> None:
                out["server"] = [sock.remote_address, sock.remote_port, sock.local_port]
                out["address"] = sock.address()
                closed.set()

            sock.on("close", on_close)
            sock.end()

        async with trionet.open_scope():
            server = trionet.create_server(on_connection)
            port = await listening(server, 0, "127.0.0.1")
            client = trionet.connect(port, "127.0.0.1")
            client.resume()
            await wait(closed)
            server.close()
        if read:
            assert out["read"][0] == "127.0.0.1" and out["read"][2] == port
        return out

    return scenario


@pytest.mark.parametrize("read", [False, True], ids=["never-read", "read-while-open"])
async def test_addresses_after_close_are_those_read_while_open(read: bool) -> None:
    # Node reads each address on first use and caches it; once the handle is
    # closed only what was read is left, and address() is {} (trace below).
    out = await _names_after_close(read)()
    if read:
        assert out["server"] == [*out["read"][:2], None]
        assert out["server"][0] == "127.0.0.1"
    else:
        assert out["server"] == [None, None, None]
    assert out["address"] == {}


@needs_node
@pytest.mark.parametrize("read", [False, True], ids=["never-read", "read-while-open"])
async def test_addresses_after_close_match_node(read: bool) -> None:
    (node,) = await run_node(_NODE_ADDRESSES_AFTER_CLOSE, "read" if read else "no")
    ours = await _names_after_close(read)()
    shape = lambda names: [v is not None for v in names]  # noqa: E731 (ports differ per run)
    assert shape(ours["server"]) == shape(node["server"])
    assert ours["address"] == node["address"] == {}
