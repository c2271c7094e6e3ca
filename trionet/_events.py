"""Node's ``events`` module: ``EventEmitter``, ``once()`` and ``on()``.

Storage
-------

``self._events`` maps an event name to a *tuple* of stored listeners, in call
order. Adding or removing a listener builds a new tuple, so ``emit`` needs no
copy to be safe against listeners that add or remove listeners while it runs:
the tuple it loops over is its snapshot, exactly as Node's ``arrayClone``.
The dict object itself is never replaced (``remove_all_listeners`` clears it in
place), so a handle may keep a reference to it.

A stored listener is one of:

* the user's callable, for a plain (synchronous) listener;
* an ``_AsyncListener``, for an ``async def`` listener registered with
  ``on``/``prepend_listener``. Calling it hands the listener to
  ``emitter._start_async_listener``; it is invisible to users
  (``raw_listeners`` shows the function itself);
* a ``_OnceWrapper``, for ``once``/``prepend_once_listener``. Node exposes these
  through ``rawListeners()`` with a ``.listener`` attribute, and so do we.

Whether a listener is async is decided once, when it is added (pyee learnt the
hard way what deciding it per call costs, and gets wrong). ``emit`` is then a
loop over the tuple that calls each entry; the only per-call check is on the
returned value, for a plain callable that hands back an awaitable (a lambda
that calls an ``async def``, a sync decorator around one).

Handles deliver events with ``emit`` while every listener of an event is plain,
and with ``_emit_awaiting`` (one listener at a time, each awaited) once one is
async, so that a slow async listener slows its own handle and never reorders
its events; ``_has_async`` tells them which.

Deliberate differences from Node
--------------------------------

* Listeners are compared with ``==``, not identity, so ``off('x', self.method)``
  removes ``on('x', self.method)`` although each attribute access makes a new
  bound method.
* The ``'removeListener'`` event always receives the listener the user
  registered. Node passes the once-wrapper instead when a once listener
  removes itself (or ``removeAllListeners`` removes it) from an event that
  still has other listeners, and the original function otherwise.
* An ``'error'`` value that is not an exception can only be raised wrapped:
  ``emit`` does what Node does (``ERR_UNHANDLED_ERROR``, the value as
  ``.context``), and ``once()``/``on()`` do the same where Node rejects with
  the bare value.
* Once-wrappers and async listeners refer back to their emitter (Node's
  once-wrappers do too): an emitter that has them is freed by the cycle
  collector, one with only plain listeners by reference counting.
"""

from __future__ import annotations

import functools
import inspect
import math
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from inspect import CO_COROUTINE
from types import BuiltinFunctionType, FunctionType, MethodType, TracebackType
from typing import Any, ClassVar, TypeVar, cast

import anyio
import anyio.lowlevel

from ._errors import err_invalid_arg_type, err_out_of_range, err_unhandled_error

#: What a listener is: any callable; an ``async def`` one (or one that returns an
#: awaitable) is run as described in the module docstring.
Listener = Callable[..., object]
_AsyncFn = Callable[..., Awaitable[object]]

_E = TypeVar("_E", bound="EventEmitter")

_NO_EVENTS: frozenset[str] = frozenset()


class MaxListenersExceededWarning(RuntimeWarning):
    """More listeners were added to one event than the emitter's limit allows.

    Node's warning of the same name: usually a leak, a listener added per
    request or per connection and never removed. Issued once per event and
    emitter (again if the event's listeners drop back to one first, as Node).
    As in Node, the instance issued by an emitter has ``emitter``, ``type``
    (the event name) and ``count`` set.
    """

    emitter: EventEmitter | None = None
    type: str | None = None
    count: int | None = None


class _AsyncListener:
    """The stored form of an ``async def`` listener added with ``on``/``prepend_listener``."""

    __slots__ = ("emitter", "listener")

    def __init__(self, emitter: EventEmitter, listener: Callable[..., Awaitable[object]]) -> None:
        self.emitter = emitter
        self.listener = listener

    def __call__(self, *args: Any) -> None:
        self.emitter._start_async_listener(self.listener, args)

    def __repr__(self) -> str:
        return f"<async listener {self.listener!r}>"


