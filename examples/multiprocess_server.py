"""Scale out past one core: N worker processes serving one port (the deployment recipe).

A Python process runs Python code on one core at a time, as a Node process runs
JavaScript on one. Node scales out with ``cluster``; trionet with plain worker
processes that share a listening port, each running its own ``trionet.run``.
Two ways to share the port, both shown here:

``--mode reuse-port`` (the default; Linux, the BSDs, macOS)
    Every worker listens on the same host and port with ``reuse_port=True``
    (``SO_REUSEPORT``, Node 22.12's ``reusePort``). On Linux the kernel spreads
    new connections over the workers' sockets by a hash of the client's address
    and port. The parent only reserves the port (a bound, not listening, socket
    with ``SO_REUSEPORT``, so that ``--port 0`` can pick one for everybody).

``--mode inherit`` (the pre-fork pattern; systemd socket activation is the same idea)
    The parent binds and listens once and hands the socket down (``pass_fds``);
    every worker calls ``server.listen(fd=N)``. All workers accept from one queue:
    whichever is free takes the next connection, so a busy worker takes fewer.
    Under systemd, a worker would call ``listen(fd=3)`` (``SD_LISTEN_FDS_START``).

``exclusive`` (Node's option for cluster workers) has no meaning outside Node's
cluster: trionet accepts it and ignores it.

Each worker answers every connection with its pid and a newline, then closes it::

    python examples/multiprocess_server.py --workers 4 --port 8000
    for i in $(seq 8); do nc localhost 8000; done     # several pids show up

The parent prints ``serving on HOST:PORT pids PID,PID,...`` once every worker
listens. Ctrl-C (SIGINT) or SIGTERM stops the workers and the parent (exit 0).
Options: ``--workers N`` (default: the number of CPUs), ``--host``, ``--port``
(0: any free port), ``--mode``, ``--backend trio|asyncio|uvloop``.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from types import FrameType

import trionet

# -- the worker ------------------------------------------------------------------------------


def worker_main(host: str, port: int, fd: int | None) -> None:
    pid = os.getpid()
    answer = f"{pid}\n".encode()

    def on_connection(conn: trionet.Socket) -> None:
        conn.end(answer)

    server = trionet.create_server(on_connection)

    def on_error(err: BaseException) -> None:
        raise err

    server.on("error", on_error)
    server.on("listening", lambda: print(f"worker {pid} listening", flush=True))
    if fd is not None:
        server.listen(fd=fd)  # the parent's listening socket, inherited
    else:
        server.listen(port=port, host=host, reuse_port=True)


def run_worker(args: argparse.Namespace) -> int:
    try:
        trionet.run(worker_main, args.host, args.port, args.fd, backend=args.backend)
    except KeyboardInterrupt:
        pass  # the parent (or Ctrl-C) stops the worker
    return 0


# -- the parent ------------------------------------------------------------------------------


def reserve_port(host: str, port: int) -> socket.socket:
    """A bound, not listening, SO_REUSEPORT socket: it holds the port for the workers."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    holder = socket.socket(family, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind((host, port))
    return holder


def run_parent(args: argparse.Namespace) -> int:
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    command = [sys.executable, os.path.abspath(__file__), "--worker", "--backend", args.backend]
    if args.mode == "reuse-port":
        shared = reserve_port(args.host, args.port)
        command += ["--host", args.host, "--port", str(shared.getsockname()[1])]
        pass_fds: tuple[int, ...] = ()
    else:
        family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
        shared = socket.create_server((args.host, args.port), family=family, backlog=511)
        command += ["--fd", str(shared.fileno())]
        pass_fds = (shared.fileno(),)
    port = shared.getsockname()[1]

    workers = [
        subprocess.Popen(command, pass_fds=pass_fds, stdout=subprocess.PIPE, text=True)
        for _ in range(args.workers)
    ]
    status = 0
    try:
        for worker in workers:
            assert worker.stdout is not None
            line = worker.stdout.readline()  # "worker PID listening"
            if not line.startswith("worker "):
                raise RuntimeError(f"worker {worker.pid} failed to start")
        shared.close()  # the workers hold the port (or the socket) now
        pids = ",".join(str(w.pid) for w in workers)
        print(f"serving on {args.host}:{port} pids {pids}", flush=True)
        while not stopping:
            if any(w.poll() is not None for w in workers):
                print("a worker exited; stopping", file=sys.stderr, flush=True)
                status = 1
                break
            time.sleep(0.1)
    finally:
        shared.close()
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGINT)
        for worker in workers:
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
            if worker.stdout is not None:
                worker.stdout.close()
    return status


def main() -> int:
    parser = argparse.ArgumentParser(description="N trionet worker processes on one port")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8000, help="0: any free port")
    parser.add_argument("--mode", choices=["reuse-port", "inherit"], default="reuse-port")
    parser.add_argument("--backend", choices=["trio", "asyncio", "uvloop"], default="trio")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--fd", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return run_worker(args)
    return run_parent(args)


if __name__ == "__main__":
    sys.exit(main())
