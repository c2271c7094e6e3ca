"""A server and a client in one program; it ends by itself once both are closed.

Run it as ``python hello_both.py`` (Trio), ``python hello_both.py asyncio`` or
``python hello_both.py uvloop``.
"""

import sys

import trionet


def main():
    def on_connection(sock):
        sock.set_encoding("utf8")
        sock.on("data", lambda text: sock.write(text.upper()))
        sock.on("end", lambda: print("server: the client has finished sending"))

    server = trionet.create_server(on_connection)
    server.on("close", lambda: print("server: closed"))

    def on_listening():
        port = server.address()["port"]
        client = trionet.connect(port, "127.0.0.1")
        client.set_encoding("utf8")
        client.on("connect", lambda: client.end("hello, trionet\n"))
        client.on("data", lambda text: print("client got:", text, end=""))
        client.on("close", lambda had_error: server.close())

    server.listen(0, "127.0.0.1", on_listening)


backend = sys.argv[1] if len(sys.argv) > 1 else "trio"
trionet.run(main, backend=backend)
print("run() returned: nothing is left open")
