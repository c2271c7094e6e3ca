"""Inherited sockets: ``listen(fd=...)``, ``listen(handle=...)`` and ``Socket(fd=...)``.

The pre-fork and socket-activation patterns: a parent binds, a child process
(started with ``subprocess`` and ``pass_fds``) listens on the inherited
descriptor and serves; a connected descriptor is wrapped by ``Socket(fd=...)``.
Errors follow Node: a descriptor that cannot listen is ``listen EINVAL: invalid
argument`` as 'error'; a bad ``Socket(fd=...)`` raises at once.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

import trionet
from tests.support import Trace, closed

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def raw_sockets() -> Iterator[list[socket.socket]]:
    """Stdlib sockets a test makes; closed at the end (closing twice is harmless)."""
    made: list[socket.socket] = []
    yield made
    for sock in made:
        sock.close()


def bound_tcp(made: list[socket.socket], listen: bool = False) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    made.append(sock)
    sock.bind(("127.0.0.1", 0))
    if listen:
        sock.listen(5)
    return sock


def exists(path: str) -> bool:
    return os.path.exists(path)


def fd_is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError as exc:
        assert exc.errno == errno.EBADF
        return False
    return True


async def wait_event(emitter: trionet.EventEmitter, name: str) -> tuple[Any, ...]:
    with anyio.fail_after(5):
        return await trionet.once(emitter, name)


async def fetch(port: int) -> bytes:
    """Connect to 127.0.0.1:port with trionet and read everything."""
    client = trionet.connect(port, "127.0.0.1")
    got: list[bytes] = []
    client.on("data", got.append)
    await closed(client)
    return b"".join(got)


def greeter(text: bytes) -> trionet.Server:
    return trionet.create_server(lambda conn: conn.end(text))


# -- listen(fd=...) / listen(handle=...) in one process ------------------------------------


@pytest.mark.parametrize("already_listening", [False, True], ids=["bound", "listening"])
async def test_listen_on_fd(raw_sockets: list[socket.socket], already_listening: bool) -> None:
    raw = bound_tcp(raw_sockets, listen=already_listening)
    port = raw.getsockname()[1]
    fd = raw.detach()  # the server owns it now
    async with trionet.open_scope():
        server = greeter(b"via fd")
        calls: list[str] = []
        server.listen(fd=fd, callback=lambda: calls.append("cb"))
        await wait_event(server, "listening")
        assert calls == ["cb"]
        assert server.address() == {"address": "127.0.0.1", "family": "IPv4", "port": port}
        assert await fetch(port) == b"via fd"
        server.close()
        assert not fd_is_open(fd)  # adopted: closed with the server, as Node
        client = trionet.connect(port, "127.0.0.1")
        (err,) = await wait_event(client, "error")
        assert err.code == "ECONNREFUSED"


async def test_listen_backlog_applies_to_an_adopted_fd(raw_sockets: list[socket.socket]) -> None:
    raw = bound_tcp(raw_sockets, listen=True)
    port = raw.getsockname()[1]
    async with trionet.open_scope():
        server = greeter(b"x")
        server.listen({"fd": raw.detach(), "backlog": 7})
        await wait_event(server, "listening")
        assert await listen_queue_size(port) == 7
        server.close()


async def listen_queue_size(port: int) -> int | None:
    """The backlog of the listener on 127.0.0.1:port, from ``ss`` (Send-Q); None without ss."""
    try:
        result = await anyio.run_process(["ss", "-ltnH", f"sport = :{port}"], check=False)
    except FileNotFoundError:
        pytest.skip("ss is not installed")
    fields = result.stdout.decode().split()
    return int(fields[2])


async def test_listen_on_handle_mapping(raw_sockets: list[socket.socket]) -> None:
    raw = bound_tcp(raw_sockets)
    port = raw.getsockname()[1]
    async with trionet.open_scope():
        server = greeter(b"via handle")
        server.listen(handle={"fd": raw.detach()})
        await wait_event(server, "listening")
        assert await fetch(port) == b"via handle"
        server.close()


async def test_listen_on_handle_of_another_server() -> None:
    """The second server listens on a duplicate: closing one leaves the other listening."""
    async with trionet.open_scope():
        first = greeter(b"one")
        first.listen(0, "127.0.0.1")
        await wait_event(first, "listening")
        address = first.address()
        assert isinstance(address, dict)
        port: int = address["port"]
        second = greeter(b"two")
        second.listen({"handle": first})
        await wait_event(second, "listening")
        assert second.address() == first.address()
        seen = {await fetch(port) for _ in range(20)}
        assert seen <= {b"one", b"two"}
        first.close()
        assert second.listening
        assert {await fetch(port) for _ in range(3)} == {b"two"}
        second.close()


async def test_listen_on_a_stdlib_socket_handle(raw_sockets: list[socket.socket]) -> None:
    """An object with fileno() keeps its descriptor: the server takes a duplicate."""
    raw = bound_tcp(raw_sockets)
    port = raw.getsockname()[1]
    async with trionet.open_scope():
        server = greeter(b"stdlib")
        server.listen(handle=raw)
        await wait_event(server, "listening")
        assert await fetch(port) == b"stdlib"
        server.close()
        assert fd_is_open(raw.fileno())  # still the stdlib socket's


async def test_adopted_unix_socket_is_never_unlinked(
    tmp_path: Path, raw_sockets: list[socket.socket]
) -> None:
    """Q6: a handle adopted through fd/handle is not removed on close (as Node)."""
    path = str(tmp_path / "adopted.sock")
    raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    raw_sockets.append(raw)
    raw.bind(path)
    async with trionet.open_scope():
        server = greeter(b"unix fd")
        server.listen(fd=raw.detach())
        await wait_event(server, "listening")
        assert server.address() == path
        client = trionet.connect(path)
        got: list[bytes] = []
        client.on("data", got.append)
        await closed(client)
        assert got == [b"unix fd"]
        server.close()
    assert exists(path)


@pytest.mark.parametrize("kind", ["file", "udp", "closed", "connected"])
async def test_listen_on_an_unusable_fd_is_einval(
    tmp_path: Path, raw_sockets: list[socket.socket], kind: str
) -> None:
    """Node: ``listen EINVAL: invalid argument`` as 'error'; listen may be called again."""
    keep_open: int | None = None
    if kind == "file":
        fd = keep_open = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT)
    elif kind == "udp":
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        raw_sockets.append(udp)
        fd = keep_open = udp.fileno()
    elif kind == "closed":
        fd = os.open(tmp_path / "g", os.O_RDWR | os.O_CREAT)
        os.close(fd)
    else:
        a, b = socket.socketpair()
        raw_sockets.extend([a, b])
        fd = a.detach()
    try:
        async with trionet.open_scope():
            server = greeter(b"ok")
            calls: list[str] = []
            server.listen(fd=fd, callback=lambda: calls.append("cb"))
            (err,) = await wait_event(server, "error")
            assert str(err) == "listen EINVAL: invalid argument"
            assert err.code == "EINVAL"
            assert err.syscall == "listen"
            assert err.errno == errno.EINVAL
            assert calls == []
            assert not server.listening
            if keep_open is not None:
                assert fd_is_open(keep_open)  # not a listenable socket: left alone
            server.listen(0, "127.0.0.1")
            await wait_event(server, "listening")
            server.close()
    finally:
        if kind == "file" and keep_open is not None:
            os.close(keep_open)


@pytest.mark.parametrize(
    "options",
    [{"fd": -1}, {"fd": "3"}, {"fd": True}, {"handle": {}}, {"handle": object()}],
    ids=["negative", "string", "bool", "empty-mapping", "object"],
)
async def test_listen_without_a_usable_fd_needs_port_or_path(options: dict[str, Any]) -> None:
    async with trionet.open_scope():
        server = greeter(b"")
        with pytest.raises(TypeError) as info:
            server.listen(options)
        assert info.value.code == "ERR_INVALID_ARG_VALUE"  # type: ignore[attr-defined]
        assert str(info.value).startswith(
            'The argument \'options\' must have the property "port" or "path". Received '
        )
        # With a port as well, Node goes on to the port (an unusable fd is ignored).
        server.listen({**options, "port": 0, "host": "127.0.0.1"})
        await wait_event(server, "listening")
        server.close()


async def test_listen_on_handle_of_a_closed_server() -> None:
    async with trionet.open_scope():
        idle = greeter(b"")
        server = greeter(b"")
        with pytest.raises(TypeError) as info:
            server.listen(handle=idle)
        assert info.value.code == "ERR_INVALID_ARG_VALUE"  # type: ignore[attr-defined]


# -- Socket(fd=...) -------------------------------------------------------------------------


async def test_socket_on_a_connected_fd() -> None:
    a, b = socket.socketpair()
    try:
        async with trionet.open_scope():
            sock = trionet.Socket(fd=a.detach())
            trace = Trace().watch(sock, "s", "connect", "ready", "data", "end", "finish", "close")
            # Open at once, as Node: not connecting, not pending.
            assert not sock.connecting
            assert not sock.pending
            assert sock.ready_state == "open"
            assert sock.address() == {}  # a Unix socketpair: as Node
            sock.write(b"from trionet")  # queued until the engine has adopted it
            b.sendall(b"from the peer")
            with anyio.fail_after(5):
                got = b""
                while got != b"from trionet":
                    got += await anyio.to_thread.run_sync(b.recv, 100)
            b.shutdown(socket.SHUT_WR)
            await closed(sock)
            assert trace.names() == ["data", "end", "finish", "close"]  # no 'connect'
            assert trace.events[0][2] == b"from the peer"
            assert trace.events[-1][2] is False
            assert sock.bytes_read == 13
            assert sock.bytes_written == 12
            assert await anyio.to_thread.run_sync(b.recv, 100) == b""  # our FIN
    finally:
        b.close()


async def test_socket_on_a_tcp_fd_knows_its_addresses_at_once(
    raw_sockets: list[socket.socket],
) -> None:
    listener = bound_tcp(raw_sockets, listen=True)
    client_raw = socket.create_connection(listener.getsockname())
    raw_sockets.append(client_raw)
    peer, _ = listener.accept()
    raw_sockets.append(peer)
    local = client_raw.getsockname()
    async with trionet.open_scope():
        sock = trionet.Socket({"fd": client_raw.detach()})
        assert sock.remote_address == "127.0.0.1"
        assert sock.remote_port == listener.getsockname()[1]
        assert sock.remote_family == "IPv4"
        assert sock.local_port == local[1]
        assert sock.address() == {"address": "127.0.0.1", "family": "IPv4", "port": local[1]}
        sock.end(b"bye")
        with anyio.fail_after(5):
            assert await anyio.to_thread.run_sync(peer.recv, 10) == b"bye"
        peer.shutdown(socket.SHUT_WR)
        await closed(sock)


async def test_socket_fd_readable_false() -> None:
    a, b = socket.socketpair()
    try:
        async with trionet.open_scope():
            sock = trionet.Socket(fd=a.detach(), readable=False)
            assert sock.ready_state == "writeOnly"
            assert not sock.readable
            assert sock.readable_ended
            assert not sock.is_paused()
            seen: list[bytes] = []
            sock.on("data", seen.append)
            b.sendall(b"ignored")
            done: list[Any] = []
            sock.write(b"still writes", lambda err: done.append(err))
            with anyio.fail_after(5):
                assert await anyio.to_thread.run_sync(b.recv, 100) == b"still writes"
            await anyio.sleep(0.1)
            assert seen == []
            assert done == [None]
            sock.destroy()
            await closed(sock)
    finally:
        b.close()


async def test_socket_fd_writable_false() -> None:
    a, b = socket.socketpair()
    try:
        async with trionet.open_scope():
            sock = trionet.Socket(fd=a.detach(), writable=False)
            assert sock.ready_state == "readOnly"
            assert not sock.writable
            assert sock.writable_ended
            assert sock.writable_finished
            trace = Trace().watch(sock, "s", "data", "error", "close")
            b.sendall(b"in")
            with anyio.fail_after(5):
                while not trace.events:
                    await anyio.sleep(0.01)
            assert trace.events == [("s", "data", b"in")]
            results: list[Any] = []
            assert sock.write(b"out", lambda err: results.append(err)) is False
            await closed(sock)
            assert trace.names() == ["data", "error", "close"]
            err = trace.events[1][2]
            assert err.code == "ERR_STREAM_WRITE_AFTER_END"
            assert str(err) == "write after end"
            assert results[0] is err or results[0].code == "ERR_STREAM_WRITE_AFTER_END"
            assert trace.events[2][2] is True
    finally:
        b.close()


async def test_bad_socket_fds_raise_at_once(
    tmp_path: Path, raw_sockets: list[socket.socket]
) -> None:
    """Node's errors: ERR_INVALID_ARG_TYPE, ERR_OUT_OF_RANGE, ERR_INVALID_FD_TYPE."""
    file_fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT)
    read_end, write_end = os.pipe()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    raw_sockets.append(udp)
    closed_fd = os.open(tmp_path / "g", os.O_RDWR | os.O_CREAT)
    os.close(closed_fd)
    cases: list[tuple[Any, type[Exception], str, str]] = [
        (
            "x",
            TypeError,
            "ERR_INVALID_ARG_TYPE",
            "The \"fd\" argument must be of type number. Received type string ('x')",
        ),
        (
            -1,
            ValueError,
            "ERR_OUT_OF_RANGE",
            'The value of "fd" is out of range. It must be >= 0 && <= 2147483647. Received -1',
        ),
        (file_fd, TypeError, "ERR_INVALID_FD_TYPE", "Unsupported fd type: FILE"),
        (read_end, TypeError, "ERR_INVALID_FD_TYPE", "Unsupported fd type: PIPE"),
        (udp.fileno(), TypeError, "ERR_INVALID_FD_TYPE", "Unsupported fd type: UDP"),
        (closed_fd, TypeError, "ERR_INVALID_FD_TYPE", "Unsupported fd type: UNKNOWN"),
    ]
    try:
        async with trionet.open_scope():
            for fd, kind, code, message in cases:
                with pytest.raises(kind) as info:
                    trionet.Socket(fd=fd)
                assert info.value.code == code  # type: ignore[attr-defined]
                assert str(info.value) == message
            # The descriptors that were refused are untouched.
            for fd in (file_fd, read_end, udp.fileno()):
                assert fd_is_open(fd)
    finally:
        for fd in (file_fd, read_end, write_end):
            os.close(fd)


