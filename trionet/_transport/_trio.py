"""The trio engine: stdlib non-blocking sockets driven by ``trio.lowlevel``.

Going under ``trio.SocketStream`` saves its conflict detector and per-call
context managers. Writes go to the kernel synchronously (``send`` on the
non-blocking socket, as libuv's ``uv_try_write``); only what the kernel does
not take is queued.

A server needs no task per connection (where ``select.epoll`` exists): its
listening socket and every connection it accepted share one level-triggered
epoll set, and one task of the server waits for that set with
``trio.lowlevel.wait_readable`` and then serves every ready socket: accept,
``recv`` then ``data_received``, or flush queued writes. This is libuv's loop
inside one trio task: per read it saves a task switch and trio's
``epoll_ctl`` re-arm (trio registers each waited fd one-shot), and per
connection a task, which is what decides the connect rate and the memory of
an idle connection. The epoll set is waited for like any fd, so trio's
scheduling, cancellation and other tasks are unaffected.

Node runs its whole nextTick queue before any further I/O callback; the
scope's ticks run in a task of their own, which trio may schedule after the
next I/O. So before each I/O callback (a ready socket, another full-size
read, an accept) the engine runs the scope's queued ticks itself: one
truthiness check when none is queued.

Client connections share one such set per task group (its task ends with
the last of them). Where epoll is missing, and for Node's ``onread`` clients,
the same handlers run from a reader task per connection and a writer task
started only when a write would block.
"""

from __future__ import annotations

import errno
import select
import socket
import weakref
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio.abc
import trio

from . import StreamProtocol

if TYPE_CHECKING:
    from .._scope import Scope

_READ_SIZE = 65536
_ACCEPT_BATCH = 64  # connections accepted per wake-up, so that reads are not starved
_ACCEPT_RETRY_FIRST = 0.1  # out of descriptors: stop accepting this long, doubling...
_ACCEPT_RETRY_MAX = 1.0  # ...up to this (asyncio's ACCEPT_RETRY_DELAY), while it fails
_READS_PER_WAKEUP = 16  # full-size reads in a row from one socket before serving others
_wait_readable = trio.lowlevel.wait_readable
_wait_writable = trio.lowlevel.wait_writable

_HAS_EPOLL = hasattr(select, "epoll")
_IN = getattr(select, "EPOLLIN", 1)
_OUT = getattr(select, "EPOLLOUT", 4)
_ERR = getattr(select, "EPOLLERR", 8) | getattr(select, "EPOLLHUP", 16)
_READY_TO_READ = _IN | _ERR
_READY_TO_WRITE = _OUT | _ERR


