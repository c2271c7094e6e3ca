"""The trio engine: stdlib non-blocking sockets driven by ``trio.lowlevel``.

Going under ``trio.SocketStream`` saves its conflict detector and per-call
context managers; the per-socket code is shared with asyncio's selector loops
(``_reactor.py``).

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

Client connections share one such set per task group (its task ends with
the last of them). Where epoll is missing, and for Node's ``onread`` clients,
the same handlers run from a reader task per connection and a writer task
started only when a write would block.
"""

from __future__ import annotations

import select
import socket
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio.abc
import trio

from . import StreamProtocol
from ._reactor import (
    _ACCEPT_RETRY_FIRST,
    _ACCEPT_RETRY_MAX,
    _OUT_OF_RESOURCES,
    _TRANSIENT_ACCEPT_ERRORS,
    EpollReactor,
    ReactorListener,
    SocketTransport,
)

if TYPE_CHECKING:
    from .._scope import Scope

_wait_readable = trio.lowlevel.wait_readable
_wait_writable = trio.lowlevel.wait_writable

_HAS_EPOLL = hasattr(select, "epoll")


class TrioReactor(EpollReactor):
    """The epoll set, and the task (in ``group``) that waits for it and serves it."""

    def __init__(self, scope: Scope, group: anyio.abc.TaskGroup) -> None:
        super().__init__(scope)
        self._group = group
        group.start_soon(self._serve)

    async def _serve(self) -> None:
        epoll = self._epoll
        try:
            while not epoll.closed:
                await _wait_readable(epoll)
                if epoll.closed:
                    return
                self._serve_ready()
        except trio.ClosedResourceError:
            return
        finally:
            self._stop()  # (already stopped, unless cancelled)

    def _closing(self) -> None:
        trio.lowlevel.notify_closing(self._epoll)

    def call_later(self, delay: float, fn: Callable[[], None]) -> Callable[[], None]:
        cancel = trio.CancelScope()

        async def later() -> None:
            with cancel:
                await trio.sleep(delay)
                fn()

        self._group.start_soon(later)
        return cancel.cancel


class _ClientReactor(TrioReactor):
    """The reactor of the client connections of one task group; it ends with the last one."""

    def _stop(self) -> None:
        super()._stop()
        if _client_reactors.get(self._group) is self:
            del _client_reactors[self._group]


_client_reactors: weakref.WeakKeyDictionary[anyio.abc.TaskGroup, _ClientReactor] = (
    weakref.WeakKeyDictionary()
)


class _TaskTransport(SocketTransport):
    """A connection served by tasks: a reader, and a writer only while a write is blocked."""

    __slots__ = ("_group", "_read_resumed", "_writer_running")

    def __init__(self, sock: socket.socket, scope: Scope, group: anyio.abc.TaskGroup) -> None:
        super().__init__(sock, scope, None)
        self._group = group
        self._writer_running = False
        self._read_resumed: trio.Event | None = None

    def _update(self) -> None:
        if self._buffer and not self._writer_running and not self._closed:
            self._writer_running = True
            self._group.start_soon(self._write_loop)

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
        """Read until EOF, an error or close, in this task."""
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

    def resume_reading(self) -> None:
        if self._read_paused:
            self._read_paused = False
            self._wake_reader()

    def _wake_reader(self) -> None:
        event = self._read_resumed
        if event is not None:
            self._read_resumed = None
            event.set()

    async def _write_loop(self) -> None:
        """Wait until the socket is writable while something is queued."""
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

    def _closing(self) -> None:
        trio.lowlevel.notify_closing(self.sock)
        self._wake_reader()


def start_client(
    sock: socket.socket, protocol: StreamProtocol, group: anyio.abc.TaskGroup, scope: Scope
) -> SocketTransport:
    if _HAS_EPOLL and protocol.get_read_buffer is None:
        reactor = _client_reactors.get(group)
        if reactor is None or reactor._epoll.closed:
            reactor = _client_reactors[group] = _ClientReactor(scope, group)
        transport = SocketTransport(sock, scope, reactor)
        reactor._live += 1
        transport._set_protocol(protocol)
        return transport
    task_transport = _TaskTransport(sock, scope, group)
    task_transport._set_protocol(protocol)
    group.start_soon(task_transport.read_loop)
    return task_transport


class _TaskListener:
    """Without epoll: an accept loop starting a reader task per connection."""

    def __init__(
        self,
        sock: socket.socket,
        on_accept: Callable[[Any], StreamProtocol | None],
        group: anyio.abc.TaskGroup,
        scope: Scope,
    ) -> None:
        self.sock = sock
        self._on_accept = on_accept
        self._group = group
        self._scope = scope
        self._closed = False
        self._retry_delay = 0.0
        self._retry_scope: trio.CancelScope | None = None  # an out-of-fds pause (see below)

    async def serve(self) -> None:
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
                        if exc.errno in _OUT_OF_RESOURCES:  # as ReactorListener
                            delay = _ACCEPT_RETRY_FIRST
                            if failed_again:
                                delay = min(self._retry_delay * 2, _ACCEPT_RETRY_MAX)
                            self._retry_delay = delay
                            with trio.CancelScope() as cancel:  # close() ends the pause
                                self._retry_scope = cancel
                                await trio.sleep(delay)
                            self._retry_scope = None
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
        transport = _TaskTransport(conn, scope, self._group)
        protocol = self._on_accept(transport)
        if protocol is None:
            return
        transport._set_protocol(protocol)
        await transport.read_loop()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._retry_scope is not None:
            self._retry_scope.cancel()
        trio.lowlevel.notify_closing(self.sock)
        self.sock.close()


def start_listener(
    sock: socket.socket,
    backlog: int,
    on_accept: Callable[[Any], StreamProtocol | None],
    group: anyio.abc.TaskGroup,
    scope: Scope,
) -> ReactorListener | _TaskListener:
    sock.setblocking(False)
    sock.listen(backlog)
    if _HAS_EPOLL:
        return ReactorListener(sock, on_accept, TrioReactor(scope, group))
    listener = _TaskListener(sock, on_accept, group, scope)
    group.start_soon(listener.serve)
    return listener
