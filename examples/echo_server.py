"""The echo server from Node's ``net`` documentation, ported line by line to trionet.

Node's version::

    const net = require('node:net');
    const server = net.createServer((c) => {
      // 'connection' listener.
      console.log('client connected');
      c.on('end', () => {
        console.log('client disconnected');
      });
      c.write('hello\\r\\n');
      c.pipe(c);
    });
    server.on('error', (err) => {
      throw err;
    });
    server.listen(8124, () => {
      console.log('server bound');
    });

Run it with ``python examples/echo_server.py [--port 8124] [--backend trio]`` and try
``telnet localhost 8124``; Ctrl-C stops it. ``--port 0`` lets the OS pick a free port;
the port bound is printed after ``server bound``.
"""

from __future__ import annotations

import argparse

import trionet


def main(port: int) -> None:
    def on_connection(c: trionet.Socket) -> None:
        # 'connection' listener.
        print("client connected", flush=True)
        c.on("end", lambda: print("client disconnected", flush=True))
        c.write("hello\r\n")
        c.pipe(c)

    server = trionet.create_server(on_connection)

    def on_error(err: BaseException) -> None:
        raise err

    server.on("error", on_error)

    def on_listening() -> None:
        print("server bound", flush=True)
        address = server.address()
        assert isinstance(address, dict)
        print(f"port {address['port']}", flush=True)

    server.listen(port, on_listening)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Node's documentation echo server, on trionet")
    parser.add_argument(
        "--port",
        type=int,
        default=8124,
        help="TCP port (default: 8124, as in Node's docs; 0: any free one)",
    )
    parser.add_argument("--backend", choices=["trio", "asyncio", "uvloop"], default="trio")
    args = parser.parse_args()
    try:
        trionet.run(main, args.port, backend=args.backend)
    except KeyboardInterrupt:
        pass  # Ctrl-C stops the server, as it stops Node's
