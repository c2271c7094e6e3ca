"""Scopes: where handles live, what keeps a program running, and where errors go.

A scope plays the part of Node's process event loop. It is an anyio task group
plus a registry of handles: leaving it waits while a ref'd handle is open (or a
listener task still runs), then closes the unref'd handles. The first error
reported by a handle, a listener or a deferred callback cancels the scope and
is raised, unwrapped, from its exit.
"""

from __future__ import annotations

import contextvars
import inspect
import sys
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar, overload

import anyio
import anyio.abc
import anyio.lowlevel
import sniffio

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

if TYPE_CHECKING:
    from ._handle import Handle

T = TypeVar("T")

_current: contextvars.ContextVar[Scope | None] = contextvars.ContextVar(
    "trionet_scope", default=None
)

_NO_SCOPE = (
    "no trionet scope is running: create servers and sockets inside "
    "trionet.run(main) or inside 'async with trionet.open_scope():'"
)


def current_scope() -> Scope:
    """Return the scope of the running task, or raise RuntimeError saying how to open one."""
    scope = _current.get()
    if scope is None or scope._finished:
        raise RuntimeError(_NO_SCOPE)
    return scope


class Scope:
    """The registry, task group and tick queue shared by every handle made inside it."""

    def __init__(self, tg: anyio.abc.TaskGroup, backend: str) -> None:
        self._tg = tg
        #: "trio" or "asyncio": which transport engine the handles use.
        self.backend = backend
        self._handles: set[Handle] = set()
        self._busy = 0
        self._idle: anyio.Event | None = None  # made by _wait_idle, set when _busy reaches 0
        self._error: BaseException | None = None
        #: Every error reported to the scope, in order; the first is the one raised.
        self.errors: list[BaseException] = []
        self._finished = False
        self._ticks: deque[tuple[Callable[..., object], tuple[Any, ...]]] = deque()
        self._tick_wakeup: anyio.Event | None = None
        self._tick_task_started = False
        self._loop: Any = None
        self._loop_ticks = 0
        if backend == "asyncio":
            import asyncio

            self._loop = asyncio.get_running_loop()

    # -- work accounting ---------------------------------------------------------

    def _add_busy(self, n: int) -> None:
        busy = self._busy = self._busy + n
        if busy == 0:
            event = self._idle
            if event is not None:
                self._idle = None
                event.set()

    def register(self, handle: Handle) -> None:
        """Track an open handle; a ref'd one keeps the scope running."""
        if handle not in self._handles:
            self._handles.add(handle)
            if handle._refed:
                self._add_busy(1)

    def unregister(self, handle: Handle) -> None:
        """Forget a handle once it has emitted its last event."""
        if handle in self._handles:
            self._handles.discard(handle)
            if handle._refed:
                self._add_busy(-1)

    def ref_changed(self, handle: Handle, refed: bool) -> None:
        """Adjust the accounting when an open handle is ref'd or unref'd."""
        if handle in self._handles:
            self._add_busy(1 if refed else -1)

    # -- tasks, errors, ticks ------------------------------------------------------

    def spawn(
        self,
        fn: Callable[..., Awaitable[object]],
        *args: Any,
        tg: anyio.abc.TaskGroup | None = None,
    ) -> None:
        """Run ``fn(*args)`` in ``tg`` (default: the scope's group); it keeps the scope running."""
        self._add_busy(1)
        (tg or self._tg).start_soon(self._guarded, fn, args, True)

    def spawn_system(
        self,
        fn: Callable[..., Awaitable[object]],
        *args: Any,
        tg: anyio.abc.TaskGroup | None = None,
    ) -> None:
        """Run an internal task (a reader, a writer) that does not keep the scope alive."""
        (tg or self._tg).start_soon(self._guarded, fn, args, False)

    async def _guarded(
        self, fn: Callable[..., Awaitable[object]], args: tuple[Any, ...], busy: bool
    ) -> None:
        try:
            await fn(*args)
        except Exception as exc:
            self.report(exc)
        finally:
            if busy:
                self._add_busy(-1)

    def report(self, exc: BaseException) -> None:
        """End the scope with ``exc``: the first error is raised, later ones are added to it
        as notes (``__notes__``) and listed in :attr:`errors`, so none is lost."""
        if self._error is None:
            self._error = exc
        elif exc is not self._error and exc not in self.errors and sys.version_info >= (3, 11):
            self._error.add_note(f"trionet: this scope also failed with {exc!r}")
        self.errors.append(exc)
        self._tg.cancel_scope.cancel()

    def call_soon(self, fn: Callable[..., object], *args: Any) -> None:
        """Call ``fn(*args)`` later, after the current call returns (Node's process.nextTick)."""
        if self._loop is not None:
            self._loop_ticks += 1
            self._loop.call_soon(self._run_loop_tick, fn, args)
            return
        self._ticks.append((fn, args))
        if not self._tick_task_started:
            self._tick_task_started = True
            self._tg.start_soon(self._tick_runner)
        elif self._tick_wakeup is not None:
            self._tick_wakeup.set()
            self._tick_wakeup = None

    def _run_loop_tick(self, fn: Callable[..., object], args: tuple[Any, ...]) -> None:
        self._loop_ticks -= 1
        try:  # (_run_tick, inlined: one Python call less per tick)
            fn(*args)
        except Exception as exc:
            self.report(exc)

    def _run_tick(self, fn: Callable[..., object], args: tuple[Any, ...]) -> None:
        try:
            fn(*args)
        except Exception as exc:
            self.report(exc)

    def run_ticks(self) -> None:
        """Run every queued tick now, in order, with those they queue (trio).

        Node runs its whole nextTick queue before any further I/O callback: the trio
        engine calls this before it hands I/O to a handle while a tick is queued
        (the tick task runs the ticks queued outside I/O)."""
        ticks = self._ticks
        while ticks:
            fn, args = ticks.popleft()
            self._run_tick(fn, args)

    async def _tick_runner(self) -> None:
        while True:
            self.run_ticks()
            self._tick_wakeup = event = anyio.Event()
            await event.wait()

    # -- the end -----------------------------------------------------------------

    async def _wait_idle(self) -> None:
        while self._busy > 0 or self._ticks or self._loop_ticks:
            if self._busy > 0:
                event = self._idle
                if event is None:
                    event = self._idle = anyio.Event()
                await event.wait()
            else:
                await anyio.lowlevel.checkpoint()

    def _close_all(self) -> None:
        for handle in list(self._handles):
            handle._scope_close()
        self._handles.clear()


