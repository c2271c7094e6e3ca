"""``reuse_port``, ``exclusive``, ``ipv6_only``, ``backlog`` and local binds on connect.

The listen/connect options of the IPC-and-handles issue: SO_REUSEPORT (in one
process and across two worker processes of ``examples/multiprocess_server.py``),
Node's ``exclusive`` (a cluster-only option, accepted and ignored), IPV6_V6ONLY,
the listen queue size, and the errors of binding the local end of a connection.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import pytest

import trionet
from tests.support import Trace, closed

pytestmark = pytest.mark.anyio

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "multiprocess_server.py"
HAS_REUSEPORT = hasattr(socket, "SO_REUSEPORT")
needs_reuseport = pytest.mark.skipif(not HAS_REUSEPORT, reason="no SO_REUSEPORT here")


def _has_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


needs_ipv6 = pytest.mark.skipif(not _has_ipv6(), reason="no IPv6 loopback")


async def listening(server: trionet.Server, *args: Any, **kwargs: Any) -> dict[str, Any]:
    server.listen(*args, **kwargs)
    with anyio.fail_after(5):
        await trionet.once(server, "listening")
    address = server.address()
    assert isinstance(address, dict)
    return address


async def listen_error(server: trionet.Server, *args: Any, **kwargs: Any) -> Any:
    server.listen(*args, **kwargs)
    with anyio.fail_after(5):
        (err,) = await trionet.once(server, "error")
    return err


async def fetch(port: int, host: str = "127.0.0.1") -> bytes:
    client = trionet.connect(port, host)
    got: list[bytes] = []
    client.on("data", got.append)
    await closed(client)
    return b"".join(got)


def greeter(text: bytes) -> trionet.Server:
    return trionet.create_server(lambda conn: conn.end(text))


# -- reuse_port -----------------------------------------------------------------------------


@needs_reuseport
async def test_two_servers_share_a_port_with_reuse_port() -> None:
    async with trionet.open_scope():
        first = greeter(b"first")
        port = (await listening(first, port=0, host="127.0.0.1", reuse_port=True))["port"]
        second = greeter(b"second")
        address = await listening(second, {"port": port, "host": "127.0.0.1", "reusePort": True})
        assert address["port"] == port
        seen: set[bytes] = set()
        for _ in range(200):  # the kernel hashes each client's port: both show up soon
            seen.add(await fetch(port))
            if len(seen) == 2:
                break
        assert seen == {b"first", b"second"}
        first.close()
        assert {await fetch(port) for _ in range(5)} == {b"second"}
        second.close()


@pytest.mark.parametrize("first_reuses", [False, True])
async def test_without_reuse_port_on_both_the_port_is_in_use(first_reuses: bool) -> None:
    async with trionet.open_scope():
        first = greeter(b"")
        port = (await listening(first, port=0, host="127.0.0.1", reuse_port=first_reuses))["port"]
        second = greeter(b"")
        err = await listen_error(second, port=port, host="127.0.0.1")
        assert err.code == "EADDRINUSE"
        assert str(err) == f"listen EADDRINUSE: address already in use 127.0.0.1:{port}"
        assert not second.listening
        first.close()


@pytest.mark.parametrize("exclusive", [True, False])
async def test_exclusive_is_accepted_and_changes_nothing(exclusive: bool) -> None:
    """Node's ``exclusive`` only matters to cluster workers: a no-op in trionet."""
    async with trionet.open_scope():
        server = greeter(b"ok")
        port = (await listening(server, port=0, host="127.0.0.1", exclusive=exclusive))["port"]
        assert await fetch(port) == b"ok"
        server.close()


# -- ipv6_only ------------------------------------------------------------------------------


@needs_ipv6
async def test_ipv6_only_leaves_ipv4_free() -> None:
    async with trionet.open_scope():
        v6 = greeter(b"v6")
        port = (await listening(v6, port=0, host="::", ipv6_only=True))["port"]
        assert await fetch(port, "::1") == b"v6"
        client = trionet.connect(port, "127.0.0.1")
        with anyio.fail_after(5):
            (err,) = await trionet.once(client, "error")
        assert err.code == "ECONNREFUSED"
        v4 = greeter(b"v4")
        await listening(v4, port=port, host="0.0.0.0")
        assert await fetch(port, "127.0.0.1") == b"v4"
        assert await fetch(port, "::1") == b"v6"
        v4.close()
        v6.close()


@needs_ipv6
async def test_dual_stack_by_default_takes_ipv4_too() -> None:
    async with trionet.open_scope():
        both = greeter(b"both")
        address = await listening(both, port=0, host="::")
        port = address["port"]
        assert address["family"] == "IPv6"
        assert await fetch(port, "127.0.0.1") == b"both"
        v4 = greeter(b"")
        err = await listen_error(v4, port=port, host="0.0.0.0")
        assert err.code == "EADDRINUSE"
        both.close()


# -- backlog --------------------------------------------------------------------------------


async def listen_queue_size(port: int) -> int:
    """The listen queue size of 127.0.0.1:port: ``ss`` shows it as Send-Q."""
    try:
        result = await anyio.run_process(["ss", "-ltnH", f"sport = :{port}"], check=False)
    except FileNotFoundError:
        pytest.skip("ss is not installed")
    fields = result.stdout.decode().split()
    return int(fields[2])


@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        ((0, "127.0.0.1"), {}, 511),
        ((0, "127.0.0.1", 7), {}, 7),
        ((0, "127.0.0.1"), {"backlog": 13}, 13),
        (({"port": 0, "host": "127.0.0.1", "backlog": 21},), {}, 21),
    ],
    ids=["default", "positional", "keyword", "options"],
)
async def test_backlog(args: tuple[Any, ...], kwargs: dict[str, Any], expected: int) -> None:
    async with trionet.open_scope():
        server = greeter(b"")
        port = (await listening(server, *args, **kwargs))["port"]
        assert await listen_queue_size(port) == expected
        server.close()


