"""The reactor engines (trio, asyncio's selector loop) and the per-connection fast paths
under awkward timing: event and tick order against Node's, data integrity in bursts,
descriptors, subclasses; run on every engine."""

from __future__ import annotations

import socket
from typing import Any

import anyio
import pytest

import trionet
import trionet._transport
from tests.support import closed, fds_after_warm_up, listening, settled_fds

pytestmark = pytest.mark.anyio

BIG = 1 << 20  # enough to fill the receive buffer: full-size (64 KiB) reads follow


async def _wait_until(cond: Any, timeout: float = 5) -> None:
    with anyio.fail_after(timeout):
        while not cond():
            await anyio.sleep(0.005)


def _close_all(
    raw: list[socket.socket], conns: list[trionet.Socket], server: trionet.Server
) -> None:
    """Close the raw clients, destroy the server's ends, close the server."""
    for r in raw:
        r.close()
    for sock in conns:
        sock.destroy()
    server.close()


async def _recv_any(raw: list[socket.socket]) -> bytes:
    """The first bytes any of ``raw`` receives (without blocking the loop)."""
    for r in raw:
        r.setblocking(False)
    with anyio.fail_after(5):
        while True:
            for r in raw:
                try:
                    data = r.recv(100)
                except (BlockingIOError, ConnectionResetError):
                    continue
                if data:
                    return data
            await anyio.sleep(0.005)


# -- nextTick between consecutive reads --------------------------------------------------