# -- across a real child process ------------------------------------------------------------

CHILD_SERVER = textwrap.dedent(
    """
    import os, sys, json
    import trionet

    fd, backend, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]

    async def main():
        def on_conn(conn):
            conn.end(f"served by {os.getpid()}\\n".encode())
            server.close()  # one connection, then exit

        server = trionet.create_server(on_conn)
        if mode == "fd":
            server.listen(fd=fd)
        else:
            server.listen(handle={"fd": fd})
        await trionet.once(server, "listening")
        print(json.dumps({"pid": os.getpid(), "address": server.address()}), flush=True)

    trionet.run(main, backend=backend)
    """
)

CHILD_SOCKET = textwrap.dedent(
    """
    import os, sys
    import trionet

    fd, backend = int(sys.argv[1]), sys.argv[2]

    def main():
        sock = trionet.Socket(fd=fd, allow_half_open=True)
        received = []
        sock.on("data", received.append)
        sock.on("end", lambda: sock.end(f"{os.getpid()}:".encode() + b"".join(received).upper()))

    trionet.run(main, backend=backend)
    """
)


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


async def _line(process: anyio.abc.Process) -> bytes:
    assert process.stdout is not None
    buf = bytearray()
    with anyio.fail_after(20):
        while not buf.endswith(b"\n"):
            chunk = await process.stdout.receive(1)
            buf += chunk
    return bytes(buf)


