"""TLS over a trionet Socket with anyio's TLSStream (trustme makes a throwaway CA)."""

import ssl

import anyio
import trustme
from anyio.streams.tls import TLSStream

import trionet

ca = trustme.CA()
server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ca.issue_cert("localhost").configure_cert(server_context)
client_context = ssl.create_default_context()
ca.configure_trust(client_context)


async def handle(sock):
    tls = await TLSStream.wrap(sock, server_side=True, ssl_context=server_context)
    async with tls:
        await tls.send(b"secret: " + await tls.receive())


async def main():
    async with trionet.open_scope(), trionet.create_server(handle) as server:
        server.listen(0, "127.0.0.1")
        await trionet.once(server, "listening")

        sock = trionet.connect(server.address()["port"], "127.0.0.1")
        await trionet.once(sock, "connect")
        tls = await TLSStream.wrap(sock, hostname="localhost", ssl_context=client_context)
        async with tls:
            await tls.send(b"hello")
            print(await tls.receive())


anyio.run(main)
