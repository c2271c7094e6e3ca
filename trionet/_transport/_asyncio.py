"""The asyncio engine: the loop's own transports with a BufferedProtocol.

The same code runs on uvloop's C transports. No task is made per connection:
the loop calls the protocol, which hands data to the handle. Reads go into one
reused buffer per connection (a fresh large allocation per read costs an
mmap/munmap pair on glibc). Write-buffer limits are set to zero, so
``pause_writing`` means "something is queued" and ``resume_writing`` means
"the queue is empty": exactly the two facts Node's write path needs.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any, cast

from . import StreamProtocol

_READ_SIZE = 65536


class AsyncioTransport(asyncio.BufferedProtocol):
    """Adapts an asyncio transport to trionet's Transport, and the handle to asyncio's protocol."""

    def __init__(self, protocol: StreamProtocol | None = None) -> None:
        self.protocol = protocol
        self._buf = bytearray(_READ_SIZE)
        self._view = memoryview(self._buf)
        self._transport: asyncio.Transport | None = None
        self._closed = False
        self._on_made: Callable[[AsyncioTransport], StreamProtocol | None] | None = None
        self.sock: socket.socket = None  # type: ignore[assignment]

    # -- asyncio protocol side ------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        stream = cast(asyncio.Transport, transport)
        self._transport = stream
        stream.set_write_buffer_limits(high=0, low=0)
        self.sock = stream.get_extra_info("socket")
        self.write = stream.write  # type: ignore[method-assign]
        self.get_write_buffer_size = stream.get_write_buffer_size  # type: ignore[method-assign]
        if self._on_made is not None:
            self.protocol = self._on_made(self)
            self._on_made = None
            if self.protocol is None:
                self.abort()

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._view

    def buffer_updated(self, nbytes: int) -> None:
        assert self.protocol is not None
        self.protocol.data_received(bytes(self._view[:nbytes]))

    def eof_received(self) -> bool:
        if self.protocol is not None:
            self.protocol.eof_received()
        return True  # keep the transport open: the handle decides when to close

    def connection_lost(self, exc: Exception | None) -> None:
        was_closed = self._closed
        self._closed = True
        if self.protocol is not None and not was_closed:
            self.protocol.connection_lost(exc if isinstance(exc, OSError) or exc is None else None)

    def pause_writing(self) -> None:
        if self.protocol is not None:
            self.protocol.pause_writing()

    def resume_writing(self) -> None:
        if self.protocol is not None and not self._closed:
            self.protocol.resume_writing()

    # -- trionet transport side -------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:  # replaced in connection_made
        raise RuntimeError("not connected")

    def get_write_buffer_size(self) -> int:  # replaced in connection_made
        return 0

    def write_eof(self) -> None:
        if self._transport is not None and not self._closed:
            self._transport.write_eof()

    def abort(self) -> None:
        if not self._closed:
            self._closed = True
            if self._transport is not None:
                self._transport.abort()

    def pause_reading(self) -> None:
        if self._transport is not None and not self._closed:
            self._transport.pause_reading()

    def resume_reading(self) -> None:
        if self._transport is not None and not self._closed:
            self._transport.resume_reading()


async def start_client(sock: socket.socket, protocol: StreamProtocol) -> AsyncioTransport:
    loop = asyncio.get_running_loop()
    adapter = AsyncioTransport(protocol)
    await loop.connect_accepted_socket(lambda: adapter, sock)
    return adapter


class AsyncioListener:
    def __init__(self, server: asyncio.AbstractServer) -> None:
        self._server = server

    def close(self) -> None:
        self._server.close()


async def start_listener(
    sock: socket.socket,
    backlog: int,
    on_accept: Callable[[socket.socket, Any], StreamProtocol | None],
) -> AsyncioListener:
    loop = asyncio.get_running_loop()

    def factory() -> AsyncioTransport:
        adapter = AsyncioTransport()
        adapter._on_made = lambda a: on_accept(a.sock, a)
        return adapter

    server = await loop.create_server(factory, sock=sock, backlog=backlog)
    return AsyncioListener(server)
