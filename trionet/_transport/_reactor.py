"""Non-blocking stdlib sockets served by a reactor: the engine of trio and of selector loops.

A reactor watches sockets for readiness and calls ``_ready(events)`` on the
object that owns each one: a :class:`SocketTransport` (one connection) or a
:class:`ReactorListener` (a listening socket). The watching is one
level-triggered epoll set (:class:`EpollReactor`) per listener (its socket and
every connection it accepted) or per group of clients; only what waits for the
set's own fd is the backend's: on trio, one task (``_trio.py``); on an asyncio
selector loop, one ``add_reader`` (``_selector.py``). This is libuv's loop
inside the backend's: per read it saves the backend's per-event machinery (a
task switch and trio's one-shot re-arm; asyncio's handle and its callback
bookkeeping), and per connection any registration with the backend, which is
what decides the connect rate. Everything else is shared, so both backends run
the same code per read, per write and per connection.

Writes go to the kernel synchronously (``send`` on the non-blocking socket,
as libuv's ``uv_try_write``); only what the kernel does not take is queued,
and the socket is watched for writability only while something is.

Node runs its whole nextTick queue before any further I/O callback. On trio
the scope's ticks run in a task of their own, which trio may schedule after
the next I/O: so before each I/O callback (another full-size read, an
accept, a flush) this code runs the scope's queued ticks itself, one
truthiness check when none is queued. (On asyncio ticks are loop callbacks
and ``Scope._ticks`` stays empty.)
"""

from __future__ import annotations

import errno
import select
import socket
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import StreamProtocol

if TYPE_CHECKING:
    from .._scope import Scope

_READ_SIZE = 65536
_ACCEPT_BATCH = 64  # connections accepted per wake-up, so that reads are not starved
_ACCEPT_RETRY_FIRST = 0.1  # out of descriptors: stop accepting this long, doubling...
_ACCEPT_RETRY_MAX = 1.0  # ...up to this (asyncio's ACCEPT_RETRY_DELAY), while it fails
_READS_PER_WAKEUP = 16  # full-size reads in a row from one socket before serving others

IN = getattr(select, "EPOLLIN", 1)
OUT = getattr(select, "EPOLLOUT", 4)
ERR = getattr(select, "EPOLLERR", 8) | getattr(select, "EPOLLHUP", 16)
_READY_TO_READ = IN | ERR
_READY_TO_WRITE = OUT | ERR

_OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
_TRANSIENT_ACCEPT_ERRORS = {errno.ECONNABORTED, errno.EPROTO}


class EpollReactor:
    """One level-triggered epoll set of sockets, the scope they serve, and how many.

    The backend's driver (a subclass) waits until the set's own fd is readable,
    then calls :meth:`_serve_ready`; it stops once ``_live``, the transports and
    listener served, drops to zero."""

    def __init__(self, scope: Scope) -> None:
        self._scope = scope  # the scope of every protocol served: errors are reported to it
        self._live = 0
        self._epoll: Any = select.epoll()
        self._watched: dict[int, Any] = {}  # fd -> whose ``_ready`` to call with its events

    def _forget(self) -> None:
        self._live -= 1
        if not self._live:
            self._stop()

    def call_later(self, delay: float, fn: Callable[[], None]) -> Callable[[], None]:
        """Call ``fn()`` in ``delay`` seconds; returns what cancels that."""
        raise NotImplementedError

    def _serve_ready(self) -> None:
        """Serve every ready socket: accept, read, flush."""
        scope = self._scope
        ticks = scope._ticks
        watched = self._watched
        for fd, events in self._epoll.poll(0):
            if ticks:  # Node runs every nextTick before the next I/O callback
                scope.run_ticks()
            elif scope._loop_ticks:  # (asyncio: the loop runs them; the rest stays ready)
                return
            entry = watched.get(fd)
            if entry is not None:
                entry._ready(events)
        if ticks:  # (those of the last one too, before anything else runs)
            scope.run_ticks()

    def _watch(self, obj: Any, old: int, new: int) -> None:
        """Watch ``obj.sock`` for ``new`` (IN, OUT, both or 0) instead of ``old``."""
        epoll = self._epoll
        if epoll.closed:  # the driver stopped (trio: cancelled): nothing is watched any more
            return
        fd = obj.sock.fileno()
        if not old:
            epoll.register(fd, new)
            self._watched[fd] = obj
        elif not new:
            epoll.unregister(fd)
            del self._watched[fd]
        else:
            epoll.modify(fd, new)

    def _stop(self) -> None:
        epoll = self._epoll
        if not epoll.closed:
            self._closing()
            epoll.close()
            self._watched.clear()

    def _closing(self) -> None:
        """The set is about to close: the driver stops waiting for it."""


