"""The command line: ``python -m trionet demo`` and ``python -m trionet echo``.

``demo`` starts an echo server and a client on loopback, exchanges a few
messages and prints every event as it happens, so a new user sees Node's
event order on their own machine. ``echo`` runs the echo server from Node's
documentation until interrupted.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import trionet


def _demo(backend: str, messages: int) -> int:
    def log(who: str, event: str, *args: Any) -> None:
        shown = ", ".join(repr(a) for a in args)
        print(f"{who:>7} {event}({shown})", flush=True)

    def main() -> None:
        def on_connection(sock: trionet.Socket) -> None:
            log("server", "connection", f"{sock.remote_address}:{sock.remote_port}")
            sock.on("data", lambda chunk: sock.write(chunk.upper()))
            sock.on("end", lambda: log("srvSock", "end"))

            def on_close(had_error: bool) -> None:
                log("srvSock", "close", had_error)
                server.close()

            sock.on("close", on_close)

        server = trionet.create_server(on_connection)
        server.on("close", lambda: log("server", "close"))

        def on_listening() -> None:
            address = server.address()
            assert isinstance(address, dict)
            log("server", "listening", address)
            client = trionet.connect(address["port"], "127.0.0.1")

            def on_connect() -> None:
                log("client", "connect")
                for i in range(messages):
                    client.write(f"hello {i}\n".encode())
                client.end()

            client.on("connect", on_connect)
            client.on("data", lambda chunk: log("client", "data", chunk))
            client.on("finish", lambda: log("client", "finish"))
            client.on("end", lambda: log("client", "end"))
            client.on(
                "close",
                lambda had_error: log(
                    "client", "close", had_error, f"bytes_read={client.bytes_read}"
                ),
            )

        server.listen(0, "127.0.0.1", on_listening)

    print(f"trionet {trionet.__version__} demo on {backend}", flush=True)
    trionet.run(main, backend=backend)
    print("demo finished: every handle closed, nothing leaked", flush=True)
    return 0


def _echo(backend: str, port: int, host: str | None) -> int:
    def main() -> None:
        def on_connection(sock: trionet.Socket) -> None:
            sock.write("hello\r\n")
            sock.pipe(sock)

        server = trionet.create_server(on_connection)
        server.on("listening", lambda: print(f"listening on {server.address()}", flush=True))
        server.listen(port, host)

    try:
        trionet.run(main, backend=backend)
    except KeyboardInterrupt:
        pass
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trionet", description=__doc__)
    parser.add_argument("--backend", choices=["trio", "asyncio", "uvloop"], default="trio")
    sub = parser.add_subparsers(dest="command")
    demo = sub.add_parser("demo", help="an echo exchange on loopback, every event printed")
    demo.add_argument("--messages", type=int, default=3)
    echo = sub.add_parser("echo", help="run Node's documentation echo server")
    echo.add_argument("--port", type=int, default=8124)
    echo.add_argument("--host", default=None)
    args = parser.parse_args(argv)
    if args.command == "echo":
        return _echo(args.backend, args.port, args.host)
    return _demo(args.backend, getattr(args, "messages", 3))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
