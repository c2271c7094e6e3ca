"""Run every example the documentation shows, and check what each one prints.

    .venv/bin/python docs/examples/check.py            # all of them
    .venv/bin/python docs/examples/check.py ipc_echo   # those whose name contains "ipc_echo"

Each program runs in its own process (and session) on loopback, bounded by a
timeout; servers that run until Ctrl+C get a SIGINT and must then exit.
Exit status 0 if every check passed.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

# Started in the background by a non-interactive shell, this process (and every server
# it starts) would ignore SIGINT, which the checks use to stop the servers.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
TIMEOUT = 20.0
SHOWN_PORT = "8124"  # the port the documentation shows


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


#: The examples run as copies with the shown port replaced by a free one, so that a
#: busy 8124 (another server, a parallel run) cannot make a check fail.
PORT = _free_port()
_COPIES = Path(tempfile.mkdtemp(prefix="trionet-doc-examples-"))
atexit.register(shutil.rmtree, _COPIES, ignore_errors=True)
for _example in HERE.glob("*.py"):
    if _example.name != "check.py":
        text = _example.read_text().replace(SHOWN_PORT, str(PORT))
        (_COPIES / _example.name).write_text(text)


def _run(script: str, *args: str) -> str:
    """Run a program to completion; return its output (stdout and stderr)."""
    done = subprocess.run(
        [PYTHON, str(_COPIES / script), *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=HERE,
    )
    out = done.stdout + done.stderr
    if done.returncode != 0:
        raise AssertionError(f"exit status {done.returncode}\n{out}")
    return out


def _expect(out: str, *patterns: str) -> None:
    for pattern in patterns:
        if not re.search(pattern, out, re.MULTILINE):
            raise AssertionError(f"no match for {pattern!r} in:\n{out}")


def _wait_port(port: int = PORT) -> None:
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _serve(script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PYTHON, str(_COPIES / script), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=HERE,
        start_new_session=True,
    )


def _stop(server: subprocess.Popen[str]) -> str:
    """Ctrl+C the server's whole session; it must exit. Return what it printed."""
    try:
        os.killpg(server.pid, signal.SIGINT)
        out, _ = server.communicate(timeout=TIMEOUT)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    return out


def _with_server(script: str, *args: str) -> Callable[[Callable[[], None]], str]:
    def run(body: Callable[[], None]) -> str:
        server = _serve(script, *args)
        try:
            _wait_port()
            body()
        finally:
            out = _stop(server)
        return out

    return run


# -- the checks -------------------------------------------------------------------------


def check_echo_server_and_client() -> None:
    def body() -> None:
        out = _run("echo_client.py")
        _expect(out, r"^connected to server!$", r"^hello$", r"^disconnected from server$")

    out = _with_server("echo_server.py")(body)
    _expect(out, r"^server bound$", r"^client connected$", r"^client disconnected$")


def check_structured_server_and_client() -> None:
    def body() -> None:
        _expect(_run("structured_client.py"), r"^b'ping\\n'$")

    out = _with_server("structured_server.py")(body)
    _expect(out, r"^listening on \{")


def check_hello_both() -> None:
    for backend in ("trio", "asyncio", "uvloop"):
        out = _run("hello_both.py", backend)
        _expect(
            out,
            r"^client got: HELLO, TRIONET$",
            r"^server: the client has finished sending$",
            r"^server: closed$",
            r"^run\(\) returned: nothing is left open$",
        )


def check_lines_server() -> None:
    _expect(_run("lines_server.py"), r"^FIRST LINE\nSECOND LINE$")


def check_scopes_unref() -> None:
    _expect(
        _run("scopes_unref.py"),
        r"^status: ok$",
        r"^client closed$",
        r"^run\(\) returned; the status server is listening: False$",
    )


def check_scopes_errors() -> None:
    _expect(
        _run("scopes_errors.py"),
        r"^run\(\) raised: connect ECONNREFUSED 127\.0\.0\.1:\d+$",
        r"^handled: ECONNREFUSED$",
        r"^run\(\) raised: ZeroDivisionError\('division by zero'\)$",
    )


def check_scopes_trio() -> None:
    _expect(
        _run("scopes_trio.py"),
        r"^serving on port \d+$",
        r"^tick$",
        r"^the scope is closed; listening: False$",
    )


def check_scopes_server_close() -> None:
    out = _run("scopes_server_close.py")
    _expect(out, r"^server.close\(\) called; listening: False$", r"^client got: bye$")
    _expect(out, r"^connection: close\nserver: close$")  # in this order


def check_events_emitter() -> None:
    _expect(
        _run("events_emitter.py"),
        r"^ada opened the door\n  \(the first time only\)\nbob opened the door$",
        r"^listeners: 1 \['open'\]$",
        r"^no 'error' listener, so emit\(\) raised: the door is stuck$",
    )


