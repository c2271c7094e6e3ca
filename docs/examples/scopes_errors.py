"""Where errors go: an unhandled 'error' or a listener's exception ends run() with it."""

import socket

import trionet


def unused_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def refused():
    trionet.connect(unused_port(), "127.0.0.1")  # no 'error' listener


def handled():
    client = trionet.connect(unused_port(), "127.0.0.1")
    client.on("error", lambda err: print("handled:", err.code))


def buggy():
    server = trionet.create_server()
    server.on("listening", lambda: 1 / 0)  # a bug in a listener
    server.listen(0, "127.0.0.1")


try:
    trionet.run(refused)
except ConnectionRefusedError as err:
    print("run() raised:", err)

trionet.run(handled)

try:
    trionet.run(buggy)
except ZeroDivisionError as err:
    print("run() raised:", repr(err))
