"""EventEmitter: Node's ``events`` rules, and the fast paths handles rely on."""

from __future__ import annotations

import functools
import gc
import json
import shutil
import subprocess
import warnings
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from trionet._errors import NodeError
from trionet._events import EventEmitter, MaxListenersExceededWarning, _await_result
from trionet._scope import open_scope

pytestmark = pytest.mark.anyio


def make_logger(log: list[Any], name: str) -> Callable[..., None]:
    def listener(*args: Any) -> None:
        log.append((name, *args))

    listener.__name__ = name
    return listener


class RecordingEmitter(EventEmitter):
    """Records what would be started as a task instead of needing a scope."""

    def __init__(self) -> None:
        super().__init__()
        self.started: list[tuple[Callable[..., Awaitable[object]], tuple[Any, ...]]] = []

    def _start_async_listener(
        self, fn: Callable[..., Awaitable[object]], args: tuple[Any, ...]
    ) -> None:
        self.started.append((fn, args))


# -- adding, emitting, ordering ------------------------------------------------------


def test_emit_calls_listeners_in_order_with_args() -> None:
    e = EventEmitter()
    log: list[Any] = []
    e.on("x", make_logger(log, "a"))
    e.add_listener("x", make_logger(log, "b"))
    assert e.emit("x", 1, "two") is True
    assert log == [("a", 1, "two"), ("b", 1, "two")]
    assert e.emit("nobody") is False


def test_same_listener_twice_runs_twice() -> None:
    e = EventEmitter()
    log: list[Any] = []
    a = make_logger(log, "a")
    e.on("x", a).on("x", a)
    assert e.listener_count("x") == 2
    e.emit("x")
    assert log == [("a",), ("a",)]


def test_prepend_listener_and_prepend_once_listener() -> None:
    e = EventEmitter()
    log: list[Any] = []
    e.on("x", make_logger(log, "a"))
    e.prepend_listener("x", make_logger(log, "b"))
    e.prepend_once_listener("x", make_logger(log, "c"))
    e.emit("x")
    e.emit("x")
    assert log == [("c",), ("b",), ("a",), ("b",), ("a",)]


def test_methods_return_self_for_chaining() -> None:
    e = EventEmitter()

    def f() -> None:
        pass

    for method in (e.on, e.add_listener, e.once, e.prepend_listener, e.prepend_once_listener):
        assert method("x", f) is e
    assert e.off("x", f) is e
    assert e.remove_listener("x", f) is e
    assert e.remove_all_listeners("x") is e
    assert e.remove_all_listeners() is e
    assert e.set_max_listeners(3) is e


def test_listener_must_be_callable() -> None:
    e = EventEmitter()
    for method in (
        e.on,
        e.add_listener,
        e.once,
        e.prepend_listener,
        e.prepend_once_listener,
        e.remove_listener,
        e.off,
    ):
        with pytest.raises(TypeError) as info:
            method("x", 5)  # type: ignore[arg-type]
        assert isinstance(info.value, NodeError)
        assert info.value.code == "ERR_INVALID_ARG_TYPE"
        assert '"listener"' in str(info.value)
    assert e.event_names() == []


def test_listener_exception_propagates_and_stops_the_emit() -> None:
    e = EventEmitter()
    log: list[Any] = []

    def boom(*args: Any) -> None:
        raise KeyError("boom")

    e.on("x", make_logger(log, "a")).on("x", boom).on("x", make_logger(log, "c"))
    with pytest.raises(KeyError, match="boom"):
        e.emit("x")
    assert log == [("a",)]
    assert e.listener_count("x") == 3


# -- once ------------------------------------------------------------------------------


def test_once_runs_once_and_is_removed_before_the_call() -> None:
    e = EventEmitter()
    seen: list[int] = []

    def listener(value: int) -> None:
        seen.append(e.listener_count("x"))
        seen.append(value)

    e.once("x", listener)
    assert e.listener_count("x") == 1
    assert e.emit("x", 7) is True
    assert e.emit("x", 8) is False
    assert seen == [0, 7]
    assert e.event_names() == []


def test_once_listener_re_emitting_its_event_runs_once() -> None:
    e = EventEmitter()
    calls: list[int] = []

    def listener() -> None:
        calls.append(1)
        e.emit("x")

    e.once("x", listener)
    e.emit("x")
    assert calls == [1]


