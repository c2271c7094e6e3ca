"""IPC (Unix domain sockets): listen/connect forms, the socket file's life, errors, interop.

Node's rules (checklist section Q, probes I1-I7) with trionet's deliberate
differences: a path too long for ``sun_path`` raises at once (Node v20 binds a
silently truncated name), and a server's socket file is removed only while the
path still names the file it made.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import stat
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

import trionet
from tests.support import Trace, closed, needs_node, run_node, start_node
from trionet._ipc import SUN_PATH_SIZE

pytestmark = pytest.mark.anyio

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="abstract socket names are Linux-only"
)


@pytest.fixture
def sock_path(tmp_path: Path) -> str:
    return str(tmp_path / "s.sock")


@pytest.fixture
def umask_077() -> Iterator[None]:
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


async def wait_event(
    emitter: trionet.EventEmitter, name: str, timeout: float = 5
) -> tuple[Any, ...]:
    with anyio.fail_after(timeout):
        return await trionet.once(emitter, name)


async def listen_ok(server: trionet.Server, *args: Any, **kwargs: Any) -> None:
    server.listen(*args, **kwargs)
    await wait_event(server, "listening")


async def read_all(sock: trionet.Socket, timeout: float = 5) -> bytes:
    """Collect 'data' until 'close'; return the bytes."""
    got: list[bytes] = []
    sock.on("data", got.append)
    await closed(sock, timeout)
    return b"".join(got)


def greeter(text: bytes = b"hello") -> trionet.Server:
    return trionet.create_server(lambda conn: conn.end(text))


def exists(path: str) -> bool:
    return os.path.exists(path)


def write_text(path: str, text: str) -> None:
    Path(path).write_text(text)


def read_text(path: str) -> str:
    return Path(path).read_text()


def path_of_length(directory: Path, length: int) -> str:
    base = str(directory) + "/"
    assert length > len(base), "tmp_path too long for this test"
    path = base + "x" * (length - len(base))
    assert len(os.fsencode(path)) == length
    return path


# -- listen and connect forms ---------------------------------------------------------------


@pytest.mark.parametrize("form", ["positional", "keyword", "dict", "pathlib", "bytes"])
async def test_listen_forms_address_is_the_path(sock_path: str, form: str) -> None:
    async with trionet.open_scope():
        server = greeter()
        calls: list[str] = []
        args: dict[str, tuple[Any, dict[str, Any]]] = {
            "positional": ((sock_path,), {}),
            "keyword": ((), {"path": sock_path}),
            "dict": (({"path": sock_path},), {}),
            "pathlib": ((Path(sock_path),), {}),
            "bytes": ((), {"path": os.fsencode(sock_path)}),
        }
        positional, keywords = args[form]
        server.listen(*positional, lambda: calls.append("cb"), **keywords)
        assert calls == []  # 'listening' is asynchronous (Q1)
        await wait_event(server, "listening")
        assert calls == ["cb"]
        assert server.address() == sock_path
        assert server.listening
        assert stat.S_ISSOCK(os.stat(sock_path).st_mode)
        assert await read_all(trionet.connect(sock_path)) == b"hello"
        server.close()


@pytest.mark.parametrize("form", ["connect", "keyword", "dict", "socket-connect", "pathlib"])
async def test_connect_forms(sock_path: str, form: str) -> None:
    async with trionet.open_scope(), greeter(form.encode()) as server:
        await listen_ok(server, sock_path)
        trace = Trace()
        if form == "connect":
            client = trionet.connect(sock_path, lambda: trace.events.append(("cb",)))
        elif form == "keyword":
            client = trionet.create_connection(
                path=sock_path, connect_listener=lambda: trace.events.append(("cb",))
            )
        elif form == "dict":
            client = trionet.connect({"path": sock_path}, lambda: trace.events.append(("cb",)))
        elif form == "pathlib":
            client = trionet.connect(Path(sock_path), lambda: trace.events.append(("cb",)))
        else:
            client = trionet.Socket()
            client.connect(sock_path, lambda: trace.events.append(("cb",)))
        trace.watch(client, "c", "connect", "ready", "end", "close")
        assert client.connecting
        data = await read_all(client)
        assert data == form.encode()
        assert trace.events == [
            ("cb",),
            ("c", "connect"),
            ("c", "ready"),
            ("c", "end"),
            ("c", "close", False),
        ]
        assert client.bytes_read == len(form)


async def test_ipc_sockets_have_no_addresses(sock_path: str) -> None:
    """Q10: IPC sockets have no remote/local address, and address() is {} (Node v20)."""
    async with trionet.open_scope():
        seen: list[trionet.Socket] = []

        def on_conn(conn: trionet.Socket) -> None:
            seen.append(conn)
            conn.end()

        server = trionet.create_server(on_conn)
        await listen_ok(server, sock_path)
        client = trionet.connect(sock_path)
        await wait_event(client, "connect")
        await closed(client)
        for sock in (client, seen[0]):
            assert sock.address() == {}
            assert sock.remote_address is None
            assert sock.remote_port is None
            assert sock.remote_family is None
            assert sock.local_address is None
            assert sock.local_port is None
        server.close()


async def test_reset_and_destroy_on_ipc_raises(sock_path: str) -> None:
    async with trionet.open_scope(), trionet.create_server() as server:
        await listen_ok(server, sock_path)
        client = trionet.connect(sock_path)
        await wait_event(client, "connect")
        with pytest.raises(TypeError) as info:
            client.reset_and_destroy()
        assert info.value.code == "ERR_INVALID_HANDLE_TYPE"  # type: ignore[attr-defined]
        assert str(info.value) == "This handle type cannot be sent"
        client.destroy()


async def test_half_open_ping_pong_over_ipc(sock_path: str) -> None:
    """Q11: half-open works as over TCP: the client ends, the server still answers."""
    async with trionet.open_scope():
        received: list[bytes] = []

        def on_conn(conn: trionet.Socket) -> None:
            conn.on("data", received.append)
            conn.on("end", lambda: conn.end(b"pong:" + b"".join(received)))

        server = trionet.create_server(on_conn, allow_half_open=True)
        await listen_ok(server, sock_path)
        client = trionet.connect(path=sock_path, allow_half_open=True)
        client.end(b"ping")
        answer = await read_all(client)
        assert answer == b"pong:ping"
        assert client.bytes_written == 4
        assert client.bytes_read == 9
        server.close()
        await server.wait_closed()


# -- the socket file ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "mode"),
    [
        ({}, 0o700),
        ({"readable_all": True}, 0o744),
        ({"writable_all": True}, 0o722),
        ({"readable_all": True, "writable_all": True}, 0o766),
        ({"readableAll": True, "writableAll": True}, 0o766),
    ],
)
async def test_file_mode_follows_umask_and_all_flags(
    sock_path: str, umask_077: None, options: dict[str, Any], mode: int
) -> None:
    async with trionet.open_scope(), greeter() as server:
        await listen_ok(server, {"path": sock_path, **options})
        assert stat.S_IMODE(os.stat(sock_path).st_mode) == mode


async def test_default_umask_mode_and_both_flags_give_0777(sock_path: str) -> None:
    """Node's probe I3: with the usual umask 022, 0755; with both flags, 0777."""
    old = os.umask(0o022)
    try:
        async with trionet.open_scope():
            async with greeter() as server:
                await listen_ok(server, sock_path)
                assert stat.S_IMODE(os.stat(sock_path).st_mode) == 0o755
            async with greeter() as server:
                await listen_ok(server, sock_path, readable_all=True, writable_all=True)
                assert stat.S_IMODE(os.stat(sock_path).st_mode) == 0o777
    finally:
        os.umask(old)


