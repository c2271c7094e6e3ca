"""The loop-transport engine: the loop's own transports with a thin Protocol adapter.

uvloop's C transports use it, and so do asyncio loops without a selector (and
clients reading with Node's ``onread``); asyncio's selector loops have the
faster ``_selector.py``. No task is made per connection:
the loop calls the protocol, and the adapter hands reads straight to the
handle (its ``data_received`` *is* the handle's, so a read costs one Python
call). No buffer is kept per connection: uvloop reads into one loop-wide
buffer; selector transports are told to read at most 64 KiB, which glibc
serves from the heap (their default 256 KiB read is above glibc's mmap
threshold: an mmap/munmap pair per read in a fresh process). Write-buffer
limits are set to zero, so ``pause_writing`` means "something is queued" and
``resume_writing`` means "the queue is empty": exactly the two facts Node's
write path needs.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import socket
from _socket import socket as _RawSocket
from collections.abc import Callable
from typing import Any

from . import StreamProtocol

_READ_SIZE = 65536


def _not_connected(data: bytes | bytearray | memoryview) -> None:
    raise RuntimeError("not connected")


def _no_handle(data: bytes) -> None:
    raise RuntimeError("data before connection_made")


#: Per uvloop transport class: whether it turns TCP_NODELAY on (TCP does, Unix does not).
_UV_NODELAY: dict[type, bool] = {}


class _Adapter(asyncio.BaseProtocol):
    """Adapts a loop transport to trionet's Transport, and the handle to the loop's protocol.

    A plain protocol by duck typing (``data_received``), deliberately not an
    ``asyncio.Protocol`` (uvloop takes any ``asyncio.Protocol`` for a plain one).
    ``data_received`` is the handle's own bound method, so that a read crosses no
    extra Python call. Slots, and nothing made per connection that can wait:
    this object lives as long as the connection does.
    """

    __slots__ = (
        "_closed",
        "_eof_pending",
        "_failed",
        "_on_made",
        "_resuming",
        "_sock",
        "_transport",
        "data_received",
        "no_delay",
        "protocol",
    )

    data_received: Callable[[bytes], None]
    write: Callable[[bytes | bytearray | memoryview], None]

    def __init__(
        self,
        protocol: StreamProtocol | None = None,
        on_made: Callable[[Any], StreamProtocol | None] | None = None,
    ) -> None:
        self.protocol = protocol
        self.data_received = protocol.data_received if protocol is not None else _no_handle
        self._transport: asyncio.Transport | None = None
        self._closed = False
        self._eof_pending = False  # (uvloop: write_eof waits for the queue to empty)
        self._failed: str | None = None  # the call that failed ("write"): see _write_failed
        self._resuming = False  # inside resume_writing (see write_eof)
        #: A listener's accept callback, called from connection_made (makes the handle).
        self._on_made = on_made
        self._sock: Any = None
        self.no_delay: bool | None = False

    @property
    def sock(self) -> socket.socket:
        """The loop's socket object (made on first use: uvloop builds one per call)."""
        sock: socket.socket | None = self._sock
        if sock is None:
            assert self._transport is not None
            sock = self._sock = self._transport.get_extra_info("socket")
        return sock

    # -- asyncio protocol side ------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        stream: asyncio.Transport = transport  # type: ignore[assignment]
        self._transport = stream
        self._adapt(stream)
        on_made = self._on_made
        if on_made is not None:
            self._on_made = None
            protocol = on_made(self)
            if protocol is None:
                self.abort()
                return
            self.protocol = protocol
            self.data_received = protocol.data_received
            if self._rebind:
                # uvloop keeps the bound data_received it found at set_protocol time:
                # set it again so that reads go straight to the handle (reading
                # starts after connection_made, so nothing is missed).
                stream.set_protocol(self)

    #: Whether the loop must be given the protocol again to see a new data_received.
    _rebind = True

    def _adapt(self, stream: asyncio.Transport) -> None:
        """Per-loop set-up of a new transport: write-buffer limits 0/0, and more."""
        stream.set_write_buffer_limits(high=0, low=0)

    def eof_received(self) -> bool:
        if self.protocol is not None:
            self.protocol.eof_received()
        return True  # keep the transport open: the handle decides when to close

    def connection_lost(self, exc: Exception | None) -> None:
        was_closed = self._closed
        self._closed = True
        if self.protocol is not None and not was_closed:
            self.protocol.connection_lost(
                exc if isinstance(exc, OSError) or exc is None else None, self._failed or "read"
            )

    def pause_writing(self) -> None:
        if self.protocol is not None:
            self.protocol.pause_writing()

    def resume_writing(self) -> None:
        # Not now: asyncio's _write_ready calls this in the middle of its own
        # bookkeeping, and a write from the handle's 'drain' listener that fails
        # there makes it report the connection lost twice.
        if self.protocol is not None and not self._closed:
            asyncio.get_running_loop().call_soon(self._resumed)

    def _resumed(self) -> None:
        transport = self._transport
        if self.protocol is None or self._closed or transport is None:
            return
        if transport.is_closing() or transport.get_write_buffer_size():
            return  # failed (see _write_failed), or paused again: a later resume follows
        self._resuming = True
        try:
            self.protocol.resume_writing()
        finally:
            self._resuming = False

    def _write_failed(self, syscall: str = "write") -> None:
        """The transport failed during a write (EPIPE, ECONNRESET...), or a read.

        asyncio and uvloop report it with connection_lost on a later loop
        iteration and silently drop every write until then; Node's write()
        returns false at once. Until connection_lost comes, the transport says
        it is full, so that write() returns false and a writing loop stops.
        ``syscall`` is the call that failed, which connection_lost passes on.
        """
        self._failed = syscall
        if self.protocol is not None:
            self.protocol.pause_writing()

    # -- trionet transport side -------------------------------------------------------

    def _checked_write(self, data: bytes | bytearray | memoryview) -> None:
        """Write, and hear at once of a failure the loop only reports later."""
        transport = self._transport
        if transport is None:
            raise RuntimeError("not connected")
        transport.write(data)
        if transport.is_closing() and not self._closed:
            self._write_failed()

    def get_write_buffer_size(self) -> int:
        if self._failed:
            return 1 << 62
        transport = self._transport
        return transport.get_write_buffer_size() if transport is not None else 0

    def write_eof(self) -> None:
        if self._transport is not None and not self._closed:
            if self._resuming:
                # Called from resume_writing inside asyncio's _write_ready, which itself
                # shuts the socket down once we return with the buffer empty and eof set:
                # a second shutdown() fails (ENOTCONN) if the peer has closed meanwhile.
                asyncio.get_running_loop().call_soon(self.write_eof)
                return
            try:
                self._transport.write_eof()
            except OSError as exc:
                # The selector transport shuts down synchronously: a peer that has
                # already gone answers ENOTCONN (ignored, as the trio engine does);
                # anything else is the connection's loss, never the scope's error.
                if exc.errno != errno.ENOTCONN:
                    self.connection_lost(exc)

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