# -- local_address / local_port on connect ------------------------------------------------


async def test_local_port_in_use_is_a_bind_error() -> None:
    """Node: ``bind EADDRINUSE 127.0.0.1:P`` as 'error', before any connection attempt."""
    async with trionet.open_scope():
        target = greeter(b"")
        port = (await listening(target, 0, "127.0.0.1"))["port"]
        holder = greeter(b"")
        busy = (await listening(holder, 0, "127.0.0.1"))["port"]
        client = trionet.connect(
            port=port, host="127.0.0.1", local_address="127.0.0.1", local_port=busy
        )
        trace = Trace().watch(
            client, "c", "connectionAttempt", "connectionAttemptFailed", "connect", "error", "close"
        )
        await closed(client)
        assert trace.names() == ["error", "close"]
        err = trace.events[0][2]
        assert isinstance(err, OSError)
        assert str(err) == f"bind EADDRINUSE 127.0.0.1:{busy}"
        assert err.code == "EADDRINUSE"  # type: ignore[attr-defined]
        assert err.syscall == "bind"  # type: ignore[attr-defined]
        assert err.address == "127.0.0.1"  # type: ignore[attr-defined]
        assert err.port == busy  # type: ignore[attr-defined]
        assert trace.events[1][2] is True
        target.close()
        holder.close()


async def test_local_port_alone_binds_the_unspecified_address() -> None:
    async with trionet.open_scope():
        holder = greeter(b"")
        busy = (await listening(holder, 0, "0.0.0.0"))["port"]
        client = trionet.connect(port=busy, host="127.0.0.1", local_port=busy)
        with anyio.fail_after(5):
            (err,) = await trionet.once(client, "error")
        assert str(err) == f"bind EADDRINUSE 0.0.0.0:{busy}"
        holder.close()


async def test_local_address_not_on_this_host_is_eaddrnotavail() -> None:
    async with trionet.open_scope():
        target = greeter(b"")
        port = (await listening(target, 0, "127.0.0.1"))["port"]
        client = trionet.connect({"port": port, "host": "127.0.0.1", "localAddress": "192.0.2.1"})
        trace = Trace().watch(client, "c", "connectionAttempt", "error", "close")
        await closed(client)
        assert trace.names() == ["error", "close"]
        err = trace.events[0][2]
        assert str(err) == "bind EADDRNOTAVAIL 192.0.2.1"
        assert err.code == "EADDRNOTAVAIL"
        assert err.syscall == "bind"
        assert err.port is None
        target.close()


async def test_local_port_is_the_servers_remote_port() -> None:
    """S4, over the same path as the errors above: the bind happens before connect."""
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    local_port = free.getsockname()[1]
    free.close()
    async with trionet.open_scope():
        seen: list[tuple[Any, Any]] = []

        def on_conn(conn: trionet.Socket) -> None:
            seen.append((conn.remote_address, conn.remote_port))
            conn.end()

        server = trionet.create_server(on_conn)
        port = (await listening(server, 0, "127.0.0.1"))["port"]
        client = trionet.connect(
            port, "127.0.0.1", local_address="127.0.0.1", local_port=local_port
        )
        with anyio.fail_after(5):
            await trionet.once(client, "connect")
        assert client.local_port == local_port
        await closed(client)
        assert seen == [("127.0.0.1", local_port)]
        server.close()


# -- worker processes on one port (examples/multiprocess_server.py) ---------------------------


async def _line(process: anyio.abc.Process) -> str:
    assert process.stdout is not None
    buf = bytearray()
    with anyio.fail_after(30):
        while not buf.endswith(b"\n"):
            buf += await process.stdout.receive(1)
    return buf.decode()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def run_example(backend: str, mode: str, tries: int) -> tuple[list[int], list[int]]:
    """Start 2 workers; connect until both pids answered (at most ``tries`` times).

    Returns (the workers' pids, the pids that answered, in order). Stops the
    example with SIGINT and checks that it and its workers exit cleanly.
    """
    command = [
        sys.executable,
        str(EXAMPLE),
        "--workers",
        "2",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--mode",
        mode,
        "--backend",
        backend,
    ]
    process = await anyio.open_process(command, start_new_session=True)
    try:
        line = await _line(process)
        assert line.startswith("serving on 127.0.0.1:"), line
        words = line.split()
        port = int(words[2].rsplit(":", 1)[1])
        workers = [int(p) for p in words[4].split(",")]
        assert len(set(workers)) == 2
        answered: list[int] = []
        async with trionet.open_scope():
            for _ in range(tries):
                answered.append(int(await fetch(port)))
                if set(answered) == set(workers):
                    break
        process.send_signal(signal.SIGINT)
        with anyio.fail_after(20):
            assert await process.wait() == 0
        assert not any(_alive(pid) for pid in workers)
        return workers, answered
    finally:
        if process.returncode is None:
            os.killpg(process.pid, signal.SIGKILL)
            await process.wait()


@needs_reuseport
@pytest.mark.bound(90)
async def test_two_worker_processes_both_receive_connections(backend_name: str) -> None:
    workers, answered = await run_example(backend_name, "reuse-port", tries=200)
    assert set(answered) == set(workers)


@pytest.mark.bound(90)
async def test_workers_on_an_inherited_socket(backend_name: str) -> None:
    """The pre-fork mode: every answer comes from one of the workers (one accept queue)."""
    workers, answered = await run_example(backend_name, "inherit", tries=20)
    assert set(answered) <= set(workers)
    assert len(answered) >= 1