async def test_close_removes_the_file_before_returning(sock_path: str) -> None:
    async with trionet.open_scope():
        server = trionet.create_server(lambda conn: None)  # keeps its connection open
        await listen_ok(server, sock_path)
        client = trionet.connect(sock_path)
        await wait_event(server, "connection")
        assert exists(sock_path)
        server.close()
        assert not exists(sock_path)  # at once, with a connection still open
        assert server.address() is None
        assert not server.listening
        client.destroy()
        await server.wait_closed()
        # The path is free again.
        await listen_ok(server, sock_path)
        server.close()
        assert not exists(sock_path)


async def test_a_replaced_file_is_kept(sock_path: str) -> None:
    async with trionet.open_scope():
        server = greeter()
        await listen_ok(server, sock_path)
        os.unlink(sock_path)
        write_text(sock_path, "not ours")
        server.close()
        assert read_text(sock_path) == "not ours"


async def test_a_replacing_socket_is_kept(sock_path: str) -> None:
    async with trionet.open_scope():
        first = greeter(b"first")
        await listen_ok(first, sock_path)
        os.unlink(sock_path)
        second = greeter(b"second")
        await listen_ok(second, sock_path)
        first.close()
        assert exists(sock_path)
        assert await read_all(trionet.connect(sock_path)) == b"second"
        second.close()
        assert not exists(sock_path)