class AsyncioTransport(_Adapter):
    """The adapter for asyncio's own (selector) transports.

    ``write`` is the loop transport's own; a write that fails reaches the
    transport's ``_fatal_error``, which is hooked to tell the handle at once.
    """

    __slots__ = ("write",)

    def __init__(
        self,
        protocol: StreamProtocol | None = None,
        on_made: Callable[[Any], StreamProtocol | None] | None = None,
    ) -> None:
        super().__init__(protocol, on_made)
        self.write = _not_connected

    # asyncio's selector transport looks self._protocol.data_received up at each read.
    _rebind = False

    def _adapt(self, stream: asyncio.Transport) -> None:
        if hasattr(stream, "_high_water"):  # a selector transport, with nothing queued yet:
            stream._high_water = stream._low_water = 0  # type: ignore[attr-defined]
        else:  # (set_write_buffer_limits is three Python calls more)
            stream.set_write_buffer_limits(high=0, low=0)
        if hasattr(stream, "max_size"):  # see the module docstring
            stream.max_size = _READ_SIZE
        raw = getattr(stream, "_sock", None)
        if raw is not None and raw.proto == socket.IPPROTO_TCP:
            # asyncio turns Nagle off for a socket whose proto says TCP (an inherited
            # descriptor, or one accepted from such a listener); ours say 0.
            self.no_delay = True
        self.write = stream.write
        fatal_error = getattr(stream, "_fatal_error", None)
        if fatal_error is not None:
            # Hear of a failed write (or read) as it fails, at no cost per write.
            def on_fatal_error(exc: BaseException, *args: Any) -> None:
                fatal_error(exc, *args)
                if not self._closed:  # ("Fatal write error on socket transport", or read)
                    self._write_failed("write" if args and "write" in str(args[0]) else "read")

            stream._fatal_error = on_fatal_error  # type: ignore[attr-defined]
        else:  # a transport of another kind: look after each write
            self.write = self._checked_write


