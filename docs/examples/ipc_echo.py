"""A Unix socket server and client: the same API as TCP, with a path instead of a port."""

import os
import tempfile

import trionet


def main(path):
    def on_connection(sock):
        sock.set_encoding("utf8")
        sock.on("data", lambda text: sock.write(text[::-1]))

    server = trionet.create_server(on_connection)
    server.on("close", lambda: print("closed; the socket file exists:", os.path.exists(path)))

    def on_listening():
        print("listening on", server.address())
        client = trionet.connect(path)  # a str that is not a port number is a path
        client.on("connect", lambda: client.end("stressed"))
        client.on("data", lambda data: print("reply:", data.decode()))
        client.on("close", lambda had_error: server.close())

    server.listen(path, on_listening)


with tempfile.TemporaryDirectory() as directory:
    trionet.run(main, os.path.join(directory, "echo.sock"))