class _OnceWrapper:
    """The stored form of a ``once`` listener: removes itself, then calls the listener.

    ``fired`` makes sure the listener runs once even when an older snapshot of
    the listeners (an outer ``emit`` of the same event) still holds the wrapper.
    """

    __slots__ = ("emitter", "event", "fired", "is_async", "listener")

    def __init__(
        self, emitter: EventEmitter, event: str, listener: Listener, is_async: bool
    ) -> None:
        self.emitter = emitter
        self.event = event
        self.listener = listener
        self.is_async = is_async
        self.fired = False

    def _claim(self) -> bool:
        """Mark the wrapper fired and remove it; False if it had already fired."""
        if self.fired:
            return False
        self.fired = True
        self.emitter.remove_listener(self.event, self)
        return True

    def __call__(self, *args: Any) -> object:
        if not self._claim():
            return None
        if self.is_async:
            self.emitter._start_async_listener(cast(_AsyncFn, self.listener), args)
            return None
        return self.listener(*args)

    def __repr__(self) -> str:
        return f"<once wrapper of {self.listener!r}>"


_WRAPPERS = (_AsyncListener, _OnceWrapper)


def _is_async_callable(fn: Listener) -> bool:
    """Whether calling ``fn`` makes a coroutine: an ``async def`` function or method,
    a ``functools.partial`` of one, or an object with an ``async def __call__``."""
    # (no typing.cast below: it is a call at run time, on every listener added)
    kind = type(fn)
    if kind is MethodType:
        fn = fn.__func__  # type: ignore[attr-defined]
        kind = type(fn)
    if kind is FunctionType:
        # The common case, decided from the code flags: inspect's checks cost ~1 µs a
        # listener, paid for every listener a connection adds. A function marked with
        # inspect.markcoroutinefunction (3.12+) carries the marker attribute.
        if fn.__code__.co_flags & CO_COROUTINE:
            return True
        if not hasattr(fn, "_is_coroutine_marker"):
            return False
    elif kind is BuiltinFunctionType:
        return False
    while isinstance(fn, functools.partial):
        fn = fn.func
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(type(fn).__call__)


def _is_async_stored(stored: Listener) -> bool:
    return isinstance(stored, _AsyncListener) or (
        isinstance(stored, _OnceWrapper) and stored.is_async
    )


def _unwrap(stored: Listener) -> Listener:
    if isinstance(stored, _WRAPPERS):
        return stored.listener
    return stored


def _matches(stored: Listener, listener: object) -> bool:
    """Node's matching rule: the stored entry itself, or the listener a wrapper holds."""
    return stored == listener or (isinstance(stored, _WRAPPERS) and stored.listener == listener)


def _error_from(args: tuple[Any, ...]) -> BaseException:
    """The exception an ``'error'`` event carries: its value, or ERR_UNHANDLED_ERROR."""
    value = args[0] if args else None
    if isinstance(value, BaseException):
        return value
    return err_unhandled_error(value)


async def _await_result(awaitable: Awaitable[object]) -> None:
    """Await what a plain listener returned (handed to ``_start_async_listener``)."""
    await awaitable


