"""Stop on SIGTERM or Ctrl+C without cutting anyone off: stop accepting, let
open connections finish, then exit. (python graceful_shutdown.py)"""

import signal

import anyio

import trionet


async def handle(sock):
    async with sock:
        async for chunk in sock:  # serve until the client is done
            await sock.send(chunk)


async def main():
    async with trionet.open_scope():
        server = trionet.create_server(handle)
        server.listen(8124, "127.0.0.1")
        await trionet.once(server, "listening")
        print("serving; send SIGTERM or press Ctrl+C to stop", flush=True)
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for signum in signals:
                name = signal.Signals(signum).name
                print(f"{name}: not accepting; {server.connections} connection(s) open", flush=True)
                server.close()  # stop accepting now; 'close' comes after the last connection
                break
        await server.wait_closed()
    print("every connection has finished", flush=True)


anyio.run(main)
