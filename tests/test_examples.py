"""The examples run as real programs: examples/echo_server.py driven by a Node client.

Each test starts the example as a subprocess on the engine under test (``--backend``),
on a free port (``--port 0``), lets Node's clients talk to it, then stops it with
SIGINT (Ctrl-C) and expects a clean exit: status 0, nothing on stderr.
"""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

import trionet
from tests.support import NODE, needs_node

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).parent.parent
ECHO_SERVER = ROOT / "examples" / "echo_server.py"
ECHO_CLIENT = Path(__file__).parent / "node" / "echo_client.js"


async def read_line(stream: BufferedByteReceiveStream, timeout: float = 10) -> str:
    with anyio.fail_after(timeout):
        return (await stream.receive_until(b"\n", 1 << 16)).decode()


async def read_all(stream: anyio.abc.ByteReceiveStream | None) -> bytes:
    data = b""
    if stream is not None:
        with anyio.fail_after(10):
            async for chunk in stream:
                data += chunk
    return data


async def node_clients(port: int, text: str, repeat: int, connections: int) -> list[Any]:
    assert NODE is not None
    command = [NODE, str(ECHO_CLIENT), str(port), text, str(repeat), str(connections)]
    with anyio.fail_after(20):
        done = await anyio.run_process(command, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert done.stderr == b""
    return [json.loads(line) for line in done.stdout.decode().splitlines()]


@needs_node
@pytest.mark.node
@pytest.mark.parametrize(
    ("text", "repeat", "connections"),
    [
        pytest.param("ping\n", 3, 2, id="two-clients"),
        pytest.param("0123456789abcdef", 64 * 1024, 1, id="1MiB"),
    ],
)
async def test_echo_server(backend_name: str, text: str, repeat: int, connections: int) -> None:
    command = [sys.executable, str(ECHO_SERVER), "--port", "0", "--backend", backend_name]
    process = await anyio.open_process(command, cwd=ROOT)
    try:
        assert process.stdout is not None
        stdout = BufferedByteReceiveStream(process.stdout)
        assert await read_line(stdout) == "server bound"
        word, port = (await read_line(stdout)).split()
        assert word == "port"

        results = await node_clients(int(port), text, repeat, connections)

        payload = text.encode() * repeat
        echoed = b"hello\r\n" + payload
        expected = {
            "head": echoed[:64].decode("latin1"),
            "length": len(echoed),
            "sha256": hashlib.sha256(echoed).hexdigest(),
            "had_error": False,
        }
        assert results == [expected] * connections
        lines = [await read_line(stdout) for _ in range(2 * connections)]
        assert sorted(lines) == sorted(["client connected", "client disconnected"] * connections)
        assert lines[0] == "client connected"

        process.send_signal(signal.SIGINT)
        with anyio.fail_after(10):
            returncode = await process.wait()
        assert await read_all(stdout) == b""
        assert await read_all(process.stderr) == b""
        assert returncode == 0
    finally:
        if process.returncode is None:
            process.kill()
            with anyio.CancelScope(shield=True):
                await process.wait()
        await process.aclose()


def test_echo_server_help() -> None:
    """--port defaults to 8124 (Node's), --backend offers every engine."""
    done = subprocess.run(
        [sys.executable, str(ECHO_SERVER), "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert "default: 8124" in done.stdout
    assert "{trio,asyncio,uvloop}" in done.stdout


def test_ctrl_c_seen_by_several_tasks_is_one_keyboard_interrupt() -> None:
    """The example's ``except KeyboardInterrupt`` must catch a Ctrl-C pressed twice.

    On Trio, two quick SIGINTs can reach two tasks of the scope; run() must still
    raise one KeyboardInterrupt, not a BaseExceptionGroup that the except misses.
    (asyncio's runner turns SIGINT into cancelling its main task: nothing to test there.)
    """

    async def interrupted() -> None:
        raise KeyboardInterrupt  # both tasks start in one batch: both raise

    def main() -> None:
        scope = trionet.current_scope()
        scope.spawn(interrupted)
        scope.spawn(interrupted)

    with pytest.raises(KeyboardInterrupt):
        trionet.run(main, backend="trio")
