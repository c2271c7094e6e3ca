"""The structured face of ``Socket``: an anyio ``ByteStream`` over real loopback TCP (and TLS).

SPEC.md section 6, "Structured use": ``async for``, ``receive``, ``send`` (backpressure),
``send_eof``, ``aclose`` (graceful), ``extra(SocketAttribute...)``, and wrapping by anything
that takes a ``ByteStream`` (here anyio's ``TLSStream``).
"""

from __future__ import annotations

import hashlib
import socket as _socket
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
import trustme
from anyio.abc import ByteStream, SocketAttribute
from anyio.streams.tls import TLSListener, TLSStream

import trionet
from tests.support import listening

pytestmark = pytest.mark.anyio


class Peer:
    """The server end as Node code would write it: event listeners, collecting what arrives."""

    def __init__(self) -> None:
        self.sockets: list[trionet.Socket] = []
        self.chunks: list[bytes] = []
        self.events: list[str] = []
        self.ended = anyio.Event()
        self.closed = anyio.Event()
        self.arrived = anyio.Event()

    def attach(self, sock: trionet.Socket, *, read: bool = True) -> None:
        self.sockets.append(sock)
        if read:
            sock.on("data", self.chunks.append)
        sock.on("end", self._on_end)
        sock.on("error", lambda err: self.events.append(f"error {err}"))
        sock.on("close", self._on_close)
        self.arrived.set()

    def _on_end(self) -> None:
        self.events.append("end")
        self.ended.set()

    def _on_close(self, had_error: bool) -> None:
        self.events.append("close")
        self.closed.set()

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks)

    async def first(self) -> trionet.Socket:
        await wait(self.arrived)
        return self.sockets[0]


async def wait(event: anyio.Event, timeout: float = 5) -> None:
    with anyio.fail_after(timeout):
        await event.wait()


async def server_with(
    handler: Callable[[trionet.Socket], object], **options: Any
) -> tuple[trionet.Server, int]:
    server = trionet.create_server(handler, **options)
    return server, await listening(server)


def spawn(fn: Callable[..., Awaitable[object]], *args: Any) -> None:
    trionet.current_scope().spawn(fn, *args)


def talker(*parts: bytes, delay: float = 0.01) -> Callable[[trionet.Socket], None]:
    """A connection handler that writes ``parts`` a little apart, then ends."""

    def handler(sock: trionet.Socket) -> None:
        async def talk() -> None:
            for part in parts:
                sock.write(part)
                await anyio.sleep(delay)
            sock.end()

        spawn(talk)

    return handler


# -- reading --------------------------------------------------------------------------------------


async def test_async_for_reads_every_chunk_until_eof() -> None:
    async with trionet.open_scope():
        server, port = await server_with(talker(b"one ", b"two ", b"three"))
        client = trionet.connect(port, "127.0.0.1")
        assert isinstance(client, ByteStream)
        chunks = [chunk async for chunk in client]
        assert all(isinstance(chunk, bytes) and chunk for chunk in chunks)
        assert b"".join(chunks) == b"one two three"
        assert client.bytes_read == 13
        await client.aclose()
        server.close()


async def test_receive_respects_max_bytes() -> None:
    async with trionet.open_scope():
        server, port = await server_with(lambda sock: sock.end(b"0123456789"))
        client = trionet.connect(port, "127.0.0.1")
        chunks: list[bytes] = []
        with anyio.fail_after(5):
            while True:
                try:
                    chunks.append(await client.receive(4))
                except anyio.EndOfStream:
                    break
        assert all(0 < len(chunk) <= 4 for chunk in chunks)
        assert b"".join(chunks) == b"0123456789"
        assert len(chunks) >= 3
        await client.aclose()
        server.close()


async def test_end_of_stream_after_fin_repeats_while_half_open() -> None:
    async with trionet.open_scope():
        server, port = await server_with(lambda sock: sock.resume().end(b"bye"))
        client = trionet.connect(port, "127.0.0.1", allow_half_open=True)
        with anyio.fail_after(5):
            assert await client.receive() == b"bye"
            with pytest.raises(anyio.EndOfStream):
                await client.receive()
            with pytest.raises(anyio.EndOfStream):
                await client.receive()
        assert client.readable_ended is True
        # The writing side is still open: half-open.
        await client.send(b"late answer")
        await client.aclose()
        server.close()


