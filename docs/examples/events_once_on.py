"""trionet.once() and trionet.on(): events as awaitables and as async iterators."""

import anyio

import trionet


async def client(port, n):
    sock = trionet.connect(port, "127.0.0.1")
    async with sock:
        await sock.send(f"client {n}".encode())
        await sock.send_eof()
        reply = b"".join([chunk async for chunk in sock])
        print(reply.decode())


async def serve(sock):
    async with sock:
        request = b"".join([chunk async for chunk in sock])
        await sock.send(b"hello, " + request)


async def main():
    async with trionet.open_scope():
        # allow_half_open: the reply is sent after the client's FIN (see the tutorial).
        server = trionet.create_server(allow_half_open=True)
        server.listen(0, "127.0.0.1")
        await trionet.once(server, "listening")  # returns the event's arguments: ()
        port = server.address()["port"]

        async with anyio.create_task_group() as tg:
            for n in range(3):
                tg.start_soon(client, port, n)
            # An accept loop: each 'connection' event is one item.
            async with trionet.on(server, "connection") as connections:
                served = 0
                async for (sock,) in connections:
                    tg.start_soon(serve, sock)
                    served += 1
                    if served == 3:
                        break
        server.close()


anyio.run(main, backend="trio")
