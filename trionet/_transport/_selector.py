"""The engine of asyncio's selector loops: the shared socket code, watched by the loop's selector.

asyncio's own transports cost a Task, a Future, three ``call_soon`` and a
transport of some thirty fields per accepted connection, and four Python
frames per read before the handle sees the bytes. Here the loop only says
when a socket is ready (``add_reader``/``add_writer``: one ``epoll_ctl`` and
one handle per registration) and calls the transport's ``_on_readable`` directly;
accept, reads and writes are ``_reactor.py``'s, the same code as on trio.
Writes go to the kernel synchronously, so a socket is watched for
writability only while a write is blocked.

Used for every selector loop (plain asyncio on Unix). uvloop, other loops,
and clients reading with Node's ``onread`` keep the loop's own transports
(``_asyncio.py``).
"""

from __future__ import annotations

import asyncio
import socket
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import StreamProtocol
from ._reactor import IN, OUT, Reactor, ReactorListener, SocketTransport

if TYPE_CHECKING:
    from .._scope import Scope


def usable(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether this engine can serve sockets on ``loop`` (a selector loop)."""
    return isinstance(loop, asyncio.selector_events.BaseSelectorEventLoop)


class LoopReactor(Reactor):
    """The loop's selector, through ``add_reader``/``add_writer``; nothing to stop."""

    def __init__(self, scope: Scope, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(scope)
        self._loop = loop
        # The selector loop's own registration methods: the public ones only add a
        # check that no asyncio transport owns the fd (none does: these are ours).
        self._add_reader = getattr(loop, "_add_reader", loop.add_reader)
        self._remove_reader = getattr(loop, "_remove_reader", loop.remove_reader)
        self._add_writer = getattr(loop, "_add_writer", loop.add_writer)
        self._remove_writer = getattr(loop, "_remove_writer", loop.remove_writer)

    def _watch(self, obj: Any, old: int, new: int) -> None:
        fd = obj.sock.fileno()
        changed = old ^ new
        if changed & IN:
            if new & IN:
                self._add_reader(fd, obj._on_readable)
            else:
                self._remove_reader(fd)
        if changed & OUT:
            if new & OUT:
                self._add_writer(fd, obj._on_writable)
            else:
                self._remove_writer(fd)

    def call_later(self, delay: float, fn: Callable[[], None]) -> Callable[[], None]:
        return self._loop.call_later(delay, fn).cancel


_reactors: weakref.WeakKeyDictionary[Scope, LoopReactor] = weakref.WeakKeyDictionary()


def _reactor(scope: Scope) -> LoopReactor:
    """The scope's reactor (one per scope: it only holds the loop and the scope)."""
    reactor = _reactors.get(scope)
    if reactor is None:
        reactor = _reactors[scope] = LoopReactor(scope, asyncio.get_running_loop())
    return reactor


def start_client(sock: socket.socket, protocol: StreamProtocol, scope: Scope) -> SocketTransport:
    reactor = _reactor(scope)
    transport = SocketTransport(sock, scope, reactor)
    reactor._live += 1
    transport._set_protocol(protocol)
    return transport


def start_listener(
    sock: socket.socket,
    backlog: int,
    on_accept: Callable[[Any], StreamProtocol | None],
    scope: Scope,
) -> ReactorListener:
    sock.setblocking(False)
    sock.listen(backlog)
    return ReactorListener(sock, on_accept, _reactor(scope))
