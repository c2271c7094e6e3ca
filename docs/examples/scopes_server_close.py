"""A server's 'close' comes after the 'close' of its last connection."""

import trionet


def main():
    def on_connection(sock):
        server.close()  # stop accepting; this connection carries on
        print("server.close() called; listening:", server.listening)
        sock.on("close", lambda had_error: print("connection: close"))
        sock.end("bye\n")

    server = trionet.create_server(on_connection)
    server.on("close", lambda: print("server: close"))

    def on_listening():
        client = trionet.connect(server.address()["port"], "127.0.0.1")
        client.on("data", lambda data: print("client got:", data.decode().strip()))

    server.listen(0, "127.0.0.1", on_listening)


trionet.run(main)