def check_events_async_listener() -> None:
    out = _run("events_async_listener.py")
    match = re.search(
        r"^'end' after (\d+) stored chunks\n(\d+) chunks stored, in order: True$", out, re.M
    )
    if not match or match[1] != match[2]:
        raise AssertionError(f"'end' came before the last chunk was stored:\n{out}")


def check_events_once_on() -> None:
    out = _run("events_once_on.py")
    for n in range(3):
        _expect(out, rf"^hello, client {n}$")


def check_errors_demo() -> None:
    _expect(
        _run("errors_demo.py"),
        r"^raised: NodeValueError \[ERR_SOCKET_BAD_PORT\] Port should be >= 0 and < 65536\. "
        r"Received type number \(65536\)\.$",
        r"^event: ConnectionRefusedError: connect ECONNREFUSED 127\.0\.0\.1:\d+$",
        r"^  code: ECONNREFUSED errno: 111 syscall: connect$",
        r"^  address: 127\.0\.0\.1 port: \d+$",
        r"^close, had_error = True$",
    )


def check_errors_structured() -> None:
    _expect(
        _run("errors_structured.py"),
        r"^not running: connect ECONNREFUSED 127\.0\.0\.1:\d+\nNone$",
    )


def check_ipc_echo() -> None:
    _expect(
        _run("ipc_echo.py"),
        r"^listening on /\S+/echo\.sock$",
        r"^reply: desserts$",
        r"^closed; the socket file exists: False$",
    )


def check_ipc_stale() -> None:
    _expect(
        _run("ipc_stale.py"),
        r"^first try: EADDRINUSE$",
        r"^listening on /\S+/app\.sock$",
    )


def check_deploy_workers() -> None:
    if not sys.platform.startswith("linux"):
        return
    for how in ("reuse_port", "inherit"):
        served: set[str] = set()

        def body(served: set[str] = served) -> None:
            # Workers start one by one: connect until several answer (or the time is up).
            deadline = time.monotonic() + 5
            while len(served) < 2 and time.monotonic() < deadline:
                with socket.create_connection(("127.0.0.1", PORT), timeout=TIMEOUT) as conn:
                    data = b""
                    while chunk := conn.recv(100):
                        data += chunk
                served.add(data.decode())
            time.sleep(2)  # let the slowest worker finish starting before the Ctrl+C

        out = _with_server("deploy_workers.py", how, "4")(body)
        _expect(out, rf"^4 workers serving 127\.0\.0\.1:{PORT} \({how}\)$")
        if not served or not all(re.fullmatch(r"served by process \d+\n", s) for s in served):
            raise AssertionError(f"unexpected replies: {served}")
        if how == "reuse_port" and len(served) < 2:
            raise AssertionError("SO_REUSEPORT spread nothing over the workers")
        if "Traceback" in out:
            raise AssertionError(out)


def check_graceful_shutdown() -> None:
    server = _serve("graceful_shutdown.py")
    try:
        _wait_port()
        with socket.create_connection(("127.0.0.1", PORT), timeout=TIMEOUT) as conn:
            conn.sendall(b"one")
            if conn.recv(10) != b"one":
                raise AssertionError("no echo before SIGTERM")
            os.killpg(server.pid, signal.SIGTERM)
            deadline = time.monotonic() + TIMEOUT
            while True:  # the server stops accepting...
                try:
                    socket.create_connection(("127.0.0.1", PORT), timeout=1).close()
                except ConnectionRefusedError:
                    break
                except ConnectionResetError:
                    # A probe that the kernel had queued when the listening socket closed:
                    # reset before connect() returned. The next one is refused.
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError("still accepting after SIGTERM")
                time.sleep(0.05)
            conn.sendall(b"two")  # ...but serves the open connection to its end
            if conn.recv(10) != b"two":
                raise AssertionError("the open connection was cut off")
            if server.poll() is not None:
                raise AssertionError("exited while a connection was open")
            conn.shutdown(socket.SHUT_WR)
            conn.recv(10)
        out, _ = server.communicate(timeout=TIMEOUT)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    if server.returncode != 0:
        raise AssertionError(f"exit status {server.returncode}\n{out}")
    _expect(
        out,
        r"^SIGTERM: not accepting; \d+ connection\(s\) open$",
        r"^every connection has finished$",
    )


def check_tls_wrap() -> None:
    _expect(_run("tls_wrap.py"), r"^b'secret: hello'$")


CHECKS = {name[len("check_") :]: fn for name, fn in globals().items() if name.startswith("check_")}


def main(argv: list[str]) -> int:
    failed = 0
    for name, check in CHECKS.items():
        if argv and not any(word in name for word in argv):
            continue
        started = time.monotonic()
        try:
            check()
        except Exception as exc:
            failed += 1
            where = traceback.extract_tb(exc.__traceback__)[-1]
            print(f"FAIL {name}: {exc!r} (line {where.lineno}: {where.line})", flush=True)
        else:
            print(f"ok   {name} ({time.monotonic() - started:.1f} s)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
