"""Micro-benchmarks of trionet's dispatch and write paths, in microseconds per operation.

Usage::

    python benchmarks/micro.py [--backend trio,asyncio,uvloop] [--quick]

Measured (best of several repeats, so that the noise of a shared machine
shows as little as possible):

* ``emit -> 1 plain listener``: ``EventEmitter.emit`` with one ``def`` listener;
  the same on a ``Socket`` (a handle), and the baseline of calling the
  listener directly.
* ``deliver -> 1 async listener``: a handle delivering an event to one
  ``async def`` listener through its in-order delivery queue (the listener is
  awaited by the handle's delivery task); per event, queue drain included.
* ``Socket.write(64 B)`` on a connected TCP socket on loopback, with and
  without a callback, next to a raw ``socket.send`` of the same 64 bytes on
  the same kind of connection (the kernel's share). The peer is a separate
  process that only reads, so no other Python code runs in between. The
  callback variant also counts running each callback on its later tick.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import timeit
from collections.abc import Callable
from typing import Any

if __package__ in (None, ""):  # run as a script from a checkout: import the tree's trionet
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import anyio
import anyio.lowlevel

import trionet

PAYLOAD = b"x" * 64

# A peer process that reads every connection it accepts until EOF (a thread each).
_DRAIN = r"""
import socket, threading
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(8)
print(ls.getsockname()[1], flush=True)
def drain(c):
    while c.recv(1 << 20):
        pass
    c.close()
while True:
    threading.Thread(target=drain, args=(ls.accept()[0],), daemon=True).start()