async def test_scope_end_removes_the_file_of_an_unrefd_server(sock_path: str) -> None:
    async with trionet.open_scope():
        server = greeter()
        await listen_ok(server, sock_path)
        server.unref()
        assert exists(sock_path)
    assert not exists(sock_path)


async def test_scope_error_removes_the_file(sock_path: str) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with trionet.open_scope():
            server = greeter()
            await listen_ok(server, sock_path)
            raise Boom
    assert not exists(sock_path)


# -- path length ----------------------------------------------------------------------------


async def test_longest_file_path_works(tmp_path: Path) -> None:
    path = path_of_length(tmp_path, SUN_PATH_SIZE - 1)
    async with trionet.open_scope():
        server = greeter(b"long")
        await listen_ok(server, path)
        assert server.address() == path
        assert exists(path)
        assert await read_all(trionet.connect(path)) == b"long"
        server.close()
        assert not exists(path)


@pytest.mark.parametrize("length", [SUN_PATH_SIZE, 120])
async def test_too_long_path_raises_at_once(tmp_path: Path, length: int) -> None:
    """Q8: Node v20 binds a truncated name; trionet refuses with a clear error."""
    path = path_of_length(tmp_path, length)
    limit = SUN_PATH_SIZE - 1
    expected = (
        f"The property 'options.path' is too long for a Unix socket path: {length} bytes,"
        f" at most {limit} fit in sun_path. Received '{path}'"
    )
    async with trionet.open_scope():
        server = greeter()
        calls: list[str] = []
        with pytest.raises(ValueError) as info:
            server.listen(path, lambda: calls.append("listening"))
        assert info.value.code == "ERR_INVALID_ARG_VALUE"  # type: ignore[attr-defined]
        assert str(info.value) == expected
        assert server.listener_count("listening") == 0
        assert not server.listening
        with pytest.raises(ValueError) as info:
            trionet.connect(path)
        assert info.value.code == "ERR_INVALID_ARG_VALUE"  # type: ignore[attr-defined]
        assert str(info.value) == expected
        with pytest.raises(ValueError):
            trionet.Socket().connect(path=path)
        assert os.listdir(tmp_path) == []  # nothing bound, not even a truncated name
        # The server can listen on a good path afterwards.
        await listen_ok(server, str(tmp_path / "ok.sock"))
        server.close()


async def test_embedded_nul_and_bad_types(tmp_path: Path) -> None:
    async with trionet.open_scope():
        server = greeter()
        with pytest.raises(TypeError) as info:
            server.listen(path=str(tmp_path / "a\0b"))
        assert info.value.code == "ERR_INVALID_ARG_VALUE"  # type: ignore[attr-defined]
        assert "must be a path without null bytes" in str(info.value)
        with pytest.raises(TypeError) as info:
            trionet.connect(path=123)
        assert info.value.code == "ERR_INVALID_ARG_TYPE"  # type: ignore[attr-defined]
        assert str(info.value) == (
            'The "options.path" property must be of type string. Received type number (123)'
        )
        with pytest.raises(TypeError) as info:
            server.listen(path=12.5)
        assert info.value.code == "ERR_INVALID_ARG_VALUE"  # type: ignore[attr-defined]


