"""The trio engine: a stdlib non-blocking socket driven by ``trio.lowlevel``.

Going under ``trio.SocketStream`` saves its conflict detector and per-call
context managers; writes go to the kernel synchronously (``send`` on the
non-blocking socket, as libuv's ``uv_try_write``), and a writer task is started
only when the kernel would block. Each connection costs one task: its reader.
"""

from __future__ import annotations

import errno
import socket
from collections import deque
from collections.abc import Callable
from typing import Any

import anyio.abc
import trio

from . import StreamProtocol

_READ_SIZE = 65536
_wait_readable = trio.lowlevel.wait_readable
_wait_writable = trio.lowlevel.wait_writable


class TrioTransport:
    """One connected socket: a reader loop, synchronous writes, a lazy writer task."""

    __slots__ = (
        "_buffer",
        "_buffered",
        "_closed",
        "_eof_pending",
        "_group",
        "_read_paused",
        "_read_resumed",
        "_writer_running",
        "protocol",
        "sock",
    )

    def __init__(self, sock: socket.socket, group: anyio.abc.TaskGroup) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.protocol: StreamProtocol | None = None
        self._group = group
        self._buffer: deque[memoryview] = deque()
        self._buffered = 0
        self._closed = False
        self._eof_pending = False
        self._writer_running = False
        self._read_paused = False
        self._read_resumed: trio.Event | None = None

    # -- reading -----------------------------------------------------------------

    async def read_loop(self) -> None:
        """Read until EOF, an error or close, handing each chunk to the protocol."""
        sock = self.sock
        recv = sock.recv
        try:
            while not self._closed:
                if self._read_paused:
                    self._read_resumed = event = trio.Event()
                    await event.wait()
                    continue
                await _wait_readable(sock)
                try:
                    data = recv(_READ_SIZE)
                except BlockingIOError:
                    continue
                except OSError as exc:
                    self._lost(exc)
                    return
                protocol = self.protocol
                assert protocol is not None
                if not data:
                    protocol.eof_received()
                    return
                protocol.data_received(data)
        except trio.ClosedResourceError:
            return

    def pause_reading(self) -> None:
        self._read_paused = True

    def resume_reading(self) -> None:
        if self._read_paused:
            self._read_paused = False
            event = self._read_resumed
            if event is not None:
                self._read_resumed = None
                event.set()

    # -- writing -----------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closed:
            return
        if not self._buffer:
            try:
                sent = self.sock.send(data)
            except BlockingIOError:
                sent = 0
            except OSError as exc:
                self._lost(exc)
                return
            if sent == len(data):
                return
            data = memoryview(data)[sent:]
            self._buffer.append(data)
            self._buffered += len(data)
            assert self.protocol is not None
            self.protocol.pause_writing()
            if not self._writer_running:
                self._writer_running = True
                self._group.start_soon(self._write_loop)
            return
        view = memoryview(data)
        self._buffer.append(view)
        self._buffered += len(view)

    async def _write_loop(self) -> None:
        sock = self.sock
        buffer = self._buffer
        try:
            while buffer and not self._closed:
                await _wait_writable(sock)
                while buffer:
                    chunk = buffer[0]
                    try:
                        sent = sock.send(chunk)
                    except BlockingIOError:
                        break
                    except OSError as exc:
                        self._lost(exc)
                        return
                    self._buffered -= sent
                    if sent == len(chunk):
                        buffer.popleft()
                    else:
                        buffer[0] = chunk[sent:]
                        break
        except trio.ClosedResourceError:
            return
        finally:
            self._writer_running = False
        if self._closed:
            return
        if self._eof_pending:
            self._shutdown()
        assert self.protocol is not None
        self.protocol.resume_writing()

    def get_write_buffer_size(self) -> int:
        return self._buffered

    def write_eof(self) -> None:
        if self._closed:
            return
        if self._buffer:
            self._eof_pending = True
        else:
            self._shutdown()

    def _shutdown(self) -> None:
        self._eof_pending = False
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            if exc.errno != errno.ENOTCONN:
                self._lost(exc)

    # -- closing -----------------------------------------------------------------

    def abort(self) -> None:
        """Close the socket now; queued data is dropped (Node's destroy)."""
        if self._closed:
            return
        self._closed = True
        self._buffer.clear()
        self._buffered = 0
        trio.lowlevel.notify_closing(self.sock)
        self.sock.close()
        event = self._read_resumed
        if event is not None:
            event.set()

    def _lost(self, exc: OSError) -> None:
        if not self._closed and self.protocol is not None:
            self.protocol.connection_lost(exc)


def start_client(
    sock: socket.socket, protocol: StreamProtocol, group: anyio.abc.TaskGroup
) -> TrioTransport:
    transport = TrioTransport(sock, group)
    transport.protocol = protocol
    group.start_soon(transport.read_loop)
    return transport


class TrioListener:
    """An accept loop in the server's task group; one reader task per connection."""

    def __init__(
        self,
        sock: socket.socket,
        on_accept: Callable[[socket.socket, Any], StreamProtocol | None],
        group: anyio.abc.TaskGroup,
    ) -> None:
        self.sock = sock
        self._on_accept = on_accept
        self._group = group
        self._closed = False

    async def accept_loop(self) -> None:
        sock = self.sock
        start = self._group.start_soon
        try:
            while not self._closed:
                await _wait_readable(sock)
                while True:
                    try:
                        conn, _ = sock.accept()
                    except BlockingIOError:
                        break
                    except OSError as exc:
                        if exc.errno in _TRANSIENT_ACCEPT_ERRORS:
                            break
                        raise
                    start(self._connection, conn)
        except trio.ClosedResourceError:
            return

    async def _connection(self, conn: socket.socket) -> None:
        transport = TrioTransport(conn, self._group)
        protocol = self._on_accept(conn, transport)
        if protocol is None:
            return
        transport.protocol = protocol
        await transport.read_loop()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            trio.lowlevel.notify_closing(self.sock)
            self.sock.close()


_TRANSIENT_ACCEPT_ERRORS = {
    errno.ECONNABORTED,
    errno.EPROTO,
    errno.EMFILE,
    errno.ENFILE,
    errno.ENOBUFS,
    errno.ENOMEM,
}


def start_listener(
    sock: socket.socket,
    backlog: int,
    on_accept: Callable[[socket.socket, Any], StreamProtocol | None],
    group: anyio.abc.TaskGroup,
) -> TrioListener:
    sock.setblocking(False)
    sock.listen(backlog)
    listener = TrioListener(sock, on_accept, group)
    group.start_soon(listener.accept_loop)
    return listener
