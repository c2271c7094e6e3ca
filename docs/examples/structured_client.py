"""A client in the structured style, on asyncio through anyio."""

import anyio

import trionet


async def main():
    async with trionet.open_scope():
        sock = trionet.connect(8124, "localhost")
        await trionet.once(sock, "connect")  # raises ConnectionRefusedError etc.
        async with sock:
            await sock.send(b"ping\n")
            print(await sock.receive())


anyio.run(main, backend="asyncio")