class TrioTransport:
    """One connected socket: synchronous writes, reads from a shared epoll set or a task."""

    __slots__ = (
        "_buffer",
        "_buffered",
        "_closed",
        "_eof_pending",
        "_failed",
        "_group",
        "_mask",
        "_reactor",
        "_read_done",
        "_read_paused",
        "_read_resumed",
        "_scope",
        "_send",
        "_writer_running",
        "data_received",
        "no_delay",
        "protocol",
        "sock",
    )

    def __init__(
        self,
        sock: socket.socket,
        group: anyio.abc.TaskGroup | None,
        scope: Scope,
        reactor: _Reactor | None = None,
    ) -> None:
        sock.setblocking(False)
        self.sock = sock
        self._scope = scope  # whose ticks run before this socket's I/O callbacks
        self.no_delay: bool | None = False  # the kernel's default, and what Node wants
        self._send = sock.send
        self.protocol: StreamProtocol | None = None
        #: The protocol's data_received, bound once (set with the protocol).
        self.data_received: Callable[[bytes], None] | None = None
        self._group = group
        self._reactor = reactor
        self._mask = 0  # what the reactor's epoll set watches for this socket
        self._buffer: deque[memoryview] | None = None  # made on the first write that blocks
        self._buffered = 0
        self._closed = False
        self._eof_pending = False
        self._failed = False  # write() found the connection gone: see _write_failed
        self._writer_running = False
        self._read_paused = False
        self._read_done = False  # EOF or a read error: no more reads
        self._read_resumed: trio.Event | None = None

    def _set_protocol(self, protocol: StreamProtocol) -> None:
        self.protocol = protocol
        self.data_received = protocol.data_received
        if self._buffer or self._failed:  # a write blocked (or failed) in on_accept
            protocol.pause_writing()
        self._update()

    # -- readiness (the reactor calls _ready; tasks call the handlers directly) -------

    def _ready(self, events: int) -> None:
        if events & _READY_TO_READ and not self._read_paused and not self._read_done:
            self._on_readable()
        if events & _READY_TO_WRITE and self._buffer and not self._closed:
            self._on_writable()

    def _update(self) -> None:
        """Make the reactor's epoll set watch what this socket now waits for."""
        reactor = self._reactor
        if reactor is None:
            return
        want = 0
        if not self._closed:
            if self.data_received is not None and not self._read_paused and not self._read_done:
                want = _IN
            if self._buffer:
                want |= _OUT
        if want != self._mask:
            reactor._watch(self, self._mask, want)
            self._mask = want

    # -- reading -----------------------------------------------------------------

    def _on_readable(self) -> None:
        recv = self.sock.recv
        data_received = self.data_received
        assert data_received is not None
        # A read that fills the buffer leaves more behind, most likely: read on
        # (as libuv does) rather than go back to waiting, a few times at most.
        for _ in range(_READS_PER_WAKEUP):
            try:
                data = recv(_READ_SIZE)
            except BlockingIOError:
                return
            except OSError as exc:
                self._read_done = True
                self._update()
                self._lost(exc)
                return
            if not data:
                self._read_done = True
                self._update()
                assert self.protocol is not None
                self.protocol.eof_received()
                return
            data_received(data)
            if len(data) < _READ_SIZE:
                return
            scope = self._scope
            if scope._ticks:  # Node runs the nextTick queue after each read callback
                scope.run_ticks()
            if self._read_paused or self._closed:
                return

    def _on_readable_into(self) -> None:
        """``_on_readable`` for a protocol with ``get_read_buffer`` (Node's onread)."""
        protocol = self.protocol
        assert protocol is not None and protocol.get_read_buffer is not None
        try:
            nbytes = self.sock.recv_into(protocol.get_read_buffer())
        except BlockingIOError:
            return
        except OSError as exc:
            self._read_done = True
            self._lost(exc)
            return
        if nbytes:
            protocol.buffer_updated(nbytes)
            return
        self._read_done = True
        protocol.eof_received()

    async def read_loop(self) -> None:
        """Without a reactor: read until EOF, an error or close, in this task."""
        sock = self.sock
        protocol = self.protocol
        assert protocol is not None
        on_readable = self._on_readable
        if protocol.get_read_buffer is not None:
            on_readable = self._on_readable_into
        scope = self._scope
        ticks = scope._ticks
        try:
            while not self._closed and not self._read_done:
                if self._read_paused:
                    self._read_resumed = event = trio.Event()
                    await event.wait()
                    continue
                await _wait_readable(sock)
                if ticks:  # Node runs every nextTick before the next I/O callback
                    scope.run_ticks()
                if not self._read_paused and not self._closed:
                    on_readable()
                    if ticks:  # (those it queued, before other tasks run)
                        scope.run_ticks()
        except trio.ClosedResourceError:
            return

    def pause_reading(self) -> None:
        if not self._read_paused:
            self._read_paused = True
            self._update()

    def resume_reading(self) -> None:
        if self._read_paused:
            self._read_paused = False
            self._update()
            event = self._read_resumed
            if event is not None:
                self._read_resumed = None
                event.set()

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
            if self._reactor is not None:
                self._update()
            elif not self._writer_running:
                self._writer_running = True
                assert self._group is not None
                self._group.start_soon(self._write_loop)
            return
        view = memoryview(data)
        buffer.append(view)
        self._buffered += len(view)

    def _write_failed(self, exc: OSError) -> None:
        """write() found the connection gone (ECONNRESET, EPIPE...).

        As Node (and the asyncio engines), the error does not end the connection
        inside write(): write() returns false now (the transport says it is full,
        and drops what is written), and the error comes on the next tick."""
        if self._failed:
            return
        self._failed = True
        self._buffered = 1 << 62
        if self.protocol is not None:
            self.protocol.pause_writing()
        self._scope.call_soon(self._lost, exc, "write")

    def _on_writable(self) -> None:
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

    async def _write_loop(self) -> None:
        """Without a reactor: wait until the socket is writable while something is queued."""
        sock = self.sock
        try:
            scope = self._scope
            while self._buffer and not self._closed:
                await _wait_writable(sock)
                self._on_writable()
                if scope._ticks:  # (those it queued, before other tasks run)
                    scope.run_ticks()
        except trio.ClosedResourceError:
            return
        finally:
            self._writer_running = False

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
            reactor._forget(self)
        trio.lowlevel.notify_closing(self.sock)
        self.sock.close()
        event = self._read_resumed
        if event is not None:
            event.set()

    def _lost(self, exc: OSError, syscall: str = "read") -> None:
        if not self._closed and self.protocol is not None:
            self.protocol.connection_lost(exc, syscall)


