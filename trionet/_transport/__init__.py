"""The seam between Node's semantics (in the handles) and the backends (the engines).

Handles implement :class:`StreamProtocol`; engines implement :class:`Transport`,
plus the two ways a connection starts (:func:`start_client`, :func:`start_listener`).
The split is asyncio's Transport/Protocol one: semantics live once, in the
handle, and each engine only moves bytes.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import anyio.abc

if TYPE_CHECKING:
    from .._scope import Scope


class StreamProtocol(Protocol):
    """What an engine calls on the handle that owns a connection."""

    def data_received(self, data: bytes) -> None: ...
    def eof_received(self) -> None: ...

    #: ``exc`` None: closed without an error. ``syscall``: the call that failed ("read" or
    #: "write"), which Node names in the error; an engine that cannot tell says "read".
    def connection_lost(self, exc: OSError | None, syscall: str = "read") -> None: ...
    def pause_writing(self) -> None: ...
    def resume_writing(self) -> None: ...

    #: None on the default path (a ``bytes`` per read, to ``data_received``). Set (Node's
    #: ``onread``), it returns the writable buffer the next read fills, and the engine then
    #: calls ``buffer_updated(nbytes)`` instead: no bytes object per read. Engines look at it
    #: once, when a client transport starts (accepted connections use the default path).
    get_read_buffer: Callable[[], Any] | None

    def buffer_updated(self, nbytes: int) -> None: ...


class Transport(Protocol):
    """What a handle calls on its engine: all of it synchronous, none of it blocking."""

    @property
    def sock(self) -> socket.socket: ...

    #: TCP_NODELAY as the engine left it (uvloop turns it on); None: not known.
    no_delay: bool | None

    def write(self, data: bytes | bytearray | memoryview) -> None: ...
    def write_eof(self) -> None: ...
    def abort(self) -> None: ...
    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...
    def get_write_buffer_size(self) -> int: ...


class Listener(Protocol):
    def close(self) -> None: ...


#: Whether asyncio selector loops use the selector engine (``_selector.py``) rather
#: than the loop's own transports (``_asyncio.py``); the tests run both.
selector_engine = True


def _use_selector_engine(scope: Scope) -> bool:
    if not selector_engine:
        return False
    from . import _selector

    return _selector.usable(scope._loop)


async def start_client(
    scope: Scope,
    sock: socket.socket,
    protocol: StreamProtocol,
    group: anyio.abc.TaskGroup,
) -> Transport:
    """Wrap a connected socket in the transport of ``scope``'s backend; reading starts at once.

    (The trio engine runs ``scope``'s queued ticks before it hands I/O to a handle.)"""
    if scope.backend == "trio":
        from . import _trio

        return _trio.start_client(sock, protocol, group, scope)
    if protocol.get_read_buffer is None and _use_selector_engine(scope):
        from . import _selector

        return _selector.start_client(sock, protocol, scope)
    from . import _asyncio

    return await _asyncio.start_client(sock, protocol)


async def start_listener(
    scope: Scope,
    sock: socket.socket,
    backlog: int,
    on_accept: Callable[[Any], StreamProtocol | None],
    group: anyio.abc.TaskGroup,
) -> Listener:
    """Accept connections on a bound socket; ``on_accept(transport)`` adopts each one.

    ``on_accept`` returns the connection's protocol, or None to refuse it (the
    engine then aborts the transport). Its protocols belong to ``scope``."""
    if scope.backend == "trio":
        from . import _trio

        return _trio.start_listener(sock, backlog, on_accept, group, scope)
    if _use_selector_engine(scope):
        from . import _selector

        return _selector.start_listener(sock, backlog, on_accept, scope)
    from . import _asyncio

    return await _asyncio.start_listener(sock, backlog, on_accept)