class SocketTransport:
    """One connected socket: synchronous writes, reads when the reactor says it is ready."""

    __slots__ = (
        "_buffer",
        "_buffered",
        "_closed",
        "_eof_pending",
        "_failed",
        "_mask",
        "_reactor",
        "_read_done",
        "_read_paused",
        "_recv",
        "_scope",
        "_send",
        "data_received",
        "no_delay",
        "protocol",
        "sock",
    )

    def __init__(self, sock: socket.socket, scope: Scope, reactor: EpollReactor | None) -> None:
        sock.setblocking(False)
        self.sock = sock
        self._scope = scope  # whose ticks run before this socket's I/O callbacks
        self.no_delay: bool | None = False  # the kernel's default, and what Node wants
        self._send = sock.send
        self._recv = sock.recv
        self.protocol: StreamProtocol | None = None
        #: The protocol's data_received, bound once (set with the protocol).
        self.data_received: Callable[[bytes], None] | None = None
        self._reactor = reactor
        self._mask = 0  # what the reactor watches for this socket
        self._buffer: deque[memoryview] | None = None  # made on the first write that blocks
        self._buffered = 0
        self._closed = False
        self._eof_pending = False
        self._failed = False  # write() found the connection gone: see _write_failed
        self._read_paused = False
        self._read_done = False  # EOF or a read error: no more reads

    def _set_protocol(self, protocol: StreamProtocol) -> None:
        self.protocol = protocol
        self.data_received = protocol.data_received
        if self._buffer or self._failed:  # a write blocked (or failed) in on_accept
            protocol.pause_writing()
        self._update()

    # -- readiness ------------------------------------------------------------------

    def _ready(self, events: int) -> None:
        """The epoll reactor's callback: the socket is ready for ``events``."""
        if events & _READY_TO_READ:
            self._on_readable()
        if events & _READY_TO_WRITE:
            self._on_writable()

    def _update(self) -> None:
        """Make the reactor watch what this socket now waits for."""
        reactor = self._reactor
        if reactor is None:
            return
        want = 0
        if not self._closed:
            if self.data_received is not None and not self._read_paused and not self._read_done:
                want = IN
            if self._buffer:
                want |= OUT
        if want != self._mask:
            reactor._watch(self, self._mask, want)
            self._mask = want

    # -- reading -----------------------------------------------------------------

    def _on_readable(self) -> None:
        """The socket is readable (a reactor's callback): read, and hand the bytes over."""
        if self._read_paused or self._read_done or self._closed:
            return
        try:
            data = self._recv(_READ_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:
            self._read_failed(exc)
            return
        try:
            if data and len(data) < _READ_SIZE:  # the common case: one read took it all
                self.data_received(data)  # type: ignore[misc]
            else:
                self._read_on(data)
        except Exception as exc:  # a bug of ours: the scope's error, never a log line
            self._scope.report(exc)

    def _read_on(self, data: bytes) -> None:
        """``_on_readable`` for EOF, and for a read that filled the buffer: more is most
        likely waiting, so read on (as libuv does) rather than go back to waiting, a few
        times at most."""
        recv = self._recv
        reads = 1
        while True:
            if not data:
                self._read_done = True
                self._update()
                assert self.protocol is not None
                self.protocol.eof_received()
                return
            self.data_received(data)  # type: ignore[misc]
            if len(data) < _READ_SIZE or reads == _READS_PER_WAKEUP:
                return
            reads += 1
            scope = self._scope
            if scope._ticks:  # Node runs the nextTick queue after each read callback
                scope.run_ticks()
            elif scope._loop_ticks:  # (asyncio: the loop runs them; the set reports this
                return  # socket again after them)
            if self._read_paused or self._closed:
                return
            try:
                data = recv(_READ_SIZE)
            except BlockingIOError:
                return
            except OSError as exc:
                self._read_failed(exc)
                return

    def _read_failed(self, exc: OSError) -> None:
        self._read_done = True
        self._update()
        self._lost(exc)

    def pause_reading(self) -> None:
        if not self._read_paused:
            self._read_paused = True
            self._update()

    def resume_reading(self) -> None:
        if self._read_paused:
            self._read_paused = False
            self._update()

    # -- writing -----------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closed:
            return
        buffer = self._buffer
        if not buffer:
            try:
                sent = self._send(data)
            except BlockingIOError:
                sent = 0
            except OSError as exc:
                self._write_failed(exc)
                return
            if sent == len(data):
                return
            view = memoryview(data)[sent:]
            if buffer is None:
                buffer = self._buffer = deque()
            buffer.append(view)
            self._buffered += len(view)
            if self.protocol is not None:
                self.protocol.pause_writing()
            self._update()
            return
        view = memoryview(data)
        buffer.append(view)
        self._buffered += len(view)

    def _write_failed(self, exc: OSError) -> None:
        """write() found the connection gone (ECONNRESET, EPIPE...).

        As Node, the error does not end the connection inside write(): write()
        returns false now (the transport says it is full, and drops what is
        written), and the error comes on the next tick."""
        if self._failed:
            return
        self._failed = True
        self._buffered = 1 << 62
        if self.protocol is not None:
            self.protocol.pause_writing()
        self._scope.call_soon(self._lost, exc, "write")

    def _on_writable(self) -> None:
        """The socket is writable (a reactor's callback): flush what is queued."""
        if not self._buffer or self._closed:
            return
        try:
            self._flush()
        except Exception as exc:  # a bug of ours: the scope's error, never a log line
            self._scope.report(exc)

    def _flush(self) -> None:
        """Send what is queued; once it is all sent, finish a pending EOF and resume writing."""
        buffer = self._buffer
        assert buffer is not None
        scope = self._scope
        if scope._ticks:  # Node runs every nextTick before the next I/O callback
            scope.run_ticks()
            if self._closed:
                return
        send = self._send
        while buffer:
            chunk = buffer[0]
            try:
                sent = send(chunk)
            except BlockingIOError:
                return
            except OSError as exc:
                self._lost(exc, "write")
                return
            self._buffered -= sent
            if sent == len(chunk):
                buffer.popleft()
            else:
                buffer[0] = chunk[sent:]
                return
        if self._closed:
            return
        if self._eof_pending:
            self._shutdown()  # (an error here closes the transport: resume_writing ignores it)
        assert self.protocol is not None
        self.protocol.resume_writing()  # may write again, and block again
        self._update()

    def get_write_buffer_size(self) -> int:
        return self._buffered

    def write_eof(self) -> None:
        if self._closed or self._failed:
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
        if self._buffer:
            self._buffer.clear()
        self._buffered = 0
        reactor = self._reactor
        if reactor is not None:
            if self._mask:
                reactor._watch(self, self._mask, 0)
                self._mask = 0
            reactor._forget()
        self._closing()
        self.sock.close()

    def _closing(self) -> None:
        """The socket is about to close (a hook for engines that wait on it elsewhere)."""

    def _lost(self, exc: OSError, syscall: str = "read") -> None:
        if not self._closed and self.protocol is not None:
            self.protocol.connection_lost(exc, syscall)


class ReactorListener:
    """A listening socket served by a reactor: accepts in batches, adopts each connection.

    Out of descriptors (or memory), accept() fails while the connection stays in
    the backlog and the socket readable, so a level-triggered reactor would wake
    at once, again and again: a busy loop until descriptors are freed. As asyncio
    (which pauses 1 s), the socket is then not watched for a while, 0.1 s doubling
    to 1 s while the first accept after each pause fails again; the connections
    keep being served meanwhile."""

    def __init__(
        self,
        sock: socket.socket,
        on_accept: Callable[[Any], StreamProtocol | None],
        reactor: EpollReactor,
    ) -> None:
        self.sock = sock
        self._on_accept = on_accept
        self._reactor = reactor
        self._closed = False
        self._accept_paused = False  # the listening socket is not watched (see above)
        self._retrying = False  # the first accept after a pause is running
        self._retry_delay = 0.0
        self._cancel_retry: Callable[[], None] | None = None  # the pause (close() ends it)
        # socket.accept() looks family and type up as enums for each connection: the
        # plain numbers, once, are all the accepted socket object needs.
        self._kind = (int(sock.family), int(sock.type), sock.proto)
        reactor._live += 1
        reactor._watch(self, 0, IN)

    def _ready(self, events: int) -> None:
        self._on_readable()

    def _on_readable(self) -> None:
        """The listening socket is readable (a reactor's callback): accept a batch."""
        try:
            self._accept_batch()
        except Exception as exc:  # accept() failed for a reason it never should
            self._reactor._scope.report(exc)

    def _accept_batch(self) -> None:
        accept = self.sock._accept  # type: ignore[attr-defined]
        family, type_, proto = self._kind
        reactor = self._reactor
        scope = reactor._scope
        for i in range(_ACCEPT_BATCH):
            if scope._ticks:  # (those of the previous 'connection' listener: as Node)
                scope.run_ticks()
            elif i and scope._loop_ticks:  # (asyncio: the loop runs them; still readable)
                return
            if self._closed:  # closed by a 'connection' listener
                return
            try:
                fd, _ = accept()
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno in _OUT_OF_RESOURCES:
                    self._pause_accepting(failed_again=self._retrying and not i)
                    return
                if exc.errno in _TRANSIENT_ACCEPT_ERRORS:
                    return
                raise
            conn = socket.socket(family, type_, proto, fd)
            transport = SocketTransport(conn, scope, reactor)
            reactor._live += 1
            protocol = self._on_accept(transport)
            if protocol is None:
                if not transport._closed:
                    transport.abort()
                continue
            if not transport._closed:
                transport._set_protocol(protocol)

    def _pause_accepting(self, failed_again: bool) -> None:
        delay = _ACCEPT_RETRY_FIRST
        if failed_again:
            delay = min(self._retry_delay * 2, _ACCEPT_RETRY_MAX)
        self._retry_delay = delay
        if not self._accept_paused:
            self._accept_paused = True
            self._reactor._watch(self, IN, 0)
        self._cancel_retry = self._reactor.call_later(delay, self._resume_accepting)

    def _resume_accepting(self) -> None:
        self._cancel_retry = None
        if self._closed:
            return
        self._reactor._watch(self, 0, IN)
        self._accept_paused = False
        self._retrying = True  # (_accept_batch pauses again, longer, if this first one fails)
        try:
            self._on_readable()
        finally:
            self._retrying = False
        scope = self._reactor._scope
        if scope._ticks:  # (those of the last 'connection' listener, before other tasks)
            scope.run_ticks()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if not self._accept_paused:
            self._reactor._watch(self, IN, 0)
        if self._cancel_retry is not None:  # accepting was paused: end the pause now
            self._cancel_retry()
            self._cancel_retry = None
        self.sock.close()
        self._reactor._forget()
