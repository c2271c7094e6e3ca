"""A line protocol on anyio's buffered stream, on asyncio; the client is in the same program."""

import anyio
from anyio.streams.buffered import BufferedByteReceiveStream

import trionet


async def handle(sock):
    lines = BufferedByteReceiveStream(sock)  # any anyio byte stream works, a Socket too
    async with sock:
        while True:
            try:
                line = await lines.receive_until(b"\n", max_bytes=1024)
            except anyio.IncompleteRead:  # the client sent FIN
                return
            await sock.send(line.upper() + b"\n")


async def main():
    # Leaving `async with server` closes it and waits for its connections.
    async with trionet.open_scope(), trionet.create_server(handle) as server:
        server.listen(0, "127.0.0.1")
        await trionet.once(server, "listening")

        sock = trionet.connect(server.address()["port"], "127.0.0.1")
        async with sock:
            await sock.send(b"first line\nsecond line\n")
            await sock.send_eof()
            async for chunk in sock:
                print(chunk.decode(), end="")


anyio.run(main, backend="asyncio")
