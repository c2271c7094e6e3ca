"""Which errors are raised at once and which come as 'error' events."""

import socket

import trionet


def unused_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main():
    # A mistake in the call itself raises at once, in the caller.
    try:
        trionet.connect(65536)
    except ValueError as err:  # NodeValueError: Node's RangeError
        print(f"raised: {type(err).__name__} [{err.code}] {err}")

    # A failure of the network comes later, as an 'error' event, then 'close'(True).
    client = trionet.connect(unused_port(), "127.0.0.1")

    def on_error(err):
        print(f"event: {type(err).__name__}: {err}")  # str(err) is Node's message
        print("  code:", err.code, "errno:", err.errno, "syscall:", err.syscall)
        print("  address:", err.address, "port:", err.port)

    client.on("error", on_error)
    client.on("close", lambda had_error: print("close, had_error =", had_error))


trionet.run(main)
