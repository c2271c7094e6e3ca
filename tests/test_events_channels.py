"""trionet.once() and trionet.on(): awaiting events, and iterating over them."""

from __future__ import annotations

import gc
from typing import Any

import anyio
import pytest

from trionet._errors import NodeError
from trionet._events import EventEmitter, EventIterator, on, once

pytestmark = pytest.mark.anyio


def counts(e: EventEmitter, name: str = "x") -> tuple[int, int]:
    return e.listener_count(name), e.listener_count("error")


async def emit_soon(e: EventEmitter, event: str, *args: Any, delay: float = 0.01) -> None:
    await anyio.sleep(delay)
    e.emit(event, *args)


# -- once() -------------------------------------------------------------------------------


async def test_once_returns_the_arguments_and_removes_its_listeners() -> None:
    e = EventEmitter()
    async with anyio.create_task_group() as tg:
        tg.start_soon(emit_soon, e, "x", 1, "two")
        assert await once(e, "x") == (1, "two")
    assert counts(e) == (0, 0)
    async with anyio.create_task_group() as tg:
        tg.start_soon(emit_soon, e, "x")
        assert await once(e, "x") == ()


async def test_once_listens_to_the_event_and_to_error_while_waiting() -> None:
    e = EventEmitter()
    seen: list[tuple[int, int]] = []

    async def check_then_emit() -> None:
        await anyio.sleep(0.01)
        seen.append(counts(e))
        e.emit("x")

    async with anyio.create_task_group() as tg:
        tg.start_soon(check_then_emit)
        await once(e, "x")
    assert seen == [(1, 1)]


async def test_once_raises_when_error_comes_first() -> None:
    e = EventEmitter()
    err = ConnectionResetError("reset")
    async with anyio.create_task_group() as tg:
        tg.start_soon(emit_soon, e, "error", err)
        with pytest.raises(ConnectionResetError) as info:
            await once(e, "x")
    assert info.value is err
    assert counts(e) == (0, 0)


async def test_once_raises_unhandled_error_for_a_non_exception() -> None:
    e = EventEmitter()
    async with anyio.create_task_group() as tg:
        tg.start_soon(emit_soon, e, "error", "just text")
        with pytest.raises(NodeError) as info:
            await once(e, "x")
    assert info.value.code == "ERR_UNHANDLED_ERROR"
    assert info.value.context == "just text"  # type: ignore[attr-defined]


async def test_once_error_returns_the_error_arguments() -> None:
    e = EventEmitter()
    err = OSError("boom")
    seen: list[int] = []

    async def check_then_emit() -> None:
        await anyio.sleep(0.01)
        seen.append(e.listener_count("error"))
        e.emit("error", err, "extra")

    async with anyio.create_task_group() as tg:
        tg.start_soon(check_then_emit)
        assert await once(e, "error") == (err, "extra")
    assert seen == [1]
    assert e.listener_count("error") == 0


async def test_cancelled_once_leaves_no_listener() -> None:
    e = EventEmitter()
    with anyio.move_on_after(0.01) as scope:
        await once(e, "x")
    assert scope.cancelled_caught
    assert counts(e) == (0, 0)
    assert e.event_names() == []
    # Cancelled before it even waited.
    with anyio.CancelScope() as scope:
        scope.cancel()
        await once(e, "x")
    assert counts(e) == (0, 0)


async def test_once_with_an_event_emitted_again_inside_the_same_emit() -> None:
    # A listener before ours re-emits the event; the outer emit's snapshot still
    # holds our listener. Only the first emission is taken, and nothing breaks.
    e = EventEmitter()
    depth = 0

    def reenter(value: int) -> None:
        nonlocal depth
        depth += 1
        if depth == 1:
            e.emit("x", value + 1)

    e.on("x", reenter)

    async def emit_later() -> None:
        await anyio.sleep(0.01)
        assert e.emit("x", 1) is True

    async with anyio.create_task_group() as tg:
        tg.start_soon(emit_later)
        assert await once(e, "x") == (2,)
    assert e.listeners("x") == [reenter]


async def test_once_cleans_up_if_registering_fails() -> None:
    e = EventEmitter()

    def refuse(event: str, listener: Any) -> None:
        if event == "error":
            raise RuntimeError("no error listeners here")

    e.on("newListener", refuse)
    with pytest.raises(RuntimeError, match="no error listeners"):
        await once(e, "x")
    assert counts(e) == (0, 0)


# -- on() --------------------------------------------------------------------------------


async def test_on_queues_events_from_the_moment_it_is_called() -> None:
    e = EventEmitter()
    got: list[tuple[Any, ...]] = []
    async with on(e, "x") as events:
        assert isinstance(events, EventIterator)
        assert counts(e) == (1, 1)
        for i in range(1000):  # unbounded, as Node's queue
            e.emit("x", i, -i)
        async for args in events:
            got.append(args)
            if len(got) == 1000:
                break
    assert got == [(i, -i) for i in range(1000)]
    assert counts(e) == (0, 0)