class UvloopTransport(_Adapter):
    """The adapter for uvloop's C transports.

    uvloop fails a write without telling Python until a later iteration, so
    ``write`` looks at ``is_closing()`` after each one (two C calls). uvloop
    turns TCP_NODELAY on for every TCP transport: ``no_delay`` says so, and the
    handle turns it off unless asked (Node's default) in its one set-up call.
    """

    __slots__ = ()

    def _adapt(self, stream: asyncio.Transport) -> None:
        stream.set_write_buffer_limits(high=0, low=0)
        kind = type(stream)
        no_delay = _UV_NODELAY.get(kind)
        if no_delay is None:
            no_delay = _UV_NODELAY[kind] = kind.__name__ == "TCPTransport"
        self.no_delay = no_delay

    write = _Adapter._checked_write

    def write_eof(self) -> None:
        """Shut the sending side down once everything queued is sent, as the other engines.

        uvloop's own write_eof shuts down on a later loop iteration and, if the peer
        has reset meanwhile, reports the ENOTCONN as the connection's loss; Node ignores
        a failed shutdown, and the reset is reported by the next read."""
        transport = self._transport
        if transport is None or self._closed or self._failed:
            return
        if transport.get_write_buffer_size():
            self._eof_pending = True  # _resumed shuts down once the queue is empty
            return
        self._shutdown()

    def _shutdown(self) -> None:
        self._eof_pending = False
        # uvloop's stand-in socket has no shutdown(): a socket object on the same fd does
        # it (shutdown() needs only the fd; the family given saves three getsockopt calls).
        raw = _RawSocket(socket.AF_INET, socket.SOCK_STREAM, 0, self.sock.fileno())
        try:
            raw.shutdown(socket.SHUT_WR)
        except OSError as exc:
            if exc.errno != errno.ENOTCONN and self.protocol is not None:
                self.protocol.connection_lost(exc)  # (the handle's destroy() aborts us)
        finally:
            raw.detach()

    def _resumed(self) -> None:
        transport = self._transport
        if (
            self._eof_pending
            and transport is not None
            and not self._closed
            and not transport.get_write_buffer_size()
        ):
            self._shutdown()
        super()._resumed()


def _adapter_class(loop: asyncio.AbstractEventLoop) -> type[_Adapter]:
    if type(loop).__module__.startswith("uvloop"):
        return UvloopTransport
    return AsyncioTransport


class ReadIntoProtocol(asyncio.BufferedProtocol):
    """The loop's protocol for a handle with ``get_read_buffer`` (Node's onread).

    Reads go into the handle's own buffer; every other call goes to the adapter,
    which stays the handle's Transport. A separate class, not an
    ``AsyncioTransport`` subclass: uvloop reads into ``get_buffer`` only for a
    protocol that is not an ``asyncio.Protocol``.
    """

    def __init__(self, adapter: _Adapter, protocol: StreamProtocol) -> None:
        assert protocol.get_read_buffer is not None
        self._adapter = adapter
        self._get_read_buffer = protocol.get_read_buffer
        self.buffer_updated = protocol.buffer_updated  # type: ignore[method-assign]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._adapter.connection_made(transport)

    def get_buffer(self, sizehint: int) -> Any:
        return self._get_read_buffer()

    def buffer_updated(self, nbytes: int) -> None:  # replaced by the handle's own
        raise AssertionError("unreachable")

    def eof_received(self) -> bool:
        return self._adapter.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._adapter.connection_lost(exc)

    def pause_writing(self) -> None:
        self._adapter.pause_writing()

    def resume_writing(self) -> None:
        self._adapter.resume_writing()


async def start_client(sock: socket.socket, protocol: StreamProtocol) -> _Adapter:
    loop = asyncio.get_running_loop()
    adapter = _adapter_class(loop)(protocol)
    loop_protocol: asyncio.BaseProtocol = adapter
    if protocol.get_read_buffer is not None:
        loop_protocol = ReadIntoProtocol(adapter, protocol)
    await loop.connect_accepted_socket(lambda: loop_protocol, sock)
    return adapter


class AsyncioListener:
    def __init__(self, server: asyncio.AbstractServer) -> None:
        self._server = server

    def close(self) -> None:
        self._server.close()


async def start_listener(
    sock: socket.socket,
    backlog: int,
    on_accept: Callable[[Any], StreamProtocol | None],
) -> AsyncioListener:
    loop = asyncio.get_running_loop()
    # (a partial, not a def: one Python call less per accepted connection)
    factory = functools.partial(_adapter_class(loop), None, on_accept)
    server = await loop.create_server(factory, sock=sock, backlog=backlog)
    return AsyncioListener(server)
