"""Node's documentation echo server, line for line (python echo_server.py; stop with Ctrl+C)."""

import trionet


def main():
    def on_connection(c):
        # 'connection' listener.
        print("client connected")
        c.on("end", lambda: print("client disconnected"))
        c.write("hello\r\n")
        c.pipe(c)

    server = trionet.create_server(on_connection)
    server.listen(8124, lambda: print("server bound"))


trionet.run(main)