async def test_on_waits_for_events_from_another_task() -> None:
    e = EventEmitter()
    got: list[tuple[Any, ...]] = []

    async def produce() -> None:
        for i in range(3):
            await anyio.sleep(0.005)
            e.emit("x", i)
        e.emit("done")

    async with anyio.create_task_group() as tg, on(e, "x") as events:
        tg.start_soon(produce)
        async for args in events:
            got.append(args)
            if len(got) == 3:
                break
    assert got == [(0,), (1,), (2,)]
    assert counts(e) == (0, 0)


async def test_on_raises_error_after_the_events_queued_before_it() -> None:
    e = EventEmitter()
    err = ConnectionResetError("reset")
    got: list[tuple[Any, ...]] = []
    events = on(e, "x")
    e.emit("x", 1)
    e.emit("x", 2)
    e.emit("error", err)
    assert counts(e) == (0, 0)  # listeners go when the error arrives, as in Node
    assert e.emit("x", 3) is False
    with pytest.raises(ConnectionResetError) as info:
        async for args in events:
            got.append(args)
    assert info.value is err
    assert got == [(1,), (2,)]
    with pytest.raises(StopAsyncIteration):
        await events.__anext__()


async def test_on_raises_error_while_waiting() -> None:
    e = EventEmitter()
    async with anyio.create_task_group() as tg, on(e, "x") as events:
        tg.start_soon(emit_soon, e, "error", "not an exception")
        with pytest.raises(NodeError, match="Unhandled error"):
            await events.__anext__()
    assert counts(e) == (0, 0)


async def test_on_error_iterates_over_error_events() -> None:
    e = EventEmitter()
    err = ValueError("v")
    async with on(e, "error") as events:
        assert e.listener_count("error") == 1
        e.emit("error", err)
        e.emit("error", "again")
        assert await events.__anext__() == (err,)
        assert await events.__anext__() == ("again",)
    assert e.listener_count("error") == 0


async def test_on_aclose_removes_listeners_and_ends_the_iteration() -> None:
    e = EventEmitter()
    events = on(e, "x")
    e.emit("x", 1)
    await events.aclose()
    assert counts(e) == (0, 0)
    assert e.emit("x", 2) is False
    with pytest.raises(StopAsyncIteration):
        await events.__anext__()
    await events.aclose()  # idempotent


async def test_on_closed_while_waiting_ends_the_iteration() -> None:
    e = EventEmitter()
    got: list[tuple[Any, ...]] = []
    events = on(e, "x")

    async def close_soon() -> None:
        await anyio.sleep(0.01)
        await events.aclose()

    async with anyio.create_task_group() as tg:
        tg.start_soon(close_soon)
        async for args in events:
            got.append(args)
    assert got == []
    assert counts(e) == (0, 0)


async def test_cancelled_on_leaves_no_listener() -> None:
    e = EventEmitter()
    with anyio.move_on_after(0.01) as scope:
        async with on(e, "x") as events:
            async for _ in events:
                pass
    assert scope.cancelled_caught
    assert counts(e) == (0, 0)


async def test_on_broken_out_of_without_closing_leaves_no_listener() -> None:
    # Node's for-await calls return() on break; Python's async for does not,
    # so the iterator removes its listeners when it becomes garbage.
    e = EventEmitter()
    e.emit("x")
    got: list[tuple[Any, ...]] = []

    async def consume() -> None:
        async for args in on(e, "x"):
            got.append(args)
            break

    for _ in range(2):
        got.clear()

        async with anyio.create_task_group() as tg:
            tg.start_soon(consume)
            await anyio.sleep(0.01)
            e.emit("x", 1)
        assert got == [(1,)]
        assert counts(e) == (0, 0)  # reference counting alone freed it (CPython)


async def test_on_closed_during_the_emit_that_feeds_it() -> None:
    e = EventEmitter()
    events = on(e, "x")
    e.prepend_listener("x", lambda: events._close())
    assert e.emit("x") is True  # our listener is still in this emit's snapshot
    assert e.listener_count("x") == 1
    with pytest.raises(StopAsyncIteration):
        await events.__anext__()


async def test_on_error_during_the_emit_that_feeds_it() -> None:
    # An earlier listener of the same emit triggers 'error': the iterator's
    # event listener, still in the snapshot, must not fail.
    e = EventEmitter()
    err = RuntimeError("inner")
    events = on(e, "x")
    e.prepend_listener("x", lambda: e.emit("error", err))
    assert e.emit("x") is True
    with pytest.raises(RuntimeError, match="inner"):
        await events.__anext__()
    await events.aclose()


async def test_on_cleans_up_if_registering_fails() -> None:
    e = EventEmitter()

    def refuse(event: str, listener: Any) -> None:
        if event == "error":
            raise RuntimeError("no error listeners here")

    e.on("newListener", refuse)
    with pytest.raises(RuntimeError, match="no error listeners"):
        on(e, "x")
    gc.collect()
    assert counts(e) == (0, 0)


async def test_two_iterators_each_get_every_event() -> None:
    e = EventEmitter()
    async with on(e, "x") as first, on(e, "x") as second:
        e.emit("x", "a")
        assert await first.__anext__() == ("a",)
        assert await second.__anext__() == ("a",)
        assert counts(e) == (2, 2)
    assert counts(e) == (0, 0)
