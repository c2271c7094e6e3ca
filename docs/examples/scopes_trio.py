"""A scope inside a Trio program: it is cancelled like any other code."""

import trio

import trionet


async def handle(sock):
    async with sock:
        async for chunk in sock:
            await sock.send(chunk)


async def heartbeat():
    while True:
        print("tick")
        await trio.sleep(0.2)


async def main():
    async with trio.open_nursery() as nursery:
        nursery.start_soon(heartbeat)
        with trio.move_on_after(0.5):  # serve for half a second, then stop
            async with trionet.open_scope():
                server = trionet.create_server(handle)
                server.listen(0, "127.0.0.1")
                await trionet.once(server, "listening")
                print("serving on port", server.address()["port"])
        print("the scope is closed; listening:", server.listening)
        nursery.cancel_scope.cancel()


trio.run(main)