def test_once_in_an_outer_snapshot_runs_once() -> None:
    # The outer emit's snapshot still holds the wrapper after the nested emit fired it.
    e = EventEmitter()
    calls: list[str] = []
    depth = 0

    def first() -> None:
        nonlocal depth
        depth += 1
        if depth == 1:
            e.emit("x")

    e.on("x", first)
    e.once("x", lambda: calls.append("once"))
    e.emit("x")
    assert calls == ["once"]


# -- removing ----------------------------------------------------------------------------


def test_remove_listener_removes_the_most_recent_match() -> None:
    e = EventEmitter()
    log: list[Any] = []
    a, b = make_logger(log, "a"), make_logger(log, "b")
    e.on("x", a).on("x", b).on("x", a)
    e.off("x", a)
    assert e.listeners("x") == [a, b]
    # A once listener is matched by its function; the plain one added later goes first.
    e2 = EventEmitter()
    e2.once("x", a).on("x", a)
    e2.off("x", a)
    [remaining] = e2.raw_listeners("x")
    assert remaining is not a
    assert remaining.listener is a  # type: ignore[attr-defined]


def test_remove_listener_of_unknown_listener_or_event_is_a_no_op() -> None:
    e = EventEmitter()
    log: list[Any] = []
    e.on("x", make_logger(log, "a"))
    e.off("x", make_logger(log, "other")).off("y", make_logger(log, "a"))
    assert e.listener_count("x") == 1


def test_remove_once_listener_by_function_and_by_wrapper() -> None:
    e = EventEmitter()
    log: list[Any] = []
    a = make_logger(log, "a")
    e.once("x", a)
    e.remove_listener("x", a)
    assert e.emit("x") is False
    e.once("x", a)
    [wrapper] = e.raw_listeners("x")
    e.remove_listener("x", wrapper)
    assert e.emit("x") is False
    assert log == []


def test_bound_methods_are_matched_by_equality() -> None:
    class Target:
        def __init__(self) -> None:
            self.calls = 0

        def handler(self) -> None:
            self.calls += 1

    target = Target()
    e = EventEmitter()
    e.on("x", target.handler)
    assert e.listener_count("x", target.handler) == 1
    e.off("x", target.handler)
    assert e.emit("x") is False


def test_removing_during_emit_does_not_affect_that_emit() -> None:
    e = EventEmitter()
    log: list[Any] = []
    b = make_logger(log, "b")

    def a() -> None:
        log.append(("a",))
        e.off("x", b)
        e.on("x", make_logger(log, "late"))

    e.on("x", a).on("x", b)
    e.emit("x")
    assert log == [("a",), ("b",)]
    log.clear()
    e.off("x", a)
    e.emit("x")
    assert log == [("late",)]


def test_remove_all_listeners() -> None:
    e = EventEmitter()
    log: list[Any] = []
    e.on("a", make_logger(log, "a")).once("b", make_logger(log, "b")).on("c", print)
    e.remove_all_listeners("a")
    assert e.event_names() == ["b", "c"]
    e.remove_all_listeners("nothing")
    e.remove_all_listeners()
    assert e.event_names() == []
    assert not e.emit("b")
    assert log == []


def test_remove_all_listeners_reports_each_removal_lifo_and_remove_listener_last() -> None:
    e = EventEmitter()
    log: list[Any] = []
    a, b, c = make_logger(log, "a"), make_logger(log, "b"), make_logger(log, "c")
    names = {a: "a", b: "b", c: "c"}

    def on_remove(event: str, listener: Any) -> None:
        log.append(("removed", event, names.get(listener, listener.__name__)))

    e.on("x", a).once("x", b).on("y", c)
    e.on("removeListener", on_remove)
    e.remove_all_listeners("x")
    assert log == [("removed", "x", "b"), ("removed", "x", "a")]
    log.clear()
    e.on("x", a)
    e.remove_all_listeners()
    # 'removeListener' goes last, and its own removal is not reported (nobody is left).
    assert log == [("removed", "y", "c"), ("removed", "x", "a")]
    assert e.event_names() == []


# -- introspection ---------------------------------------------------------------------