"""


def best_us(fn: Callable[[], object], number: int, repeat: int) -> float:
    """Best of ``repeat`` runs of ``number`` calls, in microseconds per call."""
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def bench_emit(number: int, repeat: int) -> dict[str, float]:
    results: dict[str, float] = {}

    def listener(data: bytes) -> None:
        pass

    results["call the listener directly (baseline)"] = best_us(
        lambda: listener(PAYLOAD), number, repeat
    )
    emitter = trionet.EventEmitter()
    emitter.on("data", listener)
    emit = emitter.emit
    results["EventEmitter.emit -> 1 plain listener"] = best_us(
        lambda: emit("data", PAYLOAD), number, repeat
    )
    returns_true = trionet.EventEmitter()
    returns_true.on("data", lambda data: True)
    results["EventEmitter.emit -> 1 plain listener returning True"] = best_us(
        lambda: returns_true.emit("data", PAYLOAD), number, repeat
    )
    # The loop itself, to subtract if you like.
    results["(timeit loop + lambda overhead)"] = best_us(lambda: None, number, repeat)
    return results


async def _socket_benches(number: int, repeat: int, port: int) -> dict[str, float]:
    results: dict[str, float] = {}

    # -- emit on a handle, and in-order delivery to an async listener ----------------
    sock = trionet.Socket()
    sock.on("error", lambda err: None)
    count = 0

    def plain(data: bytes) -> None:
        pass

    sock.on("x", plain)
    emit = sock.emit
    results["Socket.emit -> 1 plain listener"] = best_us(lambda: emit("x", PAYLOAD), number, repeat)

    done = anyio.Event()
    target = 0

    async def on_event(data: bytes) -> None:
        nonlocal count
        count += 1
        if count == target:
            done.set()

    sock.on("y", on_event)
    n = max(number // 10, 1000)
    best = float("inf")
    for _ in range(repeat):
        count = 0
        target = n
        done = anyio.Event()
        t0 = time.perf_counter()
        for _ in range(n):
            sock._deliver("y", PAYLOAD)
        await done.wait()
        best = min(best, (time.perf_counter() - t0) / n * 1e6)
    results["Handle._deliver -> 1 async listener (queued, awaited)"] = best
    sock.destroy()

    # -- writes on a connected socket -----------------------------------------------
    client = trionet.connect(port, "127.0.0.1")
    client.on("error", lambda err: None)
    await trionet.once(client, "connect")

    async def flushed() -> None:
        while client.writable_length:
            await trionet.once(client, "drain")

    batch = 200
    rounds = max(number // batch // 20, 20)

    async def time_batches(write: Callable[[bytes], object], cb_count: list[int] | None) -> float:
        """Per call, best of ``repeat``: ``rounds`` batches of ``batch`` calls, a yield between."""
        best = float("inf")
        for _ in range(repeat):
            total = 0.0
            for _ in range(rounds):
                await flushed()
                await anyio.lowlevel.checkpoint()
                if cb_count is not None:
                    cb_count[0] = 0
                t0 = time.perf_counter()
                for _ in range(batch):
                    write(PAYLOAD)
                if cb_count is not None:
                    while cb_count[0] < batch:  # the callbacks run on later ticks
                        await anyio.lowlevel.checkpoint()
                total += time.perf_counter() - t0
            best = min(best, total / (rounds * batch) * 1e6)
        return best

    raw = socket.create_connection(("127.0.0.1", port))
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client.set_no_delay(True)
    results["raw socket.send(64 B), same pattern (the kernel's share)"] = await time_batches(
        raw.send, None
    )
    raw.close()
    results["Socket.write(64 B)"] = await time_batches(client.write, None)
    called = [0]

    def cb(err: object) -> None:
        called[0] += 1

    results["Socket.write(64 B, callback), callback run included"] = await time_batches(
        lambda data: client.write(data, cb), called
    )

    # The Python share alone: the same call with the engine's write stubbed out.
    class _NullTransport:
        def __init__(self, real: Any) -> None:
            self.sock = real.sock

        def write(self, data: bytes) -> None:
            pass

        def get_write_buffer_size(self) -> int:
            return 0

    real = client._transport
    client._transport = _NullTransport(real)  # type: ignore[assignment]
    write = client.write
    results["Socket.write(64 B), engine stubbed (Python share only)"] = best_us(
        lambda: write(PAYLOAD), number, repeat
    )
    client._transport = real
    client.destroy()
    return results


def _count_tasks(backend: str) -> int:
    if backend == "trio":
        import trio

        def walk(task: trio.lowlevel.Task) -> int:
            return 1 + sum(walk(t) for n in task.child_nurseries for t in n.child_tasks)

        return walk(trio.lowlevel.current_root_task())  # type: ignore[arg-type]
    import asyncio

    return len(asyncio.all_tasks())


async def _tasks_per_idle_connection(backend: str, n: int = 50) -> float:
    """Server-side tasks held by ``n`` idle connections (each did one 1-byte echo)."""
    server = trionet.create_server(lambda sock: sock.on("data", lambda d: sock.write(d)))
    server.listen(0, "127.0.0.1")
    await trionet.once(server, "listening")
    address = server.address()
    assert isinstance(address, dict)
    await anyio.sleep(0.05)
    before = _count_tasks(backend)
    clients = []
    for _ in range(n):
        c = socket.create_connection(("127.0.0.1", address["port"]))
        c.setblocking(False)
        c.send(b"x")
        clients.append(c)
    pending = set(clients)
    with anyio.fail_after(10):
        while pending:
            await anyio.sleep(0.01)
            for c in list(pending):
                try:
                    if c.recv(1):
                        pending.discard(c)
                except BlockingIOError:
                    pass
    await anyio.sleep(0.05)
    after = _count_tasks(backend)
    for c in clients:
        c.close()
    server.close()
    return (after - before) / n


def bench_socket(backend: str, number: int, repeat: int, port: int) -> dict[str, float]:
    out: dict[str, float] = {}

    async def main() -> None:
        out.update(await _socket_benches(number, repeat, port))
        out["tasks per idle connection"] = await _tasks_per_idle_connection(backend)

    trionet.run(main, backend=backend)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", default="trio,asyncio,uvloop")
    parser.add_argument("--quick", action="store_true", help="fewer iterations")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    number, repeat = (200_000, 3) if args.quick else (1_000_000, 5)

    rows: list[tuple[str, str, float]] = []
    tasks: dict[str, float] = {}
    for name, us in bench_emit(number, repeat).items():
        rows.append(("-", name, us))
    peer = subprocess.Popen([sys.executable, "-c", _DRAIN], stdout=subprocess.PIPE, text=True)
    try:
        assert peer.stdout is not None
        port = int(peer.stdout.readline())
        for backend in args.backend.split(","):
            for name, us in bench_socket(backend, number // 4, repeat, port).items():
                if name == "tasks per idle connection":
                    tasks[backend] = us
                else:
                    rows.append((backend, name, us))
    finally:
        peer.kill()
        peer.wait()
    if args.json:
        print(json.dumps({"rows": rows, "tasks_per_idle_connection": tasks}))
        return 0
    print("| backend | operation | µs/op |")
    print("|---|---|---:|")
    for backend, name, us in rows:
        print(f"| {backend} | {name} | {us:.3f} |")
    print()
    print("| backend | server tasks per idle connection |")
    print("|---|---:|")
    for backend, n in tasks.items():
        print(f"| {backend} | {n:g} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
