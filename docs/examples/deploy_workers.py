"""Serve one port from several processes, one core each (Linux). Stop with Ctrl+C.

python deploy_workers.py reuse_port 4   # each worker binds the port (SO_REUSEPORT)
python deploy_workers.py inherit 4      # the parent binds, the workers inherit the socket
"""

import os
import socket
import subprocess
import sys

import trionet

HOST, PORT = "127.0.0.1", 8124


def worker(how, fd):
    def main():
        def on_connection(sock):
            sock.end(f"served by process {os.getpid()}\n")

        server = trionet.create_server(on_connection)
        if how == "reuse_port":
            server.listen(port=PORT, host=HOST, reuse_port=True)
        else:
            server.listen(fd=fd)  # the listening socket the parent handed down

    try:
        trionet.run(main)
    except KeyboardInterrupt:
        pass


def parent(how, count):
    fds = ()
    if how == "inherit":
        listener = socket.create_server((HOST, PORT))
        fds = (listener.fileno(),)
    command = [sys.executable, __file__, "--worker", how, str(fds[0] if fds else -1)]
    workers = [subprocess.Popen(command, pass_fds=fds) for _ in range(count)]
    if fds:
        listener.close()  # the workers hold their own copies now
    print(f"{count} workers serving {HOST}:{PORT} ({how})", flush=True)
    try:
        for process in workers:
            process.wait()
    except KeyboardInterrupt:  # Ctrl+C reaches the workers too: wait for them to end
        for process in workers:
            process.wait()


if sys.argv[1] == "--worker":
    worker(sys.argv[2], int(sys.argv[3]))
else:
    parent(sys.argv[1], int(sys.argv[2]))