class _Reactor:
    """One level-triggered epoll set of sockets, and the task that serves it."""

    def __init__(self, scope: Scope, use_epoll: bool = True) -> None:
        self._scope = scope  # the scope of every protocol served
        self._epoll: Any = select.epoll() if use_epoll else None
        self._watched: dict[int, Any] = {}  # fd -> what to call (``_ready``) with its events
        self._live = 0  # transports not yet closed

    async def _serve_epoll(self) -> None:
        epoll = self._epoll
        if epoll.closed:
            return
        poll = epoll.poll
        watched = self._watched
        scope = self._scope
        ticks = scope._ticks
        try:
            while True:
                await _wait_readable(epoll)
                if epoll.closed:
                    return
                for fd, events in poll(0):
                    if ticks:  # Node runs every nextTick before the next I/O callback
                        scope.run_ticks()
                    entry = watched.get(fd)
                    if entry is not None:
                        entry._ready(events)
                if ticks:  # (those of the last one too, before other tasks run)
                    scope.run_ticks()
                if epoll.closed:
                    return
        except trio.ClosedResourceError:
            return
        finally:
            self._stop()  # (already stopped, unless cancelled)

    def _watch(self, transport: TrioTransport, old: int, new: int) -> None:
        epoll = self._epoll
        if epoll.closed:  # the serving task was cancelled: nothing is watched any more
            return
        fd = transport.sock.fileno()
        if not old:
            epoll.register(fd, new)
            self._watched[fd] = transport
        elif not new:
            epoll.unregister(fd)
            del self._watched[fd]
        else:
            epoll.modify(fd, new)

    def _forget(self, transport: TrioTransport) -> None:
        self._live -= 1
        if self._finished():
            self._stop()

    def _finished(self) -> bool:
        return not self._live

    def _stop(self) -> None:
        epoll = self._epoll
        if epoll is not None and not epoll.closed:
            trio.lowlevel.notify_closing(epoll)
            epoll.close()
            self._watched.clear()


class _ClientReactor(_Reactor):
    """The reactor of the client connections of one task group; it ends with the last one."""

    def __init__(self, group: anyio.abc.TaskGroup, scope: Scope) -> None:
        super().__init__(scope)
        self._group = group

    def _stop(self) -> None:
        super()._stop()
        if _client_reactors.get(self._group) is self:
            del _client_reactors[self._group]


_client_reactors: weakref.WeakKeyDictionary[anyio.abc.TaskGroup, _ClientReactor] = (
    weakref.WeakKeyDictionary()
)


def start_client(
    sock: socket.socket, protocol: StreamProtocol, group: anyio.abc.TaskGroup, scope: Scope
) -> TrioTransport:
    if _HAS_EPOLL and protocol.get_read_buffer is None:
        reactor = _client_reactors.get(group)
        if reactor is None or reactor._epoll.closed:
            reactor = _client_reactors[group] = _ClientReactor(group, scope)
            group.start_soon(reactor._serve_epoll)
        transport = TrioTransport(sock, group, scope, reactor)
        reactor._live += 1
        transport._set_protocol(protocol)
        return transport
    transport = TrioTransport(sock, group, scope)
    transport._set_protocol(protocol)
    group.start_soon(transport.read_loop)
    return transport


