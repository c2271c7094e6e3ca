"""The engine of asyncio's selector loops: the trio engine's epoll sets, watched by the loop.

asyncio's own transports cost a Task, a Future, three ``call_soon`` and a
transport of some thirty fields per accepted connection, and per read a loop
handle and four Python frames before the handle sees the bytes. Here, as on
trio, a listener's socket and its connections share one epoll set
(``_reactor.py``); the loop watches only the set's fd (one ``add_reader``),
and its callback serves every ready socket: accept, ``recv`` then
``data_received``, flush. Writes go to the kernel synchronously. Client
connections share one set per scope.

Used for selector loops where ``select.epoll`` exists (plain asyncio on
Linux). uvloop, other loops and platforms, and clients reading with Node's
``onread`` keep the loop's own transports (``_asyncio.py``).
"""

from __future__ import annotations

import asyncio
import select
import socket
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import StreamProtocol
from ._reactor import EpollReactor, ReactorListener, SocketTransport

if TYPE_CHECKING:
    from .._scope import Scope


def usable(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether this engine can serve sockets on ``loop`` (a selector loop, with epoll)."""
    return hasattr(select, "epoll") and isinstance(
        loop, asyncio.selector_events.BaseSelectorEventLoop
    )


class LoopReactor(EpollReactor):
    """The epoll set, its fd watched by the loop with ``add_reader``."""

    def __init__(self, scope: Scope, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(scope)
        self._loop = loop
        self._fd = self._epoll.fileno()
        # The selector loop's own method: the public one only adds a check that no
        # asyncio transport owns the fd.
        add_reader = getattr(loop, "_add_reader", loop.add_reader)
        add_reader(self._fd, self._serve)

    def _serve(self) -> None:
        try:
            self._serve_ready()
        except Exception as exc:  # a bug of ours: the scope's error, never a log line
            self._scope.report(exc)

    def _closing(self) -> None:
        getattr(self._loop, "_remove_reader", self._loop.remove_reader)(self._fd)

    def call_later(self, delay: float, fn: Callable[[], None]) -> Callable[[], None]:
        return self._loop.call_later(delay, fn).cancel


#: Per scope, the reactor of its client connections (it stops with the last one).
_client_reactors: weakref.WeakKeyDictionary[Scope, LoopReactor] = weakref.WeakKeyDictionary()


def start_client(sock: socket.socket, protocol: StreamProtocol, scope: Scope) -> SocketTransport:
    reactor = _client_reactors.get(scope)
    if reactor is None or reactor._epoll.closed:
        reactor = _client_reactors[scope] = LoopReactor(scope, asyncio.get_running_loop())
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
    return ReactorListener(sock, on_accept, LoopReactor(scope, asyncio.get_running_loop()))