class EventEmitter:
    """Node's ``EventEmitter``, with snake_case method names.

    Listeners may be plain or ``async def`` functions. :meth:`emit` calls plain
    listeners at once and in order; an async listener is started as a task of
    the current trionet scope (handles instead await it in order, see the
    module docstring). An exception raised by a plain listener propagates out
    of :meth:`emit`, and the listeners after it are not called (as in Node).

    Subclasses must call ``super().__init__()``. The class uses ``__slots__``
    for its own few fields, so that a subclass that also declares
    ``__slots__`` stays free of a ``__dict__``; one that does not gets a
    ``__dict__`` as usual.
    """

    __slots__ = ("__weakref__", "_async_events", "_events", "_max_listeners", "_warned")

    #: The limit for emitters that did not call :meth:`set_max_listeners`
    #: (Node's ``EventEmitter.defaultMaxListeners``); read when a listener is added.
    default_max_listeners: ClassVar[int | float] = 10

    def __init__(self) -> None:
        #: Stored listeners per event, in call order (see the module docstring).
        self._events: dict[str, tuple[Listener, ...]] = {}
        #: Events that have an async listener (replaced, never mutated: it is shared).
        self._async_events: frozenset[str] = _NO_EVENTS
        #: Events that already warned about too many listeners.
        self._warned: frozenset[str] = _NO_EVENTS
        self._max_listeners: int | float | None = None

    # -- adding ------------------------------------------------------------------

    def _add(self, event: str, listener: Listener, prepend: bool, once: bool) -> None:
        if not callable(listener):
            raise err_invalid_arg_type("listener", "Function", listener)
        events = self._events
        # Node emits 'newListener' before adding, so that a 'newListener'
        # listener that adds to the same event runs its listener first.
        if "newListener" in events:
            self.emit("newListener", event, listener)
        is_async = _is_async_callable(listener)
        stored: Listener
        if once:
            stored = _OnceWrapper(self, event, listener, is_async)
        elif is_async:
            stored = _AsyncListener(self, cast(_AsyncFn, listener))
        else:
            stored = listener
        existing = events.get(event)
        if existing is None:
            events[event] = (stored,)
        else:
            added = (stored, *existing) if prepend else (*existing, stored)
            events[event] = added
            limit = self.get_max_listeners()
            if 0 < limit < len(added) and event not in self._warned:
                self._warned = self._warned | {event}
                self._warn_max_listeners(event, len(added), limit)
        if is_async and event not in self._async_events:
            self._async_events = self._async_events | {event}

    def _warn_max_listeners(self, event: str, count: int, limit: float) -> None:
        shown = int(limit) if limit == int(limit) else limit
        warning = MaxListenersExceededWarning(
            f"Possible EventEmitter memory leak detected. {count} {event} listeners "
            f"added to [{type(self).__name__}]. MaxListeners is {shown}. "
            f"Use emitter.set_max_listeners() to increase limit"
        )
        warning.emitter = self
        warning.type = event
        warning.count = count
        # stacklevel 4: the code that called on(), once(), prepend_listener()...
        warnings.warn(warning, stacklevel=4)

    def on(self: _E, event: str, listener: Listener) -> _E:
        """Call ``listener(*args)`` each time ``event`` is emitted, after the listeners
        already there. Adding the same listener twice makes it run twice.

        Returns:
            The emitter, for chaining.

        Raises:
            TypeError: ``listener`` is not callable (``ERR_INVALID_ARG_TYPE``).
        """
        events = self._events
        if (
            event not in events
            and type(listener) is FunctionType
            and "newListener" not in events
            and not listener.__code__.co_flags & CO_COROUTINE
            and not hasattr(listener, "_is_coroutine_marker")
        ):
            # The common case, an event's first listener a plain function: what _add
            # does for it, without its calls (a connection adds a few of these).
            events[event] = (listener,)
            return self
        self._add(event, listener, False, False)
        return self

    add_listener = on

    def prepend_listener(self: _E, event: str, listener: Listener) -> _E:
        """Like :meth:`on`, but ``listener`` runs before the listeners already there."""
        self._add(event, listener, True, False)
        return self

    def once(self: _E, event: str, listener: Listener) -> _E:
        """Call ``listener`` the next time ``event`` is emitted only.

        The listener is removed before it is called, so a listener that emits
        the same event again is not called again.
        """
        self._add(event, listener, False, True)
        return self

    def prepend_once_listener(self: _E, event: str, listener: Listener) -> _E:
        """Like :meth:`once`, but ``listener`` runs before the listeners already there."""
        self._add(event, listener, True, True)
        return self

    # -- removing ----------------------------------------------------------------

    def remove_listener(self: _E, event: str, listener: Listener) -> _E:
        """Remove ``listener`` from ``event``: the most recently added matching entry only.

        A ``once`` listener is found by the function given to :meth:`once` (or by
        its wrapper from :meth:`raw_listeners`). Removing a listener while an
        emit runs does not stop that emit from calling it. ``'removeListener'``
        is emitted afterwards, with the listener as it was given.
        """
        if not callable(listener):
            raise err_invalid_arg_type("listener", "Function", listener)
        events = self._events
        existing = events.get(event)
        if existing is None:
            return self
        for position in range(len(existing) - 1, -1, -1):
            if _matches(existing[position], listener):
                break
        else:
            return self
        stored = existing[position]
        if len(existing) == 1:
            del events[event]
        else:
            events[event] = existing[:position] + existing[position + 1 :]
        if len(existing) <= 2 and event in self._warned:
            # Node keeps its "warned" flag on the listener array, which goes
            # away when one listener is left: the warning can come again.
            self._warned = self._warned - {event}
        if _is_async_stored(stored):
            self._refresh_async(event)
        if "removeListener" in events:
            self.emit("removeListener", event, _unwrap(stored))
        return self

    off = remove_listener

    def remove_all_listeners(self: _E, event: str | None = None) -> _E:
        """Remove every listener of ``event``, or of every event if it is None.

        With ``'removeListener'`` listeners, each removal is reported, last
        added first, and the ``'removeListener'`` listeners themselves go last.
        """
        events = self._events
        if "removeListener" not in events:
            if event is None:
                events.clear()
                self._warned = self._async_events = _NO_EVENTS
            elif events.pop(event, None) is not None:
                self._warned = self._warned - {event}
                self._refresh_async(event)
            return self
        if event is None:
            for name in list(events):
                if name != "removeListener":
                    self.remove_all_listeners(name)
            self.remove_all_listeners("removeListener")
            events.clear()
            self._warned = self._async_events = _NO_EVENTS
            return self
        for stored in reversed(events.get(event, ())):
            self.remove_listener(event, stored)
        return self

    def _refresh_async(self, event: str) -> None:
        if any(_is_async_stored(stored) for stored in self._events.get(event, ())):
            if event not in self._async_events:
                self._async_events = self._async_events | {event}
        elif event in self._async_events:
            self._async_events = self._async_events - {event}

    # -- introspection -----------------------------------------------------------

    def listeners(self, event: str) -> list[Listener]:
        """A copy of ``event``'s listeners, in call order, as they were given."""
        return [_unwrap(stored) for stored in self._events.get(event, ())]

    def raw_listeners(self, event: str) -> list[Listener]:
        """Like :meth:`listeners`, but ``once`` listeners appear as their wrappers.

        A wrapper has a ``.listener`` attribute (the function given to
        :meth:`once`); calling it removes it and calls that function, as in Node.
        """
        return [
            stored.listener if isinstance(stored, _AsyncListener) else stored
            for stored in self._events.get(event, ())
        ]

    def listener_count(self, event: str, listener: Listener | None = None) -> int:
        """How many listeners ``event`` has (how many of them are ``listener``, if given)."""
        stored = self._events.get(event, ())
        if listener is None:
            return len(stored)
        return sum(1 for entry in stored if _matches(entry, listener))

    def event_names(self) -> list[str]:
        """The events that have listeners, in the order they first got one."""
        return list(self._events)

    def set_max_listeners(self: _E, n: int | float) -> _E:
        """Warn (:class:`MaxListenersExceededWarning`) past ``n`` listeners for one event.

        ``0`` or ``math.inf`` means no limit. Raises ``ERR_INVALID_ARG_TYPE``
        (TypeError) if ``n`` is not a number and ``ERR_OUT_OF_RANGE`` (ValueError)
        if it is negative or NaN.
        """
        if isinstance(n, bool) or not isinstance(n, (int, float)):
            raise err_invalid_arg_type("n", "number", n)
        if math.isnan(n) or n < 0:
            raise err_out_of_range("n", ">= 0", n)
        self._max_listeners = n
        return self

    def get_max_listeners(self) -> int | float:
        """The limit from :meth:`set_max_listeners`, else the class's ``default_max_listeners``."""
        if self._max_listeners is None:
            return type(self).default_max_listeners
        return self._max_listeners

    # -- emitting ----------------------------------------------------------------

    def emit(self, event: str, /, *args: Any) -> bool:
        """Call ``event``'s listeners with ``args``, in order; True if it had any.

        An ``'error'`` event with no listener raises its value (or
        ``ERR_UNHANDLED_ERROR`` if the value is not an exception). An exception
        from a listener propagates, and the listeners after it are not called.
        An async listener (or an awaitable a plain listener returns) is not
        awaited: it runs as a task of the current trionet scope, which ends
        with its exception if it raises one.
        """
        listeners = self._events.get(event)
        if listeners is None:
            if event == "error":
                raise _error_from(args)
            return False
        for listener in listeners:
            result = listener(*args)
            # A plain callable may hand back an awaitable. hasattr() is a tenth
            # of the cost of inspect.isawaitable() for the values listeners
            # usually return (None, a bool from write()).
            if result is not None and hasattr(result, "__await__"):
                self._start_async_listener(_await_result, (result,))
        return True

    def _has_async(self, event: str) -> bool:
        """Whether ``event`` has an async listener (decided when each was added)."""
        return event in self._async_events

    async def _emit_awaiting(self, event: str, /, *args: Any) -> bool:
        """Like :meth:`emit`, but await each async listener before calling the next.

        This is how a handle delivers its events in order when a listener is
        async. An exception from any listener propagates.
        """
        listeners = self._events.get(event)
        if listeners is None:
            if event == "error":
                raise _error_from(args)
            return False
        for stored in listeners:
            if isinstance(stored, _AsyncListener):
                await stored.listener(*args)
                continue
            if isinstance(stored, _OnceWrapper):
                if not stored._claim():
                    continue
                result = stored.listener(*args)
            else:
                result = stored(*args)
            if result is not None and hasattr(result, "__await__"):
                await result
        return True

    def _start_async_listener(self, fn: _AsyncFn, args: tuple[Any, ...]) -> None:
        """Run ``fn(*args)`` without waiting for it: by default as a task of the current
        trionet scope, which then ends with any exception it raises. Handles
        override this to use their own task group."""
        from ._scope import current_scope

        current_scope().spawn(fn, *args)


