"""Helpers shared by the tests: event traces, listening on a free port, running Node."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from typing import Any

import anyio
import pytest

import trionet
from trionet._server import _has_ipv6

NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node (the reference peer) is not installed")


class Trace:
    """Records events of one or more emitters as ``(who, event, *args)`` tuples, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def watch(self, emitter: trionet.EventEmitter, who: str, *names: str) -> Trace:
        for name in names:
            emitter.on(name, self._recorder(who, name))
        return self

    def _recorder(self, who: str, name: str) -> Any:
        def record(*args: Any) -> None:
            self.events.append((who, name, *args))

        return record

    def names(self, who: str | None = None) -> list[str]:
        """The event names seen (of ``who`` only, if given), in order."""
        return [e[1] for e in self.events if who is None or e[0] == who]


class Rec:
    """Records the named events of one emitter in order; a test can wait (bounded) for one."""

    def __init__(self, emitter: trionet.EventEmitter, *names: str) -> None:
        self.log: list[tuple[Any, ...]] = []
        self._seen = {name: anyio.Event() for name in names}
        for name in names:
            emitter.on(name, self._recorder(name))

    def _recorder(self, name: str) -> Callable[..., None]:
        def record(*args: Any) -> None:
            self.log.append((name, *args))
            self._seen[name].set()

        return record

    def names(self) -> list[str]:
        return [entry[0] for entry in self.log]

    def args(self, name: str) -> list[tuple[Any, ...]]:
        return [entry[1:] for entry in self.log if entry[0] == name]

    def data(self) -> Any:
        """Every 'data' chunk joined (text or bytes)."""
        chunks = [entry[1] for entry in self.log if entry[0] == "data"]
        if chunks and isinstance(chunks[0], str):
            return "".join(chunks)
        return b"".join(chunks)

    async def wait(self, name: str, timeout: float = 5) -> None:
        with anyio.fail_after(timeout):
            await self._seen[name].wait()


# The same probe the server uses to decide whether "no host" means "::" (cached there).
HAVE_IPV6 = _has_ipv6()
needs_ipv6 = pytest.mark.skipif(not HAVE_IPV6, reason="no IPv6 loopback on this host")


async def listening(server: trionet.Server, *args: Any, **kwargs: Any) -> int:
    """Listen (port 0 unless given) and wait for 'listening'; return the port."""
    if not args and "port" not in kwargs and "path" not in kwargs:
        args = (0, "127.0.0.1")
    server.listen(*args, **kwargs)
    with anyio.fail_after(5):
        await trionet.once(server, "listening")
    address = server.address()
    return address["port"] if isinstance(address, dict) else 0


async def closed(emitter: trionet.EventEmitter, timeout: float = 5) -> tuple[Any, ...]:
    """Wait (bounded) for 'close', ignoring any 'error' before it."""
    done = anyio.Event()
    box: list[tuple[Any, ...]] = []

    def on_close(*args: Any) -> None:
        box.append(args)
        done.set()

    emitter.once("close", on_close)
    with anyio.fail_after(timeout):
        await done.wait()
    return box[0]


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def fds_after_warm_up() -> int:
    """The fd count after one connection has come and gone, so that what a loop opens
    once, on first use, is not counted as a leak by a test comparing counts."""
    async with trionet.open_scope():
        server = trionet.create_server(lambda sock: sock.end())
        port = await listening(server)
        client = trionet.connect(port, "127.0.0.1")
        client.resume()
        await closed(client)
        server.close()
        await closed(server)
    return open_fds()


async def settled_fds(before: int) -> int:
    """The fd count once it is back to ``before``, or after 2 s (the loop transports
    close their sockets an iteration or two after abort())."""
    with anyio.move_on_after(2):
        while open_fds() > before:
            await anyio.sleep(0.01)
    return open_fds()


async def run_node(script: str, *args: str, timeout: float = 30) -> list[Any]:
    """Run a Node script; each stdout line must be JSON. Returns the parsed lines."""
    assert NODE is not None
    with anyio.fail_after(timeout):
        result = await anyio.run_process([NODE, "-e", script, "--", *args], check=False)
    if result.returncode != 0:
        raise AssertionError(
            f"node exited {result.returncode}: {result.stderr.decode(errors='replace')}"
        )
    return [json.loads(line) for line in result.stdout.decode().splitlines() if line.strip()]


async def start_node(script: str, *args: str) -> anyio.abc.Process:
    """Start a long-running Node script (stdout piped); the caller must terminate it."""
    assert NODE is not None
    return await anyio.open_process([NODE, "-e", script, "--", *args])


def python_subprocess_args(code: str) -> Sequence[str]:
    return [sys.executable, "-c", code]
