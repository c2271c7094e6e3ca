"""An async 'data' listener: awaited before the next event, so events stay in order
and a slow listener slows that socket's reads (backpressure), not anyone else's."""

import anyio

import trionet

DATA = bytes(range(256)) * 4096  # 1 MiB


def main():
    received = []

    async def store(chunk):
        await anyio.sleep(0.001)  # a slow consumer, e.g. a database write
        received.append(chunk)

    def on_connection(sock):
        sock.on("data", store)
        sock.on("end", lambda: print(f"'end' after {len(received)} stored chunks"))
        sock.on("close", lambda had_error: server.close())

    server = trionet.create_server(on_connection)

    def on_listening():
        client = trionet.connect(server.address()["port"], "127.0.0.1")
        client.end(DATA)
        client.resume()  # read what the server sends (nothing here), then its FIN

    server.listen(0, "127.0.0.1", on_listening)
    return received


received = trionet.run(main)
print(f"{len(received)} chunks stored, in order:", b"".join(received) == DATA)