# -- errors ---------------------------------------------------------------------------------


def assert_listen_error(err: BaseException, code: str, path: str, description: str) -> None:
    assert isinstance(err, OSError)
    assert err.code == code  # type: ignore[attr-defined]
    assert err.errno == getattr(errno, code)
    assert err.syscall == "listen"  # type: ignore[attr-defined]
    assert err.address == path  # type: ignore[attr-defined]
    assert err.port == -1  # type: ignore[attr-defined]
    assert str(err) == f"listen {code}: {description} {path}"


async def test_path_in_use_is_eaddrinuse(sock_path: str) -> None:
    """Q4: a second server on a live path gets 'error'; its callback never runs."""
    async with trionet.open_scope():
        first = greeter(b"first")
        await listen_ok(first, sock_path)
        second = greeter(b"second")
        trace = Trace().watch(second, "s", "listening", "error", "close")
        second.listen(sock_path, lambda: trace.events.append(("cb",)))
        await wait_event(second, "error")
        await anyio.sleep(0.05)
        assert [e[1] for e in trace.events] == ["error"]
        assert_listen_error(trace.events[0][2], "EADDRINUSE", sock_path, "address already in use")
        assert not second.listening
        assert second.address() is None
        # The failure removed nothing: the first server still serves.
        assert await read_all(trionet.connect(sock_path)) == b"first"
        # listen may be called again after the error.
        await listen_ok(second, sock_path + "2")
        second.close()
        first.close()


def make_stale_socket(path: str) -> None:
    """What a crashed process leaves: a bound socket file nobody listens on."""
    raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    raw.bind(path)
    raw.close()  # no unlink


async def test_stale_socket_file_is_eaddrinuse_and_kept(sock_path: str) -> None:
    """Q5: trionet never removes a file before binding (as Node)."""
    make_stale_socket(sock_path)
    inode = os.stat(sock_path).st_ino
    async with trionet.open_scope():
        server = greeter()
        server.listen(sock_path)
        (err,) = await wait_event(server, "error")
        assert_listen_error(err, "EADDRINUSE", sock_path, "address already in use")
        assert os.stat(sock_path).st_ino == inode
        client = trionet.connect(sock_path)
        (cerr,) = await wait_event(client, "error")
        assert isinstance(cerr, ConnectionRefusedError)
        assert str(cerr) == f"connect ECONNREFUSED {sock_path}"


async def test_regular_file_at_path_is_eaddrinuse_and_kept(sock_path: str) -> None:
    write_text(sock_path, "data")
    async with trionet.open_scope():
        server = greeter()
        server.listen(sock_path)
        (err,) = await wait_event(server, "error")
        assert_listen_error(err, "EADDRINUSE", sock_path, "address already in use")
    assert read_text(sock_path) == "data"


async def test_stale_file_cleanup_recipe(sock_path: str) -> None:
    """The documented recipe: on EADDRINUSE, probe the path; ECONNREFUSED means stale."""
    make_stale_socket(sock_path)
    async with trionet.open_scope():
        server = greeter(b"fresh")
        outcome: list[str] = []

        def on_error(err: OSError) -> None:
            if getattr(err, "code", None) != "EADDRINUSE":
                raise err
            probe = trionet.connect(sock_path)

            def on_probe_connect() -> None:
                outcome.append("in use")
                probe.destroy()

            probe.on("connect", on_probe_connect)

            def on_probe_error(perr: OSError) -> None:
                if getattr(perr, "code", None) == "ECONNREFUSED":
                    outcome.append("stale")
                    os.unlink(sock_path)
                    server.listen(sock_path)

            probe.on("error", on_probe_error)

        server.on("error", on_error)
        listening = anyio.Event()
        server.on("listening", listening.set)
        server.listen(sock_path)
        with anyio.fail_after(5):
            await listening.wait()  # (trionet.once would raise the first 'error')
        assert outcome == ["stale"]
        assert await read_all(trionet.connect(sock_path)) == b"fresh"
        server.close()


