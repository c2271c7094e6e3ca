"""In the structured style, await the event: the error is raised where you wait."""

import socket

import anyio

import trionet


def unused_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def fetch(port):
    sock = trionet.connect(port, "127.0.0.1")
    try:
        await trionet.once(sock, "connect")
    except ConnectionRefusedError as err:
        print("not running:", err)
        return None
    async with sock:
        return await sock.receive()


async def main():
    async with trionet.open_scope():
        print(await fetch(unused_port()))


anyio.run(main)
