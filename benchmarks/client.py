"""A trionet client driving the shared C server: echo (req/s) and source (MB/s).

The C server (``../shared/bench/c_server``, built by ``make -C ../shared/bench``)
is the "physical limit" peer, so what is measured is the client side: trionet's
``connect``, ``'data'`` dispatch and ``write()``.

Usage::

    python benchmarks/client.py [--backend trio,asyncio,uvloop] [--test echo,source]
        [--connections 50] [--size 64] [--duration 3]

echo: ``--connections`` sockets, each writes ``--size`` bytes, waits until as many
came back, and writes again; the figure is requests per second over the
measured window. source: one socket reads what the server writes as fast as it
can; the figure is MB/s (10^6 bytes). Each line also shows the client's CPU time
per request (or per MB). The server runs pinned to CPU 1 and the client to
CPU 0 when ``taskset`` exists, as in the shared harness.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import subprocess
import sys
import time

if __package__ in (None, ""):  # run as a script from a checkout: import the tree's trionet
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import anyio

import trionet

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "bench"))
C_SERVER = os.path.join(BENCH, "c_server")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_c_server(mode: str) -> tuple[subprocess.Popen[str], int]:
    if (
        not os.path.exists(C_SERVER)
        and subprocess.run(["make", "-s", "-C", BENCH], check=False).returncode != 0
    ):
        sys.exit(f"client.py: cannot build {C_SERVER} (make -C {BENCH})")
    port = free_port()
    pin = ["taskset", "-c", "1"] if shutil.which("taskset") and os.cpu_count() != 1 else []
    server = subprocess.Popen(
        [*pin, C_SERVER, "--mode", mode, "--port", str(port)], stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None
    if server.stdout.readline().strip() != "READY":
        server.kill()
        sys.exit("client.py: the C server did not start")
    return server, port


async def echo(port: int, connections: int, size: int, warmup: float, duration: float) -> str:
    message = b"x" * size
    counts = [0]
    sockets: list[trionet.Socket] = []

    def start(sock: trionet.Socket) -> None:
        pending = [size]  # bytes still expected for the request in flight

        def on_data(data: bytes) -> None:
            pending[0] -= len(data)
            if pending[0] <= 0:
                counts[0] += 1
                pending[0] += size
                sock.write(message)

        sock.on("data", on_data)
        sock.on("error", lambda err: None)
        sock.write(message)

    for _ in range(connections):
        sock = trionet.connect(port, "127.0.0.1", no_delay=True)
        sock.once("connect", lambda sock=sock: start(sock))
        sockets.append(sock)
    await anyio.sleep(warmup)
    c0, t0, n0 = cpu_seconds(), time.perf_counter(), counts[0]
    await anyio.sleep(duration)
    c1, t1, n1 = cpu_seconds(), time.perf_counter(), counts[0]
    for sock in sockets:
        sock.destroy()
    requests = n1 - n0
    rate = requests / (t1 - t0)
    cpu = 1e6 * (c1 - c0) / max(requests, 1)
    return f"{rate:>10,.0f} req/s   client CPU {cpu:6.2f} µs/req   ({connections} conns, {size} B)"


async def source(port: int, warmup: float, duration: float) -> str:
    received = [0]
    sock = trionet.connect(port, "127.0.0.1")
    sock.on("error", lambda err: None)

    def on_data(data: bytes) -> None:
        received[0] += len(data)

    sock.on("data", on_data)
    await anyio.sleep(warmup)
    c0, t0, b0 = cpu_seconds(), time.perf_counter(), received[0]
    await anyio.sleep(duration)
    c1, t1, b1 = cpu_seconds(), time.perf_counter(), received[0]
    sock.destroy()
    megabytes = (b1 - b0) / 1e6
    rate = megabytes / (t1 - t0)
    cpu = 1e6 * (c1 - c0) / max(megabytes, 1e-9)
    return f"{rate:>10,.0f} MB/s    client CPU {cpu:6.1f} µs/MB    (1 connection, 64 KiB reads)"


def run_one(backend: str, test: str, args: argparse.Namespace) -> str:
    server, port = start_c_server("echo" if test == "echo" else "source")
    try:
        out: list[str] = []

        async def main() -> None:
            if test == "echo":
                out.append(
                    await echo(port, args.connections, args.size, args.warmup, args.duration)
                )
            else:
                out.append(await source(port, args.warmup, args.duration))

        trionet.run(main, backend=backend)
        return out[0]
    finally:
        server.terminate()
        server.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", default="trio,asyncio,uvloop")
    parser.add_argument("--test", default="echo,source")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--warmup", type=float, default=0.5)
    args = parser.parse_args(argv)
    if shutil.which("taskset") and os.cpu_count() != 1:
        os.sched_setaffinity(0, {0})
    for test in args.test.split(","):
        for backend in args.backend.split(","):
            print(f"{test:6} {backend:8} {run_one(backend, test, args)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
