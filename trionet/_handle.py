"""The base of every I/O handle: scope membership, ref/unref, and in-order event delivery."""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import anyio.abc

from ._events import EventEmitter
from ._scope import Scope, current_scope

_CALL = "\0call"  # a queue entry that runs an internal callable instead of emitting


class Handle(EventEmitter):
    """An EventEmitter bound to a scope, that delivers its own events one at a time, in order.

    Plain listeners are called at once. The first event that has an async
    listener opens a small queue served by one task, which awaits each listener
    before delivering the next event; while that queue is non-empty the handle
    is told (``_backlog_changed``) so it can stop reading (backpressure).
    """

    __slots__ = ("_group", "_queue", "_refed", "_scope")

    def __init__(self, scope: Scope | None = None) -> None:
        super().__init__()
        self._scope: Scope = scope if scope is not None else current_scope()
        self._refed = True
        #: The task group the handle's own tasks run in (a server's, for accepted sockets).
        self._group: anyio.abc.TaskGroup | None = None
        self._queue: deque[tuple[str, tuple[Any, ...]]] | None = None

    def ref(self) -> Any:
        """Let this handle keep its scope running (the default)."""
        if not self._refed:
            self._refed = True
            self._scope.ref_changed(self, True)
        return self

    def unref(self) -> Any:
        """Let the scope end while this handle is open; it is then closed."""
        if self._refed:
            self._refed = False
            self._scope.ref_changed(self, False)
        return self

    def _start_async_listener(
        self, fn: Callable[..., Awaitable[object]], args: tuple[Any, ...]
    ) -> None:
        self._scope.spawn(fn, *args, tg=self._group)

    def _deliver(self, event: str, *args: Any) -> None:
        """Emit ``event`` now if nothing is queued and no listener is async, else queue it."""
        queue = self._queue
        if queue is None:
            if event not in self._async_events:
                if event not in self._events and event != "error":
                    return  # nobody listens (most 'end'/'finish'/'close' of a server's sockets)
                try:
                    self.emit(event, *args)
                except Exception as exc:
                    self._scope.report(exc)
                return
            queue = self._queue = deque()
            self._scope.spawn(self._drain_queue, tg=self._group)
            self._backlog_changed(True)
        queue.append((event, args))

    def _deliver_call(self, fn: Callable[[], object]) -> None:
        """Run ``fn`` once every event delivered before it has been handled.

        An exception from ``fn`` (a user's callback, say) ends the scope, as one
        from a listener does."""
        if self._queue is None:
            try:
                fn()
            except Exception as exc:
                self._scope.report(exc)
        else:
            self._queue.append((_CALL, (fn,)))

    async def _drain_queue(self) -> None:
        queue = self._queue
        assert queue is not None
        while queue:
            event, args = queue.popleft()
            if event is _CALL:
                args[0]()
                continue
            await self._emit_awaiting(event, *args)
        self._queue = None
        self._backlog_changed(False)

    def _backlog_changed(self, backlog: bool) -> None:
        """Called when async delivery starts or stops lagging behind (override to pause reads)."""

    def _scope_close(self) -> None:
        """Close without events: the scope is ending and this handle was unref'd or abandoned."""
        raise NotImplementedError