async def test_missing_directory_is_eacces(tmp_path: Path) -> None:
    """Q9: libuv reports a bind in a missing directory as EACCES."""
    path = str(tmp_path / "missing" / "s.sock")
    async with trionet.open_scope():
        server = greeter()
        server.listen(path)
        (err,) = await wait_event(server, "error")
        assert_listen_error(err, "EACCES", path, "permission denied")


async def test_connect_enoent(sock_path: str) -> None:
    async with trionet.open_scope():
        client = trionet.connect(sock_path)
        trace = Trace().watch(client, "c", "connectionAttemptFailed", "connect", "error", "close")
        await closed(client)
        assert [e[1] for e in trace.events] == ["connectionAttemptFailed", "error", "close"]
        err = trace.events[1][2]
        assert trace.events[0][2:] == (sock_path, None, None, err)
        assert trace.events[2][2] is True
        assert isinstance(err, FileNotFoundError)
        assert str(err) == f"connect ENOENT {sock_path}"
        assert err.code == "ENOENT"  # type: ignore[attr-defined]
        assert err.syscall == "connect"  # type: ignore[attr-defined]
        assert err.address == sock_path  # type: ignore[attr-defined]
        assert err.port is None  # type: ignore[attr-defined]
        assert err.errno == errno.ENOENT


async def test_connect_to_a_full_queue_is_eagain(sock_path: str) -> None:
    """libuv does not wait for room in a Unix listen queue: connect EAGAIN, as Node."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(sock_path)
    listener.listen(0)
    fillers: list[socket.socket] = []
    try:
        for _ in range(64):
            raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            raw.setblocking(False)
            fillers.append(raw)
            if raw.connect_ex(sock_path) == errno.EAGAIN:
                break
        else:
            pytest.fail("the listen queue never filled up")
        async with trionet.open_scope():
            client = trionet.connect(sock_path)
            trace = Trace().watch(client, "c", "connect", "error", "close")
            await closed(client)
            assert [e[1] for e in trace.events] == ["error", "close"]
            err = trace.events[0][2]
            assert isinstance(err, BlockingIOError)
            assert str(err) == f"connect EAGAIN {sock_path}"
            assert err.syscall == "connect"  # type: ignore[attr-defined]
    finally:
        for raw in fillers:
            raw.close()
        listener.close()


# -- abstract names -------------------------------------------------------------------------


@linux_only
async def test_abstract_name_works_and_leaves_no_file(tmp_path: Path) -> None:
    name = f"\0trionet-test-{uuid.uuid4().hex}"
    async with trionet.open_scope():
        server = greeter(b"abstract")
        await listen_ok(server, name)
        assert server.address() == name
        assert os.listdir(tmp_path) == []
        assert await read_all(trionet.connect(name)) == b"abstract"
        assert await read_all(trionet.connect(path=os.fsencode(name))) == b"abstract"
        server.close()
        # Gone with the socket: the name is free again at once.
        await listen_ok(server, name)
        server.close()


@linux_only
async def test_abstract_name_in_use_is_eaddrinuse() -> None:
    name = f"\0trionet-test-{uuid.uuid4().hex}"
    async with trionet.open_scope():
        first = greeter()
        await listen_ok(first, name)
        second = greeter()
        second.listen(name)
        (err,) = await wait_event(second, "error")
        assert_listen_error(err, "EADDRINUSE", name, "address already in use")
        first.close()


@linux_only
@pytest.mark.parametrize("flag", ["readable_all", "writable_all"])
async def test_abstract_name_refuses_mode_flags(flag: str) -> None:
    """Q7: Node's ERR_INVALID_ARG_VALUE, its typo included."""
    name = f"\0trionet-test-{uuid.uuid4().hex}"
    async with trionet.open_scope():
        server = greeter()
        with pytest.raises(TypeError) as info:
            server.listen(path=name, **{flag: True})
        assert info.value.code == "ERR_INVALID_ARG_VALUE"  # type: ignore[attr-defined]
        assert str(info.value).startswith(
            "The argument 'options' can not set readableAll or writableAllt to true"
            " when path is abstract unix socket. Received "
        )
        assert not server.listening