async def test_end_event_still_fires_for_a_structured_reader() -> None:
    async with trionet.open_scope():
        server, port = await server_with(lambda sock: sock.end(b"x"))
        client = trionet.connect(port, "127.0.0.1")
        events: list[str] = []
        client.on("end", lambda: events.append("end"))
        client.on("close", lambda had_error: events.append(f"close {had_error}"))
        assert [chunk async for chunk in client] == [b"x"]
        with anyio.fail_after(5):
            while "close False" not in events:
                await anyio.sleep(0.001)
        assert events == ["end", "close False"]
        server.close()


# -- writing --------------------------------------------------------------------------------------


async def test_send_waits_while_over_the_high_water_mark() -> None:
    async with trionet.open_scope():
        peer = Peer()

        def on_connection(sock: trionet.Socket) -> None:
            sock.pause()  # a peer that does not read yet
            peer.attach(sock)

        server, port = await server_with(on_connection)
        client = trionet.connect(port, "127.0.0.1")
        block = b"z" * (1 << 20)
        sent = 0
        # Without a reader, a send() eventually has to wait for the queue to drain.
        with anyio.move_on_after(0.5) as scope:
            while sent < 64:
                await client.send(block)
                sent += 1
        assert scope.cancelled_caught, "send() never waited"
        assert client.writable_length >= client.writable_high_water_mark
        blocked_at = sent

        done = anyio.Event()

        async def one_more() -> None:
            await client.send(b"last")
            done.set()

        spawn(one_more)
        await anyio.sleep(0.1)
        assert not done.is_set()  # still waiting: the queue is over its mark
        (await peer.first()).resume()
        await wait(done, 10)
        await client.aclose()
        await wait(peer.ended, 10)
        # Everything handed to a send() that returned arrived; the interrupted one may too.
        assert peer.data.endswith(b"last")
        assert len(peer.data) - 4 in (blocked_at * len(block), (blocked_at + 1) * len(block))
        server.close()


async def test_send_eof_peer_sees_eof_and_we_can_still_read() -> None:
    async with trionet.open_scope():

        def on_connection(sock: trionet.Socket) -> None:
            got: list[bytes] = []
            sock.on("data", got.append)
            sock.on("end", lambda: sock.end(b"you said: " + b"".join(got)))

        server, port = await server_with(on_connection, allow_half_open=True)
        client = trionet.connect(port, "127.0.0.1")
        finish: list[str] = []
        client.on("finish", lambda: finish.append("finish"))
        await client.send(b"hello")
        await client.send_eof()
        assert finish == ["finish"]  # send_eof() returns once the FIN is out
        assert client.writable_ended is True
        with pytest.raises(anyio.ClosedResourceError):
            await client.send(b"more")
        reply = b"".join([chunk async for chunk in client])
        assert reply == b"you said: hello"
        server.close()


async def test_aclose_is_graceful_peer_receives_everything_then_eof() -> None:
    size = 4 * 1024 * 1024
    payload = hashlib.shake_256(b"aclose").digest(size)
    async with trionet.open_scope():
        peer = Peer()
        server, port = await server_with(peer.attach)
        client = trionet.connect(port, "127.0.0.1")
        assert client.write(payload) is False  # queued while connecting
        events: list[str] = []
        client.on("finish", lambda: events.append("finish"))
        client.on("close", lambda had_error: events.append(f"close {had_error}"))
        await client.aclose()
        assert client.destroyed is True
        assert "finish" in events
        await wait(peer.ended, 10)
        assert len(peer.data) == size
        assert peer.data == payload
        await wait(peer.closed)
        assert peer.events == ["end", "close"]
        with anyio.fail_after(5):
            while "close False" not in events:
                await anyio.sleep(0.001)
        assert events == ["finish", "close False"]
        server.close()


# -- after close ----------------------------------------------------------------------------------


async def test_receive_and_send_after_aclose_raise_closed_resource_error() -> None:
    async with trionet.open_scope():
        server, port = await server_with(lambda sock: sock.resume())
        client = trionet.connect(port, "127.0.0.1")
        await client.send(b"hi")
        await client.aclose()
        with pytest.raises(anyio.ClosedResourceError):
            await client.receive()
        with pytest.raises(anyio.ClosedResourceError):
            await client.send(b"x")
        await client.aclose()  # closing twice is fine
        server.close()


async def test_receive_after_destroy_with_error_is_broken() -> None:
    async with trionet.open_scope():
        server, port = await server_with(lambda sock: sock.resume())
        client = trionet.connect(port, "127.0.0.1")
        errors: list[BaseException] = []
        client.on("error", errors.append)
        await client.send(b"hi")
        boom = RuntimeError("boom")
        client.destroy(boom)
        with pytest.raises(anyio.BrokenResourceError):
            await client.receive()
        with pytest.raises(anyio.BrokenResourceError):
            await client.send(b"x")
        with anyio.fail_after(5):
            while not errors:
                await anyio.sleep(0.001)
        assert errors == [boom]
        server.close()