@pytest.mark.bound(60)
@pytest.mark.parametrize("mode", ["fd", "handle"])
@pytest.mark.parametrize("family", ["tcp", "unix"])
async def test_child_listens_on_inherited_fd(
    backend_name: str, mode: str, family: str, tmp_path: Path
) -> None:
    """Pre-fork: the parent binds, the child listens on the inherited fd and serves."""
    if family == "tcp":
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.bind(("127.0.0.1", 0))
        address: Any = raw.getsockname()
    else:
        raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        address = str(tmp_path / "pre.sock")
        raw.bind(address)
    fd = raw.fileno()
    try:
        process = await anyio.open_process(
            [sys.executable, "-c", CHILD_SERVER, str(fd), backend_name, mode],
            pass_fds=[fd],
            env=child_env(),
        )
    finally:
        raw.close()  # the child has its own copy
    try:
        ready = json.loads(await _line(process))
        child_pid = ready["pid"]
        assert child_pid != os.getpid()
        if family == "tcp":
            assert ready["address"] == {
                "address": "127.0.0.1",
                "family": "IPv4",
                "port": address[1],
            }
        else:
            assert ready["address"] == address
        async with trionet.open_scope():
            if family == "tcp":
                client = trionet.connect(address[1], "127.0.0.1")
            else:
                client = trionet.connect(address)
            got: list[bytes] = []
            client.on("data", got.append)
            await closed(client, 20)
        assert b"".join(got) == f"served by {child_pid}\n".encode()
        with anyio.fail_after(20):
            assert await process.wait() == 0
        if family == "unix":
            assert exists(address)  # adopted: the child never unlinks it
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


@pytest.mark.bound(60)
async def test_child_wraps_inherited_connected_fd(backend_name: str) -> None:
    parent_end, child_end = socket.socketpair()
    try:
        process = await anyio.open_process(
            [sys.executable, "-c", CHILD_SOCKET, str(child_end.fileno()), backend_name],
            pass_fds=[child_end.fileno()],
            env=child_env(),
        )
    finally:
        child_end.close()
    try:
        async with trionet.open_scope():
            sock = trionet.Socket(fd=parent_end.detach(), allow_half_open=True)
            got: list[bytes] = []
            sock.on("data", got.append)
            sock.end(b"hello child")
            await closed(sock, 20)
        pid, _, text = b"".join(got).partition(b":")
        assert text == b"HELLO CHILD"
        assert int(pid) == process.pid
        with anyio.fail_after(20):
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