def _backend_name() -> str:
    name = sniffio.current_async_library()
    if name not in ("trio", "asyncio"):
        raise RuntimeError(f"trionet runs on trio or asyncio, not {name}")
    return name


@asynccontextmanager
async def open_scope() -> AsyncIterator[Scope]:
    """Open a scope inside a running Trio or anyio program.

    Leaving the block waits for every ref'd handle (and every async listener)
    to finish, then closes the unref'd ones. An error from a listener, or an
    ``'error'`` event nobody listens to, ends the block with that error.
    """
    scope: Scope | None = None
    try:
        async with anyio.create_task_group() as tg:
            scope = Scope(tg, _backend_name())
            token = _current.set(scope)
            try:
                yield scope
                await scope._wait_idle()
            finally:
                _current.reset(token)
                scope._finished = True
                scope._close_all()
                tg.cancel_scope.cancel()
    except BaseException as exc:
        if scope is not None and scope._error is not None:
            body = _single_error(exc)
            if (
                body is not None
                and body is not scope._error
                and not isinstance(body, anyio.get_cancelled_exc_class())
                and sys.version_info >= (3, 11)
            ):
                scope._error.add_note(f"trionet: the scope's body also raised {body!r}")
            raise scope._error from None
        leaf = _single_error(exc)
        if leaf is not None and leaf is not exc:
            raise leaf from None
        raise
    if scope is not None and scope._error is not None:
        raise scope._error


def _single_error(exc: BaseException) -> BaseException | None:
    """The one real error inside (nested) exception groups, ignoring cancellations."""
    if not isinstance(exc, BaseExceptionGroup):
        return exc
    cancelled = anyio.get_cancelled_exc_class()
    leaves: list[BaseException] = []
    stack: list[BaseException] = [exc]
    while stack:
        item = stack.pop()
        if isinstance(item, BaseExceptionGroup):
            stack.extend(item.exceptions)
        elif not isinstance(item, cancelled):
            leaves.append(item)
    if len(leaves) > 1 and all(isinstance(leaf, KeyboardInterrupt) for leaf in leaves):
        return leaves[-1]  # one Ctrl-C (pressed twice) seen by several tasks
    return leaves[0] if len(leaves) == 1 else None


@overload
def run(
    main: Callable[..., Awaitable[T]],
    *args: Any,
    backend: str = ...,
    backend_options: dict[str, Any] | None = ...,
) -> T: ...


@overload
def run(
    main: Callable[..., T],
    *args: Any,
    backend: str = ...,
    backend_options: dict[str, Any] | None = ...,
) -> T: ...


def run(
    main: Callable[..., Any],
    *args: Any,
    backend: str = "trio",
    backend_options: dict[str, Any] | None = None,
) -> Any:
    """Run ``main(*args)`` the way Node runs a script, and return its result.

    ``run`` returns once ``main`` has returned and no ref'd handle is open.
    ``backend`` is ``"trio"``, ``"asyncio"`` or ``"uvloop"``.
    """
    options = dict(backend_options or {})
    if backend == "uvloop":
        try:
            import uvloop  # noqa: F401
        except ImportError:
            raise RuntimeError(
                "backend='uvloop' needs the uvloop package: pip install 'trionet[uvloop]'"
            ) from None
        backend, options = "asyncio", {**options, "use_uvloop": True}
    elif backend not in ("trio", "asyncio"):
        raise ValueError(f"backend must be 'trio', 'asyncio' or 'uvloop', not {backend!r}")

    async def _main() -> Any:
        async with open_scope():
            result = main(*args)
            if inspect.isawaitable(result):
                result = await result
        return result

    return anyio.run(_main, backend=backend, backend_options=options)