def test_listeners_and_raw_listeners() -> None:
    e = EventEmitter()
    log: list[Any] = []
    a, b = make_logger(log, "a"), make_logger(log, "b")

    async def c() -> None:
        pass

    e.on("x", a).once("x", b).on("x", c)
    assert e.listeners("x") == [a, b, c]
    raw = e.raw_listeners("x")
    assert raw[0] is a
    assert raw[1] is not b
    assert raw[1].listener is b  # type: ignore[attr-defined]
    assert raw[2] is c  # the async wrapper is an implementation detail
    assert e.listeners("nothing") == e.raw_listeners("nothing") == []
    # Copies: changing them changes nothing.
    e.listeners("x").clear()
    assert e.listener_count("x") == 3
    # Calling a once wrapper removes it and calls the listener, as in Node.
    raw[1]("direct")
    assert log == [("b", "direct")]
    assert e.listeners("x") == [a, c]


def test_listener_count() -> None:
    e = EventEmitter()
    log: list[Any] = []
    a, b = make_logger(log, "a"), make_logger(log, "b")
    e.once("x", a).on("x", a).on("x", b)
    assert e.listener_count("x") == 3
    assert e.listener_count("x", a) == 2
    assert e.listener_count("x", b) == 1
    assert e.listener_count("x", print) == 0
    assert e.listener_count("y") == 0


def test_event_names_in_insertion_order() -> None:
    e = EventEmitter()
    e.on("b", print).on("a", print).on("c", print).on("a", print)
    assert e.event_names() == ["b", "a", "c"]
    e.off("b", print)
    e.on("b", print)
    assert e.event_names() == ["a", "c", "b"]


# -- max listeners ---------------------------------------------------------------------