@linux_only
async def test_longest_abstract_name_works_and_one_more_raises() -> None:
    name = "\0" + uuid.uuid4().hex + "n" * (SUN_PATH_SIZE - 33)
    assert len(name) == SUN_PATH_SIZE
    async with trionet.open_scope():
        server = greeter(b"x")
        await listen_ok(server, name)
        assert server.address() == name
        assert await read_all(trionet.connect(name)) == b"x"
        server.close()
        with pytest.raises(ValueError) as info:
            server.listen(name + "n")
        assert info.value.code == "ERR_INVALID_ARG_VALUE"  # type: ignore[attr-defined]
        assert f"abstract socket name: {SUN_PATH_SIZE + 1} bytes, at most {SUN_PATH_SIZE}" in str(
            info.value
        )


# -- interop with Node ----------------------------------------------------------------------

NODE_IPC_SERVER = r"""
const net = require('net');
const path = process.argv[1];
const server = net.createServer({allowHalfOpen: true}, (c) => {
  const chunks = [];
  c.on('data', (d) => chunks.push(d));
  c.on('end', () => c.end('node:' + Buffer.concat(chunks).toString()));
  c.on('close', () => server.close());
});
server.listen(path, () => console.log(JSON.stringify({address: server.address()})));
server.on('close', () => console.log(JSON.stringify({closed: true})));
"""

NODE_IPC_CLIENT = r"""
const net = require('net');
const c = net.connect(process.argv[1]);
const chunks = [];
c.on('connect', () => c.end('from node'));
c.on('data', (d) => chunks.push(d));
c.on('error', (e) => console.log(JSON.stringify({error: e.message})));
c.on('close', (hadError) => console.log(JSON.stringify(
  {received: Buffer.concat(chunks).toString(), hadError, address: c.address()})));
"""


@needs_node
@pytest.mark.node
async def test_node_ipc_server_trionet_client(sock_path: str) -> None:
    process = await start_node(NODE_IPC_SERVER, sock_path)
    try:
        assert process.stdout is not None
        lines = process.stdout
        first = json.loads((await _read_line(lines)).decode())
        assert first == {"address": sock_path}
        async with trionet.open_scope():
            client = trionet.connect(path=sock_path, allow_half_open=True)
            client.end(b"from trionet")
            assert await read_all(client) == b"node:from trionet"
            assert client.bytes_written == len(b"from trionet")
        assert json.loads((await _read_line(lines)).decode()) == {"closed": True}
        with anyio.fail_after(10):
            assert await process.wait() == 0
        assert not exists(sock_path)  # Node unlinked its own file
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


@needs_node
@pytest.mark.node
async def test_trionet_ipc_server_node_client(sock_path: str) -> None:
    async with trionet.open_scope():
        received: list[bytes] = []

        def on_conn(conn: trionet.Socket) -> None:
            conn.on("data", received.append)
            conn.on("end", lambda: conn.end(b"trionet:" + b"".join(received)))

        server = trionet.create_server(on_conn, allow_half_open=True)
        await listen_ok(server, sock_path, readable_all=True, writable_all=True)
        lines = await run_node(NODE_IPC_CLIENT, sock_path)
        assert lines == [{"received": "trionet:from node", "hadError": False, "address": {}}]
        server.close()
        await server.wait_closed()
    assert not exists(sock_path)


async def _read_line(stream: Any) -> bytes:
    """One line from a process's stdout (bounded)."""
    buf = bytearray()
    with anyio.fail_after(10):
        while not buf.endswith(b"\n"):
            buf += await stream.receive(1)
    return bytes(buf)
