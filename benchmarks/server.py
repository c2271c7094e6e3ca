"""A trionet server for the shared benchmark harness (``../shared/bench/run.py``).

Written with trionet's public, Node-style API exactly as a user would write
it (``create_server``, a ``'data'`` listener, ``write``, ``'drain'``,
``allow_half_open`` for sink), mirroring ``../shared/bench/node_server.js``
line for line.

Usage::

    python benchmarks/server.py --mode echo|connect|idle|sink|source|http \\
        --port N|/unix/path [--backend trio|asyncio|uvloop]

Prints ``READY`` once listening on 127.0.0.1:N (or the Unix path).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

if __package__ in (None, ""):  # run as a script from a checkout: import the tree's trionet
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import trionet

CHUNK = b"x" * 65536
RESP = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, World!"
SEP = b"\r\n\r\n"
BACKLOG = 511


def echo(sock: trionet.Socket) -> None:
    sock.on("data", lambda data: sock.write(data))


def sink(sock: trionet.Socket) -> None:
    n = 0

    def on_data(data: bytes) -> None:
        nonlocal n
        n += len(data)

    sock.on("data", on_data)
    sock.on("end", lambda: sock.end(n.to_bytes(8, "big")))


def source(sock: trionet.Socket) -> None:
    is_open = True

    def pump() -> None:
        while is_open and sock.write(CHUNK):
            pass

    def on_close(had_error: bool) -> None:
        nonlocal is_open
        is_open = False

    sock.on("drain", pump)
    sock.on("close", on_close)
    pump()


def http(sock: trionet.Socket) -> None:
    buf = b""

    def on_data(data: bytes) -> None:
        nonlocal buf
        buf = buf + data if buf else data
        n = buf.count(SEP)
        if n:
            buf = buf[buf.rfind(SEP) + 4 :]
            sock.write(RESP if n == 1 else RESP * n)

    sock.on("data", on_data)


HANDLERS = {
    "echo": echo,
    "connect": echo,
    "idle": echo,
    "sink": sink,
    "source": source,
    "http": http,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", required=True, choices=sorted(HANDLERS))
    parser.add_argument("--port", required=True, help="TCP port on 127.0.0.1, or a Unix path")
    parser.add_argument("--backend", choices=["trio", "asyncio", "uvloop"], default="trio")
    args = parser.parse_args()
    handler = HANDLERS[args.mode]

    def serve() -> None:
        def on_connection(sock: trionet.Socket) -> None:
            sock.on("error", lambda err: None)  # ECONNRESET / EPIPE from clients going away
            handler(sock)

        server = trionet.create_server(
            on_connection, no_delay=True, allow_half_open=args.mode == "sink"
        )

        def on_error(err: Any) -> None:
            print(err, file=sys.stderr, flush=True)
            sys.exit(1)

        server.on("error", on_error)
        ready = lambda: print("READY", flush=True)  # noqa: E731
        if args.port.startswith("/"):
            try:
                os.unlink(args.port)
            except FileNotFoundError:
                pass
            server.listen({"path": args.port, "backlog": BACKLOG}, ready)
        else:
            server.listen({"port": int(args.port), "host": "127.0.0.1", "backlog": BACKLOG}, ready)

    trionet.run(serve, backend=args.backend)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