# -- events.once() and events.on() ---------------------------------------------------


class _Failure:
    """An ``'error'`` event, travelling through a stream to be raised by the receiver."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


_Item = tuple[Any, ...] | _Failure


async def once(emitter: EventEmitter, name: str) -> tuple[Any, ...]:
    """Wait for ``name`` to be emitted and return its arguments as a tuple.

    If ``'error'`` is emitted first, raise its value (``ERR_UNHANDLED_ERROR`` if
    that is not an exception), unless ``name`` is ``'error'`` itself.

    Resource handling:
        Both listeners are removed when the event fires, when ``'error'``
        fires, and when the wait is cancelled: nothing is left behind.
    """
    send, receive = anyio.create_memory_object_stream[_Item](1)
    done = False

    def detach() -> bool:
        nonlocal done
        if done:
            return False
        done = True
        emitter.remove_listener(name, on_event)
        if name != "error":
            emitter.remove_listener("error", on_error)
        return True

    def on_event(*args: Any) -> None:
        if detach():
            send.send_nowait(args)

    def on_error(*args: Any) -> None:
        if detach():
            send.send_nowait(_Failure(_error_from(args)))

    with send, receive:
        try:
            emitter.on(name, on_event)
            if name != "error":
                emitter.on("error", on_error)
            item = await receive.receive()
        finally:
            detach()
    if isinstance(item, _Failure):
        raise item.error
    return item


class EventIterator(AsyncIterator[tuple[Any, ...]]):
    """What :func:`on` returns: an async iterator of an event's argument tuples.

    Events are queued (without limit, as Node) from the moment :func:`on` is
    called. An ``'error'`` event is raised by the iteration after the events
    queued before it; the iteration then ends.

    Resource handling:
        Close it with ``aclose()``, or use it as ``async with on(e, 'x') as it``.
        Breaking out of ``async for`` without either still removes the
        listeners as soon as the iterator is garbage (at once, on CPython),
        because the listeners do not keep the iterator alive.
    """

    def __init__(self, emitter: EventEmitter, name: str) -> None:
        send, receive = anyio.create_memory_object_stream[_Item](math.inf)
        self._send = send
        self._receive = receive
        self._closed = False

        def detach() -> None:
            emitter.remove_listener(name, on_event)
            if name != "error":
                emitter.remove_listener("error", on_error)

        # The listeners hold the send stream and the emitter, never self.
        def on_event(*args: Any) -> None:
            try:
                send.send_nowait(args)
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                pass  # closed during the emit that is calling us

        def on_error(*args: Any) -> None:
            detach()
            try:
                send.send_nowait(_Failure(_error_from(args)))
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                return
            send.close()

        self._detach = detach
        try:
            emitter.on(name, on_event)
            if name != "error":
                emitter.on("error", on_error)
        except BaseException:
            self._close()
            raise

    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._detach()
        finally:
            self._send.close()
            self._receive.close()

    async def __anext__(self) -> tuple[Any, ...]:
        try:
            item = await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            self._close()
            raise StopAsyncIteration from None
        if isinstance(item, _Failure):
            self._close()
            raise item.error
        return item

    async def aclose(self) -> None:
        """Stop listening and end the iteration; queued events are dropped."""
        self._close()
        await anyio.lowlevel.checkpoint()

    async def __aenter__(self) -> EventIterator:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._close()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            self._close()


def on(emitter: EventEmitter, name: str) -> EventIterator:
    """Iterate over ``name``'s events: ``async for args in on(emitter, name)``.

    Each item is the tuple of arguments the event was emitted with. An
    ``'error'`` event is raised from the iteration (unless ``name`` is
    ``'error'``). See :class:`EventIterator` for closing it.
    """
    return EventIterator(emitter, name)