def test_max_listeners_warning_once_per_event() -> None:
    e = EventEmitter()
    assert e.get_max_listeners() == 10
    for _ in range(10):
        e.on("foo", print)
    with pytest.warns(MaxListenersExceededWarning, match=r"11 foo listeners") as record:
        e.on("foo", print)
    [w] = record
    assert issubclass(w.category, RuntimeWarning)
    assert "[EventEmitter]" in str(w.message)
    assert "MaxListeners is 10" in str(w.message)
    assert w.filename == __file__
    warning = w.message
    assert isinstance(warning, MaxListenersExceededWarning)
    assert (warning.emitter, warning.type, warning.count) == (e, "foo", 11)
    with pytest.warns(MaxListenersExceededWarning, match="by hand"):
        warnings.warn("by hand", MaxListenersExceededWarning, stacklevel=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        e.on("foo", print).once("foo", print).prepend_listener("foo", print)
    for _ in range(10):
        e.on("bar", print)
    with pytest.warns(MaxListenersExceededWarning, match=r"11 bar listeners"):
        e.prepend_once_listener("bar", print)


def test_max_listeners_warns_again_after_dropping_to_one() -> None:
    e = EventEmitter().set_max_listeners(1)
    e.on("a", print)
    with pytest.warns(MaxListenersExceededWarning):
        e.on("a", len)
    e.off("a", len)
    with pytest.warns(MaxListenersExceededWarning, match="2 a listeners"):
        e.on("a", len)
    e.remove_all_listeners("a")
    e.on("a", print)
    with pytest.warns(MaxListenersExceededWarning):
        e.on("a", len)


def test_max_listeners_zero_or_inf_is_unlimited() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for limit in (0, float("inf")):
            e = EventEmitter().set_max_listeners(limit)
            assert e.get_max_listeners() == limit
            for _ in range(50):
                e.on("x", print)


def test_default_max_listeners_is_read_per_class_and_at_add_time() -> None:
    class Roomy(EventEmitter):
        default_max_listeners = 2

    e = Roomy()
    assert e.get_max_listeners() == 2
    e.on("x", print).on("x", print)
    with pytest.warns(MaxListenersExceededWarning, match=r"\[Roomy\]"):
        e.on("x", print)
    assert EventEmitter.default_max_listeners == 10
    assert EventEmitter().get_max_listeners() == 10


def test_set_max_listeners_validates() -> None:
    e = EventEmitter()
    for bad in (-1, float("nan")):
        with pytest.raises(ValueError) as info:
            e.set_max_listeners(bad)
        assert info.value.code == "ERR_OUT_OF_RANGE"  # type: ignore[attr-defined]
    for wrong in ("3", None, True):
        with pytest.raises(TypeError) as info2:
            e.set_max_listeners(wrong)  # type: ignore[arg-type]
        assert info2.value.code == "ERR_INVALID_ARG_TYPE"  # type: ignore[attr-defined]
    assert e.get_max_listeners() == 10


# -- 'newListener' and 'removeListener' ----------------------------------------------------


def test_new_listener_is_emitted_before_adding_with_the_unwrapped_listener() -> None:
    e = EventEmitter()
    log: list[Any] = []
    a = make_logger(log, "a")

    def on_new(event: str, listener: Any) -> None:
        log.append(("new", event, listener, e.listener_count(event)))

    e.on("newListener", on_new)
    assert log == []  # the first 'newListener' listener is not told about itself
    e.once("x", a)

    async def b() -> None:
        pass

    e.on("x", b)
    assert log == [("new", "x", a, 0), ("new", "x", b, 1)]


def test_new_listener_can_add_a_listener_that_runs_first() -> None:
    # The example from Node's documentation of 'newListener'.
    e = EventEmitter()
    log: list[str] = []

    def on_new(event: str, listener: Any) -> None:
        if event == "event":
            e.on("event", lambda: log.append("B"))

    e.once("newListener", on_new)
    e.on("event", lambda: log.append("A"))
    e.emit("event")
    assert log == ["B", "A"]


def test_remove_listener_event_after_removal_with_the_unwrapped_listener() -> None:
    e = EventEmitter()
    log: list[Any] = []
    a, b = make_logger(log, "a"), make_logger(log, "b")

    def on_remove(event: str, listener: Any) -> None:
        log.append(("removed", event, listener, e.listener_count(event)))

    e.on("removeListener", on_remove)
    e.once("x", a).on("x", b)
    e.emit("x", 1)
    e.off("x", b)
    assert log == [("removed", "x", a, 1), ("a", 1), ("b", 1), ("removed", "x", b, 0)]


def test_removing_remove_listener_listeners() -> None:
    e = EventEmitter()
    log: list[Any] = []

    def first(event: str, listener: Any) -> None:
        log.append(("first", event))

    def second(event: str, listener: Any) -> None:
        log.append(("second", event))

    e.on("removeListener", first).on("removeListener", second)
    e.off("removeListener", second)
    e.off("removeListener", first)  # nobody is left to be told
    assert log == [("first", "removeListener")]


# -- 'error' -------------------------------------------------------------------------


def test_error_without_listener_raises_the_exception() -> None:
    e = EventEmitter()
    err = ConnectionResetError("reset")
    with pytest.raises(ConnectionResetError) as info:
        e.emit("error", err)
    assert info.value is err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("foo",), "Unhandled error. ('foo')"),
        ((42,), "Unhandled error. (42)"),
        ((), "Unhandled error. (None)"),
    ],
)
def test_error_without_listener_and_a_non_exception(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(NodeError) as info:
        EventEmitter().emit("error", *args)
    assert info.value.code == "ERR_UNHANDLED_ERROR"
    assert str(info.value) == message
    assert info.value.context == (args[0] if args else None)  # type: ignore[attr-defined]


def test_error_with_listener_is_delivered() -> None:
    e = EventEmitter()
    log: list[Any] = []
    e.on("error", make_logger(log, "err"))
    err = ValueError("x")
    assert e.emit("error", err) is True
    assert log == [("err", err)]
    e.remove_all_listeners("error")
    with pytest.raises(ValueError):
        e.emit("error", err)


# -- subclassing and memory ----------------------------------------------------------------


def test_subclasses_with_and_without_slots() -> None:
    class Plain(EventEmitter):
        def __init__(self) -> None:
            super().__init__()
            self.extra = 1

    class Slotted(EventEmitter):
        __slots__ = ("extra",)

        def __init__(self) -> None:
            super().__init__()
            self.extra = 1

    plain, slotted = Plain(), Slotted()
    assert hasattr(plain, "__dict__")
    assert not hasattr(slotted, "__dict__")
    for e in (plain, slotted, EventEmitter()):
        assert weakref.ref(e)() is e
        log: list[Any] = []
        assert e.on("x", make_logger(log, "a")).emit("x", 1) is True
        assert log == [("a", 1)]


def test_emitter_with_plain_listeners_is_freed_without_the_cycle_collector() -> None:
    gc.disable()
    try:
        e = EventEmitter().on("x", print).on("y", len)
        ref = weakref.ref(e)
        del e
        assert ref() is None
        # A once wrapper refers back to its emitter (as in Node): a cycle, for gc.
        e = EventEmitter().once("x", print)
        ref = weakref.ref(e)
        del e
        assert ref() is not None
    finally:
        gc.enable()
    gc.collect()
    assert ref() is None


def test_subclass_chaining_keeps_the_subclass_type() -> None:
    class Sub(EventEmitter):
        def hello(self) -> str:
            return "hi"

    assert Sub().on("x", print).set_max_listeners(3).hello() == "hi"


# -- async listeners ---------------------------------------------------------------------


async def _async_listener(*args: Any) -> None:
    pass


class _AsyncCallable:
    async def __call__(self, *args: Any) -> None:
        pass


class _HasAsyncMethod:
    async def method(self, *args: Any) -> None:
        pass


@pytest.mark.parametrize(
    "listener",
    [
        _async_listener,
        functools.partial(_async_listener, 1),
        functools.partial(functools.partial(_async_listener), 1),
        _AsyncCallable(),
        _HasAsyncMethod().method,
    ],
    ids=["function", "partial", "nested-partial", "async-call", "method"],
)
def test_async_listeners_are_detected_when_added(listener: Any) -> None:
    e = RecordingEmitter()
    e.on("x", print)
    assert not e._has_async("x")
    e.on("x", listener)
    assert e._has_async("x")
    assert not e._has_async("y")
    with open("/dev/null", "w") as devnull:
        e.remove_listener("x", print).on("x", functools.partial(print, file=devnull))
        e.emit("x", 1)
    assert e.started == [(listener, (1,))]
    e.off("x", listener)
    assert not e._has_async("x")


def test_has_async_follows_once_removal_and_remove_all() -> None:
    e = RecordingEmitter()
    e.once("x", _async_listener)
    assert e._has_async("x")
    e.emit("x", "a")
    assert not e._has_async("x")
    assert e.started == [(_async_listener, ("a",))]
    e.on("x", _async_listener).on("x", _async_listener)
    e.off("x", _async_listener)
    assert e._has_async("x")
    e.remove_all_listeners("x")
    assert not e._has_async("x")
    e.on("x", _async_listener).on("y", _async_listener)
    e.remove_all_listeners()
    assert not e._has_async("x")
    assert not e._has_async("y")
    e.on("removeListener", print).on("x", _async_listener)
    with open("/dev/null", "w") as devnull:
        e.off("removeListener", print).on("removeListener", functools.partial(print, file=devnull))
        e.remove_all_listeners()
    assert not e._has_async("x")


async def test_plain_listener_returning_an_awaitable_is_started() -> None:
    e = RecordingEmitter()
    log: list[Any] = []

    async def work(value: int) -> None:
        log.append(value)

    e.on("x", lambda value: work(value))
    e.on("x", lambda value: True)  # non-awaitable results are ignored
    assert not e._has_async("x")  # can only be known by calling it
    e.emit("x", 5)
    [(fn, args)] = e.started
    assert fn is _await_result
    await fn(*args)
    assert log == [5]


async def test_emit_awaiting_awaits_each_listener_in_order() -> None:
    e = EventEmitter()
    log: list[str] = []

    async def slow(tag: str) -> None:
        log.append(f"slow start {tag}")
        await anyio.sleep(0.01)
        log.append(f"slow end {tag}")

    async def once_async(tag: str) -> None:
        await anyio.lowlevel.checkpoint()
        log.append(f"once {tag}")

    async def returned(tag: str) -> None:
        await anyio.lowlevel.checkpoint()
        log.append(f"returned {tag}")

    e.on("x", slow)
    e.on("x", lambda tag: log.append(f"plain {tag}"))
    e.once("x", once_async)
    e.on("x", lambda tag: returned(tag))
    assert await e._emit_awaiting("x", "1") is True
    assert await e._emit_awaiting("x", "2") is True
    assert log == [
        "slow start 1",
        "slow end 1",
        "plain 1",
        "once 1",
        "returned 1",
        "slow start 2",
        "slow end 2",
        "plain 2",
        "returned 2",
    ]
    assert await e._emit_awaiting("nothing") is False


async def test_emit_awaiting_once_fires_once_and_errors_propagate() -> None:
    e = EventEmitter()
    calls: list[str] = []

    async def reenter() -> None:
        calls.append("once")
        await e._emit_awaiting("x")

    e.once("x", reenter)
    await e._emit_awaiting("x")
    assert calls == ["once"]

    async def fail() -> None:
        await anyio.lowlevel.checkpoint()
        raise RuntimeError("listener failed")

    e.on("y", fail).on("y", lambda: calls.append("after"))
    with pytest.raises(RuntimeError, match="listener failed"):
        await e._emit_awaiting("y")
    assert calls == ["once"]
    err = OSError("boom")
    with pytest.raises(OSError, match="boom"):
        await e._emit_awaiting("error", err)
    with pytest.raises(NodeError, match="Unhandled error"):
        await e._emit_awaiting("error", "text")


async def test_default_start_async_listener_uses_the_current_scope() -> None:
    log: list[Any] = []

    async def listener(value: int) -> None:
        await anyio.sleep(0.01)
        log.append(value)

    e = EventEmitter()
    e.on("x", listener)
    async with open_scope():
        assert e.emit("x", 1) is True
        assert log == []
    assert log == [1]  # the scope waited for the listener

    with pytest.raises(RuntimeError, match="open_scope"):
        e.emit("x", 2)


async def test_async_listener_error_ends_the_scope() -> None:
    async def listener() -> None:
        await anyio.lowlevel.checkpoint()
        raise LookupError("from a listener")

    e = EventEmitter().on("x", listener)
    with pytest.raises(LookupError, match="from a listener"):
        async with open_scope():
            e.emit("x")
            await anyio.sleep(1)


# -- against Node ----------------------------------------------------------------------------

_NODE_SCRIPT = r"""
const EE = require('events');
const log = [];
const e = new EE();
const name = (f) => f.tag || (f.listener && f.listener.tag) || '?';
const mk = (tag) => { const f = (...a) => log.push([tag, ...a]); f.tag = tag; return f; };
const a = mk('a'), b = mk('b'), c = mk('c');
e.on('newListener', (ev, l) => log.push(['new', ev, name(l), e.listenerCount(ev)]));
e.on('removeListener', (ev, l) => log.push(['removed', ev, e.listenerCount(ev)]));
e.on('x', a); e.prependOnceListener('x', b); e.once('x', c);
let depth = 0;
e.on('x', () => { log.push(['inner']); if (depth++ === 0) e.emit('x', 2); });
e.emit('x', 1);
e.on('y', a); e.on('y', b); e.on('y', a);
e.removeListener('y', a);
log.push(['y', ...e.listeners('y').map(name)]);
log.push(['names', ...e.eventNames()]);
e.removeAllListeners('y');
log.push(['names', ...e.eventNames()]);
console.log(JSON.stringify(log));
"""


def _python_version_of_the_script() -> list[list[Any]]:
    log: list[list[Any]] = []
    e = EventEmitter()
    tags: dict[Any, str] = {}

    def mk(tag: str) -> Callable[..., None]:
        def f(*args: Any) -> None:
            log.append([tag, *args])

        tags[f] = tag
        return f

    a, b, c = mk("a"), mk("b"), mk("c")
    e.on(
        "newListener",
        lambda ev, listener: log.append(["new", ev, tags.get(listener, "?"), e.listener_count(ev)]),
    )
    e.on("removeListener", lambda ev, listener: log.append(["removed", ev, e.listener_count(ev)]))
    e.on("x", a).prepend_once_listener("x", b).once("x", c)

    depth = 0

    def inner() -> None:
        nonlocal depth
        log.append(["inner"])
        depth += 1
        if depth == 1:
            e.emit("x", 2)

    e.on("x", lambda *args: inner())
    e.emit("x", 1)
    e.on("y", a).on("y", b).on("y", a)
    e.remove_listener("y", a)
    log.append(["y", *(tags[f] for f in e.listeners("y"))])
    log.append(["names", *e.event_names()])
    e.remove_all_listeners("y")
    log.append(["names", *e.event_names()])
    return log


@pytest.mark.node
@pytest.mark.skipif(shutil.which("node") is None, reason="needs node")
def test_tricky_orderings_match_node() -> None:
    out = subprocess.run(
        ["node", "-e", _NODE_SCRIPT], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    assert _python_version_of_the_script() == json.loads(out)