async def test_a_waiting_receive_is_woken_by_destroy() -> None:
    async with trionet.open_scope():
        server, port = await server_with(lambda sock: None)
        client = trionet.connect(port, "127.0.0.1")
        outcome: list[type[BaseException]] = []

        async def reader() -> None:
            try:
                await client.receive()
            except (anyio.ClosedResourceError, anyio.BrokenResourceError) as exc:
                outcome.append(type(exc))

        spawn(reader)
        await anyio.sleep(0.05)
        client.destroy()
        with anyio.fail_after(5):
            while not outcome:
                await anyio.sleep(0.001)
        assert outcome == [anyio.ClosedResourceError]
        server.close()


# -- typed attributes -----------------------------------------------------------------------------


async def test_extra_socket_attributes() -> None:
    async with trionet.open_scope():
        peer = Peer()
        server, port = await server_with(peer.attach)
        client = trionet.connect(port, "127.0.0.1")
        await trionet.once(client, "connect")
        assert client.extra(SocketAttribute.family) == _socket.AF_INET
        assert client.extra(SocketAttribute.remote_address) == ("127.0.0.1", port)
        assert client.extra(SocketAttribute.remote_port) == port
        local = client.extra(SocketAttribute.local_address)
        assert local == ("127.0.0.1", client.local_port)
        assert client.extra(SocketAttribute.local_port) == client.local_port
        raw = client.extra(SocketAttribute.raw_socket)
        assert raw.getsockname() == local
        assert raw.getpeername() == ("127.0.0.1", port)
        srv_sock = await peer.first()
        assert srv_sock.extra(SocketAttribute.local_port) == port
        assert srv_sock.extra(SocketAttribute.remote_port) == client.local_port
        await client.aclose()
        server.close()


# -- TLS on top -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    return server_context, client_context


async def _tls_echo(stream: TLSStream) -> None:
    """Echo upper-cased until the peer closes."""
    async with stream:
        while True:
            try:
                data = await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return
            await stream.send(data.upper())


async def _tls_client_exchange(port: int, client_context: ssl.SSLContext) -> None:
    sock = trionet.connect(port, "127.0.0.1")
    tls = await TLSStream.wrap(
        sock, hostname="localhost", ssl_context=client_context, standard_compatible=False
    )
    assert tls.extra(SocketAttribute.remote_port) == port  # passes through to the Socket
    assert tls.extra(SocketAttribute.raw_socket) is sock.extra(SocketAttribute.raw_socket)
    payload = hashlib.shake_256(b"tls").hexdigest(128 * 1024).encode()  # lower-case hex
    received = bytearray()

    async def read_back() -> None:
        while len(received) < len(payload):
            received.extend(await tls.receive())

    async with anyio.create_task_group() as tg:
        tg.start_soon(read_back)
        for i in range(0, len(payload), 10000):
            await tls.send(payload[i : i + 10000])
    assert bytes(received) == payload.upper()
    assert sock.bytes_written > len(payload)  # TLS records carry some overhead
    await tls.aclose()
    assert sock.destroyed is True


async def test_tls_client_over_trionet_socket_against_anyio_tls_listener(
    tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_context, client_context = tls_contexts
    async with trionet.open_scope():
        tcp = await anyio.create_tcp_listener(local_host="127.0.0.1")
        port = tcp.extra(SocketAttribute.local_port)
        listener = TLSListener(tcp, server_context, standard_compatible=False)
        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, _tls_echo)
            with anyio.fail_after(10):
                await _tls_client_exchange(port, client_context)
            tg.cancel_scope.cancel()
        await listener.aclose()


async def test_tls_both_ends_over_trionet_sockets(
    tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_context, client_context = tls_contexts
    async with trionet.open_scope():
        served = anyio.Event()

        def on_connection(sock: trionet.Socket) -> None:
            async def serve_tls() -> None:
                tls = await TLSStream.wrap(
                    sock, server_side=True, ssl_context=server_context, standard_compatible=False
                )
                await _tls_echo(tls)
                served.set()

            spawn(serve_tls)

        server, port = await server_with(on_connection)
        with anyio.fail_after(10):
            await _tls_client_exchange(port, client_context)
        await wait(served)
        server.close()