class TrioListener(_Reactor):
    """A listening socket and the connections it accepted, served by one task.

    With epoll, the task waits for one epoll set holding the listening socket
    and every live connection, then serves whatever is ready (see the module
    docstring); it ends once the listener is closed and its last connection is.
    Without epoll, it is an accept loop starting a reader task per connection.
    """

    def __init__(
        self,
        sock: socket.socket,
        on_accept: Callable[[Any], StreamProtocol | None],
        group: anyio.abc.TaskGroup,
        scope: Scope,
    ) -> None:
        super().__init__(scope, _HAS_EPOLL)
        self.sock = sock
        self._on_accept = on_accept
        self._group = group
        self._closed = False
        # accept() out of descriptors or memory: see _pause_accepting.
        self._accept_paused = False  # the listening socket is out of the epoll set
        self._retrying = False  # the first accept after a pause is running
        self._retry_delay = 0.0
        self._retry_scope: trio.CancelScope | None = None  # the pause (close() ends it)
        if self._epoll is not None:
            self._epoll.register(sock.fileno(), _IN)
            self._watched[sock.fileno()] = self

    async def serve(self) -> None:
        if self._epoll is None:
            await self._accept_loop()
        else:
            await self._serve_epoll()

    def _finished(self) -> bool:
        return self._closed and not self._live

    def _ready(self, events: int) -> None:
        """The listening socket is readable: accept a batch of connections."""
        sock = self.sock
        scope = self._scope
        for i in range(_ACCEPT_BATCH):
            if scope._ticks:  # (those of the previous 'connection' listener: as Node)
                scope.run_ticks()
            if self._closed:  # closed by a 'connection' listener
                return
            try:
                conn, _ = sock.accept()
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno in _OUT_OF_RESOURCES:
                    self._pause_accepting(failed_again=self._retrying and not i)
                    return
                if exc.errno in _TRANSIENT_ACCEPT_ERRORS:
                    return
                raise
            transport = TrioTransport(conn, self._group, scope, self)
            self._live += 1
            protocol = self._on_accept(transport)
            if protocol is None:
                if not transport._closed:
                    transport.abort()
                continue
            if not transport._closed:
                transport._set_protocol(protocol)

    # -- out of descriptors ----------------------------------------------------------

    def _pause_accepting(self, failed_again: bool) -> None:
        """accept() failed for want of descriptors (or memory): stop accepting a while.

        The connection stays in the backlog and the listening socket readable, so
        the level-triggered epoll set would wake us at once, again and again: a busy
        loop until descriptors are freed. As asyncio (which pauses 1 s), the socket
        leaves the set for a while, 0.1 s doubling to 1 s while the first accept
        after each pause fails again; the connections keep being served meanwhile."""
        delay = _ACCEPT_RETRY_FIRST
        if failed_again:
            delay = min(self._retry_delay * 2, _ACCEPT_RETRY_MAX)
        self._retry_delay = delay
        epoll = self._epoll
        if not self._accept_paused and not epoll.closed:
            fd = self.sock.fileno()
            epoll.unregister(fd)
            del self._watched[fd]
        self._accept_paused = True
        self._group.start_soon(self._resume_accepting, delay)

    async def _resume_accepting(self, delay: float) -> None:
        await self._sleep_unless_closed(delay)
        epoll = self._epoll
        if self._closed or epoll.closed:
            return
        fd = self.sock.fileno()
        epoll.register(fd, _IN)
        self._watched[fd] = self
        self._accept_paused = False
        self._retrying = True  # (_ready pauses again, longer, if this first accept fails)
        try:
            self._ready(_IN)
        finally:
            self._retrying = False
        if self._scope._ticks:  # (as _serve_epoll: those of the last 'connection' listener)
            self._scope.run_ticks()

    async def _sleep_unless_closed(self, delay: float) -> None:
        """Sleep ``delay`` seconds; close() wakes this at once."""
        with trio.CancelScope() as cancel:
            self._retry_scope = cancel
            if not self._closed:  # (closed before this task started)
                await trio.sleep(delay)
        self._retry_scope = None

    # -- without epoll -------------------------------------------------------------

    async def _accept_loop(self) -> None:
        sock = self.sock
        start = self._group.start_soon
        failed_again = False
        try:
            while not self._closed:
                await _wait_readable(sock)
                while True:
                    try:
                        conn, _ = sock.accept()
                    except BlockingIOError:
                        break
                    except OSError as exc:
                        if sock.fileno() < 0:  # close() ran between the wake-up and accept()
                            return
                        if exc.errno in _OUT_OF_RESOURCES:  # as _pause_accepting
                            delay = _ACCEPT_RETRY_FIRST
                            if failed_again:
                                delay = min(self._retry_delay * 2, _ACCEPT_RETRY_MAX)
                            self._retry_delay = delay
                            await self._sleep_unless_closed(delay)
                            if sock.fileno() < 0:  # closed meanwhile
                                return
                            failed_again = True
                            continue
                        if exc.errno in _TRANSIENT_ACCEPT_ERRORS:
                            break
                        raise
                    failed_again = False
                    start(self._connection, conn)
        except trio.ClosedResourceError:
            return

    async def _connection(self, conn: socket.socket) -> None:
        scope = self._scope
        if scope._ticks:  # Node runs every nextTick before the next I/O callback
            scope.run_ticks()
        transport = TrioTransport(conn, self._group, scope)
        protocol = self._on_accept(transport)
        if protocol is None:
            return
        transport._set_protocol(protocol)
        await transport.read_loop()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        epoll = self._epoll
        if epoll is not None and not epoll.closed:
            if not self._accept_paused:
                fd = self.sock.fileno()
                epoll.unregister(fd)
                del self._watched[fd]
            if not self._live:
                self._stop()
        if self._retry_scope is not None:  # accepting was paused: end the pause now
            self._retry_scope.cancel()
        trio.lowlevel.notify_closing(self.sock)
        self.sock.close()


_OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
_TRANSIENT_ACCEPT_ERRORS = {errno.ECONNABORTED, errno.EPROTO}


def start_listener(
    sock: socket.socket,
    backlog: int,
    on_accept: Callable[[Any], StreamProtocol | None],
    group: anyio.abc.TaskGroup,
    scope: Scope,
) -> TrioListener:
    sock.setblocking(False)
    sock.listen(backlog)
    listener = TrioListener(sock, on_accept, group, scope)
    group.start_soon(listener.serve)
    return listener