async def test_write_callback_of_a_data_listener_runs_before_the_next_data(
    backend_name: str,
) -> None:
    """Node runs the nextTick queue after each read callback (MakeCallback), so the
    callback of a write made in a 'data' listener (a nextTick) runs before the next
    'data', also when the kernel has several full-size reads waiting.

    (The asyncio selector engine reads up to 16 times in a row without letting the
    loop run the ticks; asyncio's own transports read once per loop iteration.)"""
    if backend_name == "uvloop":
        pytest.skip("uvloop: libuv reads up to 32 times per callback (not trionet's code)")
    async with trionet.open_scope():
        payload = bytes(BIG)
        ready = anyio.Event()

        def on_connection(sock: trionet.Socket) -> None:
            sock.on("data", lambda data: None)
            ready.set()
            # wait until the client is paused, then send everything at once
            server_sock.append(sock)

        server_sock: list[trionet.Socket] = []
        server = trionet.create_server(on_connection)
        port = await listening(server)
        log: list[str] = []
        received = 0
        client = trionet.connect(port, "127.0.0.1")
        client.pause()
        await trionet.once(client, "connect")
        with anyio.fail_after(5):
            await ready.wait()
        server_sock[0].write(payload)
        server_sock[0].end()
        # let the kernel queue as much as it takes before reading starts
        await anyio.sleep(0.2)

        def on_data(data: bytes) -> None:
            nonlocal received
            received += len(data)
            log.append("data")
            client.write(b"x", lambda err: log.append("cb"))

        client.on("data", on_data)
        done = anyio.Event()
        client.on("close", lambda had_error: done.set())
        client.resume()
        with anyio.fail_after(5):
            await done.wait()
        server.close()
    assert received == BIG
    # each 'data' is followed by its write callback before the next 'data'
    assert log == ["data", "cb"] * (len(log) // 2), log[:40]


# -- destroy inside 'data' while other sockets are in the same batch -----------------------


async def test_destroying_another_connection_in_data_within_one_batch() -> None:
    """Two connections readable in the same wake-up; the first one's 'data' listener
    destroys the second: it emits no 'data' after destroy(), and 'close' once."""
    async with trionet.open_scope():
        conns: list[trionet.Socket] = []
        log: list[tuple[int, str, Any]] = []
        both = anyio.Event()

        def on_connection(sock: trionet.Socket) -> None:
            index = len(conns)
            conns.append(sock)

            def on_data(data: bytes) -> None:
                log.append((index, "data", data))
                other = conns[1 - index]
                if not other.destroyed:
                    other.destroy()

            sock.on("data", on_data)
            sock.on("close", lambda had_error: log.append((index, "close", had_error)))
            if len(conns) == 2:
                both.set()

        server = trionet.create_server(on_connection)
        port = await listening(server)
        raw = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
        try:
            with anyio.fail_after(5):
                await both.wait()
            # both readable before the engine next wakes up
            for r in raw:
                r.sendall(b"hi")
            await _wait_until(lambda: sum(1 for e in log if e[1] == "close") == 1)
            await anyio.sleep(0.05)
        finally:
            for r in raw:
                r.close()
        await _wait_until(lambda: sum(1 for e in log if e[1] == "close") == 2)
        server.close()
    datas = [e for e in log if e[1] == "data"]
    assert len(datas) == 1, log
    closes = sorted(e for e in log if e[1] == "close")
    assert closes == [(0, "close", False), (1, "close", False)]


# -- pause/resume within a burst of reads ------------------------------------------------


async def test_pause_in_data_stops_reads_and_resume_delivers_everything_in_order() -> None:
    """pause() inside 'data' during a burst of full-size reads: no 'data' until resume(),
    and every byte arrives once, in order."""
    async with trionet.open_scope():
        payload = bytes(range(256)) * (BIG // 256)
        server = trionet.create_server(lambda sock: sock.end(payload))
        port = await listening(server)
        client = trionet.connect(port, "127.0.0.1")
        chunks: list[bytes] = []
        events: list[str] = []
        done = anyio.Event()

        def on_data(data: bytes) -> None:
            assert not client.is_paused(), "'data' while paused"
            chunks.append(data)
            events.append("data")
            if len(chunks) % 3 == 0:
                client.pause()

        client.on("data", on_data)
        client.on("end", lambda: events.append("end"))
        client.on("close", lambda had_error: done.set())
        with anyio.fail_after(10):
            while not done.is_set():
                if client.is_paused():
                    mark = len(events)
                    await anyio.sleep(0.005)
                    assert len(events) == mark, "'data' while paused"
                    client.resume()
                await anyio.sleep(0.001)
        server.close()
    assert b"".join(chunks) == payload
    assert events[-1] == "end" and events.count("end") == 1


# -- a listener closed inside its own 'connection' listener ------------------------------


async def test_close_in_connection_listener_leaves_no_descriptor_open() -> None:
    before = await fds_after_warm_up()
    async with trionet.open_scope():
        accepted: list[trionet.Socket] = []

        def on_connection(sock: trionet.Socket) -> None:
            accepted.append(sock)
            server.close()
            sock.end(b"bye")

        server = trionet.create_server(on_connection)
        port = await listening(server)
        raw = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        got = await _recv_any(raw)
        for r in raw:
            r.close()
        await closed(server)
    assert got == b"bye"
    assert len(accepted) == 1
    assert await settled_fds(before) == before


# -- the scope cancelled with connections open ---------------------------------------------


async def test_cancelled_scope_closes_epoll_sets_and_loop_readers() -> None:
    before = await fds_after_warm_up()
    with anyio.move_on_after(0.3):
        async with trionet.open_scope():
            server = trionet.create_server(lambda sock: sock.write(b"hello"))
            port = await listening(server)
            clients = [trionet.connect(port, "127.0.0.1") for _ in range(3)]
            for c in clients:
                c.on("data", lambda data: None)
            await anyio.sleep(10)
    assert await settled_fds(before) == before
    # and the loop watches nothing of ours any more
    await anyio.sleep(0.05)


async def test_write_callback_of_a_connection_listener_runs_before_the_next_connection(
    backend_name: str,
) -> None:
    """Node calls each 'connection' listener through MakeCallback, which runs the nextTick
    queue after it: with several connections waiting in the backlog, the write callback
    of one 'connection' listener runs before the next 'connection'.

    (The asyncio selector engine accepts up to 64 connections in a row without letting
    the loop run the ticks; trio runs them in between.)"""
    if backend_name == "asyncio" and not trionet._transport.selector_engine:
        pytest.skip("asyncio's own accept loop: connection_made of a batch run in a row")
    async with trionet.open_scope():
        log: list[str] = []
        conns: list[trionet.Socket] = []

        def on_connection(sock: trionet.Socket) -> None:
            conns.append(sock)
            log.append("connection")
            sock.write(b"x", lambda err: log.append("cb"))

        server = trionet.create_server(on_connection)
        server.pause_on_connect = True
        port = await listening(server)
        # all four wait in the backlog before the engine next wakes up
        raw = [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]
        try:
            await _wait_until(lambda: log.count("cb") == 4)
        finally:
            _close_all(raw, conns, server)
    assert log == ["connection", "cb"] * 4


# -- subclasses --------------------------------------------------------------------------


async def test_socket_subclass_resume_is_called_by_the_first_data_listener() -> None:
    """Node's Readable.on('data') calls this.resume(): a subclass's resume() runs."""
    log: list[str] = []

    class Sock(trionet.Socket):
        def resume(self) -> Sock:
            log.append("resume")
            return super().resume()  # type: ignore[return-value]

    async with trionet.open_scope():
        server = trionet.create_server(lambda sock: sock.end(b"x"))
        port = await listening(server)
        client = Sock()
        client.connect(port, "127.0.0.1")
        client.on("data", lambda data: log.append("data"))
        log.append("after on")
        await closed(client)
        server.close()
    assert log == ["resume", "after on", "data"]


async def test_server_subclass_emit_sees_connection() -> None:
    """Node's onconnection calls self.emit('connection', socket): a subclass's emit runs."""
    log: list[str] = []

    class Server(trionet.Server):
        def emit(self, event: str, /, *args: Any) -> bool:
            if event == "connection":
                log.append("emit connection")
            return super().emit(event, *args)

    async with trionet.open_scope():

        def on_connection(sock: trionet.Socket) -> None:
            log.append("listener")
            sock.end()

        server = Server(on_connection)
        port = await listening(server)
        client = trionet.connect(port, "127.0.0.1")
        client.resume()
        await closed(client)
        server.close()
    assert log == ["emit connection", "listener"]


# -- destroy() inside 'data' during a burst of full-size reads ---------------------------


async def test_destroy_in_own_data_during_a_burst_stops_at_once() -> None:
    async with trionet.open_scope():
        server = trionet.create_server(lambda sock: sock.end(bytes(BIG)))
        server.on("connection", lambda sock: sock.on("error", lambda err: None))
        port = await listening(server)
        client = trionet.connect(port, "127.0.0.1")
        log: list[Any] = []
        done = anyio.Event()

        def on_data(data: bytes) -> None:
            log.append(("data", len(data)))
            if len(log) == 2:
                client.destroy()

        client.on("data", on_data)
        client.on("end", lambda: log.append("end"))
        client.on("error", lambda err: log.append(("error", err)))

        def on_close(had_error: bool) -> None:
            log.append(("close", had_error))
            done.set()

        client.on("close", on_close)
        with anyio.fail_after(5):
            await done.wait()
        await anyio.sleep(0.05)
        server.close()
        await closed(server)
    assert [e[0] for e in log] == ["data", "data", "close"], log
    assert log[-1] == ("close", False)


async def test_server_close_and_destroy_in_connection_listener_leave_no_descriptor() -> None:
    before = await fds_after_warm_up()
    async with trionet.open_scope():
        log: list[str] = []

        def on_connection(sock: trionet.Socket) -> None:
            sock.destroy()
            server.close()
            log.append("connection")

        server = trionet.create_server(on_connection)
        server.on("close", lambda: log.append("server close"))
        port = await listening(server)
        client = trionet.connect(port, "127.0.0.1")
        client.on("error", lambda err: None)
        client.resume()
        await closed(client)
        await _wait_until(lambda: "server close" in log)
    assert log == ["connection", "server close"]
    assert await settled_fds(before) == before


# -- Unix sockets, half-open, large transfers -------------------------------------------


async def test_unix_half_open_echo_of_a_large_payload(tmp_path: Any) -> None:
    payload = bytes(range(251)) * 5000  # not a multiple of the read size
    async with trionet.open_scope():

        def on_connection(sock: trionet.Socket) -> None:
            got: list[bytes] = []
            sock.on("data", got.append)
            # the peer has ended its side: reply afterwards, then end ours
            sock.on("end", lambda: sock.end(b"".join(got)[::-1]))

        server = trionet.create_server(on_connection, allow_half_open=True)
        path = str(tmp_path / "s.sock")
        await listening(server, path)
        client = trionet.connect(path, allow_half_open=True)
        received: list[bytes] = []
        log: list[str] = []
        done = anyio.Event()
        client.on("data", received.append)
        client.on("end", lambda: log.append("end"))
        client.on("finish", lambda: log.append("finish"))

        def on_close(had_error: bool) -> None:
            log.append(f"close {had_error}")
            done.set()

        client.on("close", on_close)
        client.end(payload)
        with anyio.fail_after(10):
            await done.wait()
        server.close()
        await closed(server)
    assert b"".join(received) == payload[::-1]
    assert log == ["finish", "end", "close False"]


# -- client reactors: several scopes, a chain of connections ---------------------------


async def test_client_in_a_nested_scope_does_not_stop_the_outer_scopes_clients() -> None:
    async with trionet.open_scope():
        conns: list[trionet.Socket] = []

        def on_connection(sock: trionet.Socket) -> None:
            conns.append(sock)
            sock.pipe(sock)

        server = trionet.create_server(on_connection)
        port = await listening(server)
        outer = trionet.connect(port, "127.0.0.1")
        got: list[bytes] = []
        outer.on("data", got.append)
        await trionet.once(outer, "connect")
        async with trionet.open_scope():
            inner = trionet.connect(port, "127.0.0.1")
            inner_got: list[bytes] = []
            inner.on("data", inner_got.append)
            inner.end(b"inner")
            await closed(inner)
        assert inner_got == [b"inner"]
        # the outer client still reads and writes
        outer.write(b"outer")
        await _wait_until(lambda: b"".join(got) == b"outer")
        outer.end()
        await closed(outer)
        server.close()


async def test_a_chain_of_clients_each_connected_in_the_previous_ones_close() -> None:
    """The last client of a scope closing stops its reactor; a client connected from its
    'close' listener gets a working one."""
    async with trionet.open_scope():
        server = trionet.create_server(lambda sock: sock.pipe(sock))
        port = await listening(server)
        echoed: list[bytes] = []
        done = anyio.Event()

        def start(n: int) -> None:
            client = trionet.connect(port, "127.0.0.1")
            client.on("data", echoed.append)
            client.on("close", lambda had_error: start(n + 1) if n < 5 else done.set())
            client.end(str(n).encode())

        start(0)
        with anyio.fail_after(10):
            await done.wait()
        server.close()
    assert echoed == [b"0", b"1", b"2", b"3", b"4", b"5"]


async def test_descriptor_reused_within_one_batch_serves_the_new_connection_only() -> None:
    """One wake-up: A readable, the listener readable (C waiting), B readable, in that
    order. A's 'data' listener destroys B; accepting C reuses B's descriptor number, so
    the batch's entry for B is now C's: C must get its own bytes once, B none."""
    async with trionet.open_scope():
        conns: list[trionet.Socket] = []
        log: list[tuple[int, Any]] = []
        fds: list[int] = []

        def on_connection(sock: trionet.Socket) -> None:
            index = len(conns)
            conns.append(sock)
            fds.append(sock._transport.sock.fileno())  # type: ignore[union-attr]

            def on_data(data: bytes) -> None:
                log.append((index, data))
                if index == 0 and not conns[1].destroyed:
                    conns[1].destroy()

            sock.on("data", on_data)

        server = trionet.create_server(on_connection)
        port = await listening(server)
        a = socket.create_connection(("127.0.0.1", port))
        b = socket.create_connection(("127.0.0.1", port))
        try:
            await _wait_until(lambda: len(conns) == 2)
            a.sendall(b"a")  # ready in this order before the engine next wakes up
            c = socket.create_connection(("127.0.0.1", port))
            c.sendall(b"c")
            b.sendall(b"b")
            await _wait_until(lambda: len(log) >= 2)
            await anyio.sleep(0.05)
        finally:
            _close_all([a, b, c], conns, server)
    assert log == [(0, b"a"), (2, b"c")], (log, fds)


async def test_write_callback_of_a_data_listener_runs_before_another_connections_data(
    backend_name: str,
) -> None:
    """Two connections readable in one wake-up: Node runs the nextTick queue after each
    read callback, so the first one's write callback runs before the second one's 'data'
    (the trio engine runs the scope's ticks between ready sockets)."""
    if backend_name == "uvloop" or not trionet._transport.selector_engine:
        pytest.skip("the loop's own transports: the reads of one iteration run in a row")
    async with trionet.open_scope():
        conns: list[trionet.Socket] = []
        log: list[str] = []

        def on_connection(sock: trionet.Socket) -> None:
            conns.append(sock)

            def on_data(data: bytes) -> None:
                log.append("data")
                sock.write(b"x", lambda err: log.append("cb"))

            sock.on("data", on_data)

        server = trionet.create_server(on_connection)
        port = await listening(server)
        raw = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        try:
            await _wait_until(lambda: len(conns) == 3)
            for r in raw:  # all readable before the engine next wakes up
                r.sendall(b"x")
            await _wait_until(lambda: log.count("cb") == 3)
        finally:
            _close_all(raw, conns, server)
    assert log == ["data", "cb"] * 3
