"""The echo server in the structured style, inside a Trio program (stop with Ctrl+C)."""

import trio

import trionet


async def handle(sock):
    async with sock:  # closes the connection gracefully when the block ends
        async for chunk in sock:
            await sock.send(chunk)


async def main():
    async with trionet.open_scope():
        server = trionet.create_server(handle)
        server.listen(8124)
        await trionet.once(server, "listening")
        print("listening on", server.address())


trio.run(main)
