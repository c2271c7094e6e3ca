"""An unref'd server does not keep run() going: it is closed once the rest is done."""

import trionet


def main():
    status = trionet.create_server(lambda sock: sock.end("ok\n"))
    status.listen(0, "127.0.0.1")  # an IP address: bound before listen() returns
    status.unref()  # a side service: run() need not wait for it

    # The real work of this program: one ref'd client, which ends on its own.
    client = trionet.connect(status.address()["port"], "127.0.0.1")
    client.on("data", lambda data: print("status:", data.decode().strip()))
    client.on("close", lambda had_error: print("client closed"))
    return status


status = trionet.run(main)
print("run() returned; the status server is listening:", status.listening)
