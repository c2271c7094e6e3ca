"""Node's documentation client: connect to the echo server, send a line, print the reply."""

import trionet


def main():
    def on_connect():
        # 'connect' listener.
        print("connected to server!")
        client.write("world!\r\n")

    def on_data(data):
        print(data.decode(), end="")
        client.end()

    client = trionet.create_connection({"port": 8124}, on_connect)
    client.on("data", on_data)
    client.on("end", lambda: print("disconnected from server"))


trionet.run(main)
