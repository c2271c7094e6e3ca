"""Reclaim a stale Unix socket file: only once a connect proves nobody listens on it."""

import errno
import os
import socket
import stat
import tempfile

import anyio

import trionet


async def remove_stale_socket(path):
    """Remove ``path`` if it is a socket file that no server answers on.

    Raises FileExistsError if something else is there, and OSError (errno
    EADDRINUSE) if a server is listening on it.
    """
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise FileExistsError(f"{path} exists and is not a socket")
    probe = trionet.connect(path)
    try:
        await trionet.once(probe, "connect")
    except ConnectionRefusedError:  # ECONNREFUSED: the file is there, nobody listens
        os.unlink(path)
        return
    probe.destroy()
    raise OSError(errno.EADDRINUSE, "a server is listening on", path)


async def main(path):
    async with trionet.open_scope():
        server = trionet.create_server(lambda sock: sock.end("hello\n"))
        try:
            server.listen(path)
            await trionet.once(server, "listening")
        except OSError as err:
            print("first try:", err.code)  # EADDRINUSE, as in Node
            await remove_stale_socket(path)
            server.listen(path)
            await trionet.once(server, "listening")
        print("listening on", server.address())
        server.close()


with tempfile.TemporaryDirectory() as directory:
    path = os.path.join(directory, "app.sock")
    # What a crashed server leaves behind: a socket file nobody listens on.
    with socket.socket(socket.AF_UNIX) as crashed:
        crashed.bind(path)
    anyio.run(main, path)
