"""Interop with Node both ways: Node client <-> trionet server, trionet client <-> Node server.

Each side streams random bytes (64 KiB chunks, never the whole payload in memory) and
hashes, with sha256, what it sends and what it receives; the test checks that each
side received exactly what the other sent. Both modes are half-closes:

* ``client-first``: the client sends and ends; the server reads to ``'end'``, then
  still sends its answer and ends (Node's allowHalfOpen server).
* ``server-first``: the server sends and ends at once; the client (allow_half_open)
  reads to ``'end'``, then still sends and ends.

The trionet server is written the Node way (``'data'``, ``write()`` + ``'drain'``,
``end()``); the trionet client uses the anyio ByteStream face (``send``,
``send_eof``, ``receive``), so both styles carry real traffic.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

import trionet
from tests.support import NODE, needs_node

pytestmark = [pytest.mark.anyio, needs_node, pytest.mark.node]

INTEROP_JS = Path(__file__).parent / "node" / "interop.js"
CHUNK = 64 * 1024
KIB = 1024
MIB = 1024 * 1024

SIZES = [
    pytest.param(0, id="0B"),
    pytest.param(1, id="1B"),
    pytest.param(64 * KIB, id="64KiB"),
    pytest.param(1 * MIB, id="1MiB"),
]
MODES = ["client-first", "server-first"]

Result = dict[str, Any]


def _sha256_empty() -> str:
    return hashlib.sha256(b"").hexdigest()


def send_stream(
    sock: trionet.Socket, total: int, rng: random.Random, done: Callable[[int, str], None]
) -> None:
    """Node's way: write chunks until write() returns False, go on at 'drain'; end()."""
    digest = hashlib.sha256()
    sent = 0

    def pump() -> None:
        nonlocal sent
        while sent < total:
            chunk = rng.randbytes(min(CHUNK, total - sent))
            digest.update(chunk)
            sent += len(chunk)
            if not sock.write(chunk):
                sock.once("drain", pump)
                return
        sock.end()
        done(sent, digest.hexdigest())

    pump()


def check(client: Result, server: Result, client_bytes: int, server_bytes: int) -> None:
    assert client.get("error") is None and server.get("error") is None, (client, server)
    assert client["sent"] == server["received"] == client_bytes, (client, server)
    assert server["sent"] == client["received"] == server_bytes, (client, server)
    assert client["sent_sha256"] == server["received_sha256"], (client, server)
    assert server["sent_sha256"] == client["received_sha256"], (client, server)
    if client_bytes == 0:
        assert server["received_sha256"] == _sha256_empty()
    assert client["had_error"] is False and server["had_error"] is False, (client, server)


# -- Node client <-> trionet server ------------------------------------------------------


async def trionet_server_with_node_client(mode: str, client_bytes: int, server_bytes: int) -> None:
    assert NODE is not None
    result: Result = {"sent": 0, "received": 0, "sent_sha256": None, "received_sha256": None}
    rng = random.Random(server_bytes)

    async with trionet.open_scope():
        server = trionet.create_server(allow_half_open=True)

        def on_connection(sock: trionet.Socket) -> None:
            digest = hashlib.sha256()

            def finished(sent: int, hexdigest: str) -> None:
                result["sent"], result["sent_sha256"] = sent, hexdigest

            def send() -> None:
                send_stream(sock, server_bytes, rng, finished)

            def on_data(chunk: bytes) -> None:
                digest.update(chunk)
                result["received"] += len(chunk)

            def on_end() -> None:
                result["received_sha256"] = digest.hexdigest()
                if mode == "client-first":
                    send()

            def on_close(had_error: bool) -> None:
                result["had_error"] = had_error
                server.close()

            sock.on("data", on_data)
            sock.on("end", on_end)
            sock.on("error", lambda err: result.__setitem__("error", repr(err)))
            sock.on("close", on_close)
            if mode == "server-first":
                send()

        server.on("connection", on_connection)
        server.listen(0, "127.0.0.1")
        await trionet.once(server, "listening")
        address = server.address()
        assert isinstance(address, dict)
        command = [NODE, str(INTEROP_JS), "client", str(address["port"]), mode]
        command += [str(client_bytes), str(server_bytes)]
        done = await anyio.run_process(command, check=False)
        assert done.returncode == 0, done.stderr.decode(errors="replace")
        node_result = json.loads(done.stdout.decode().splitlines()[-1])
    check(node_result, result, client_bytes, server_bytes)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size", SIZES)
async def test_node_client_trionet_server(size: int, mode: str) -> None:
    await trionet_server_with_node_client(mode, size, size)


# -- trionet client <-> Node server ------------------------------------------------------


async def _read_line(stream: BufferedByteReceiveStream) -> Any:
    return json.loads(await stream.receive_until(b"\n", 1 << 16))


async def trionet_client_with_node_server(mode: str, client_bytes: int, server_bytes: int) -> None:
    assert NODE is not None
    command = [NODE, str(INTEROP_JS), "server", mode, str(client_bytes), str(server_bytes)]
    process = await anyio.open_process(command)
    try:
        assert process.stdout is not None
        stdout = BufferedByteReceiveStream(process.stdout)
        port = (await _read_line(stdout))["port"]
        result = await run_trionet_client(port, mode, client_bytes)
        node_result = await _read_line(stdout)
        assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            with anyio.CancelScope(shield=True):
                await process.wait()
        await process.aclose()
    check(result, node_result, client_bytes, server_bytes)


async def run_trionet_client(port: int, mode: str, client_bytes: int) -> Result:
    """The structured way: send/send_eof/receive on the socket as an anyio ByteStream."""
    result: Result = {}
    rng = random.Random(client_bytes)

    async def send_all(sock: trionet.Socket) -> None:
        digest = hashlib.sha256()
        sent = 0
        while sent < client_bytes:
            chunk = rng.randbytes(min(CHUNK, client_bytes - sent))
            digest.update(chunk)
            sent += len(chunk)
            await sock.send(chunk)
        await sock.send_eof()
        result["sent"], result["sent_sha256"] = sent, digest.hexdigest()

    async def receive_all(sock: trionet.Socket) -> None:
        digest = hashlib.sha256()
        received = 0
        async for chunk in sock:
            digest.update(chunk)
            received += len(chunk)
        result["received"], result["received_sha256"] = received, digest.hexdigest()

    async with trionet.open_scope():
        sock = trionet.connect(port=port, host="127.0.0.1", allow_half_open=True)
        sock.on("error", lambda err: result.__setitem__("error", repr(err)))
        sock.on("close", lambda had_error: result.__setitem__("had_error", had_error))
        await trionet.once(sock, "connect")
        if mode == "client-first":
            await send_all(sock)
            await receive_all(sock)
        else:
            await receive_all(sock)
            await send_all(sock)
        await sock.wait_closed()
    return result


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size", SIZES)
async def test_trionet_client_node_server(size: int, mode: str) -> None:
    await trionet_client_with_node_server(mode, size, size)


# -- 64 MiB each way, once per direction and engine ---------------------------------------------


@pytest.mark.bound(120)
async def test_64mib_node_client_trionet_server() -> None:
    await trionet_server_with_node_client("client-first", 64 * MIB, 64 * MIB)


@pytest.mark.bound(120)
async def test_64mib_trionet_client_node_server() -> None:
    await trionet_client_with_node_server("client-first", 64 * MIB, 64 * MIB)
