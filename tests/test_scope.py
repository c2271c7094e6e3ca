"""Scopes: run()/open_scope(), ref accounting, error routing and the tick queue.

A minimal timer handle stands in for servers and sockets here, so these tests
pin the scope's own rules.
"""

from __future__ import annotations

import sys
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import trionet
from trionet._handle import Handle

pytestmark = pytest.mark.anyio

if sys.version_info < (3, 11):
    from exceptiongroup import ExceptionGroup


class Timer(Handle):
    """Emits 'tick'(i) ``count`` times, ``delay`` seconds apart, then 'close'."""

    def __init__(self, delay: float, count: int = 1) -> None:
        super().__init__()
        self.closed_by_scope = False
        self._cs: anyio.CancelScope | None = None
        self._scope.register(self)
        self._scope.spawn_system(self._run, delay, count)

    async def _run(self, delay: float, count: int) -> None:
        with anyio.CancelScope() as cs:
            self._cs = cs
            for i in range(count):
                await anyio.sleep(delay)
                self._deliver("tick", i)
            self._deliver("close")
            self._deliver_call(lambda: self._scope.unregister(self))

    def _scope_close(self) -> None:
        self.closed_by_scope = True
        if self._cs is not None:
            self._cs.cancel()


class Boom(Exception):
    pass


BACKENDS = ["trio", "asyncio", "uvloop"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_plain_and_async_main(backend: str) -> None:
    def plain(a: int, b: int) -> int:
        return a + b

    async def coro(a: int) -> int:
        await anyio.lowlevel.checkpoint()
        return a * 2

    assert trionet.run(plain, 1, 2, backend=backend) == 3
    assert trionet.run(coro, 21, backend=backend) == 42


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_waits_for_refd_handle(backend: str) -> None:
    log: list[Any] = []

    def main() -> str:
        t = Timer(0.02, count=3)
        t.on("tick", log.append)
        t.on("close", lambda: log.append("close"))
        return "done"

    assert trionet.run(main, backend=backend) == "done"
    assert log == [0, 1, 2, "close"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_closes_unrefd_handle(backend: str) -> None:
    timers: list[Timer] = []

    def main() -> None:
        t = Timer(60)
        t.unref()
        timers.append(t)

    trionet.run(main, backend=backend)
    assert timers[0].closed_by_scope


@pytest.mark.parametrize("backend", BACKENDS)
def test_ref_after_unref_keeps_scope(backend: str) -> None:
    log: list[str] = []

    def main() -> None:
        t = Timer(0.02)
        t.unref().ref()
        t.on("close", lambda: log.append("close"))

    trionet.run(main, backend=backend)
    assert log == ["close"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_exception_from_main_propagates_unwrapped(backend: str) -> None:
    async def main() -> None:
        Timer(60)
        raise Boom("from main")

    with pytest.raises(Boom, match="from main"):
        trionet.run(main, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_exception_from_plain_listener_ends_scope(backend: str) -> None:
    def main() -> None:
        t = Timer(0.01, count=100)

        def on_tick(i: int) -> None:
            raise Boom(f"tick {i}")

        t.on("tick", on_tick)

    with pytest.raises(Boom, match="tick 0"):
        trionet.run(main, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_exception_from_async_listener_ends_scope(backend: str) -> None:
    def main() -> None:
        t = Timer(0.01, count=100)

        async def on_tick(i: int) -> None:
            await anyio.lowlevel.checkpoint()
            raise Boom(f"async tick {i}")

        t.on("tick", on_tick)

    with pytest.raises(Boom, match="async tick 0"):
        trionet.run(main, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_unhandled_error_event_ends_scope(backend: str) -> None:
    def main() -> None:
        t = Timer(0.01)
        t.on("tick", lambda i: t._deliver("error", Boom("unhandled")))

    with pytest.raises(Boom, match="unhandled"):
        trionet.run(main, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_async_listeners_run_in_order_one_at_a_time(backend: str) -> None:
    log: list[str] = []

    def main() -> None:
        t = Timer(0.001, count=3)

        async def slow(i: int) -> None:
            log.append(f"start {i}")
            await anyio.sleep(0.02)
            log.append(f"end {i}")

        t.on("tick", slow)
        t.on("close", lambda: log.append("close"))

    trionet.run(main, backend=backend)
    assert log == ["start 0", "end 0", "start 1", "end 1", "start 2", "end 2", "close"]


def test_handle_outside_scope_raises() -> None:
    with pytest.raises(RuntimeError, match="open_scope"):
        Timer(1)
    with pytest.raises(RuntimeError, match=r"trionet\.run"):
        trionet.create_server()


def test_bad_backend() -> None:
    with pytest.raises(ValueError, match="backend"):
        trionet.run(lambda: None, backend="curio")


async def test_open_scope_waits_and_returns() -> None:
    log: list[Any] = []
    async with trionet.open_scope():
        t = Timer(0.01, count=2)
        t.on("tick", log.append)
    assert log == [0, 1]
    with pytest.raises(RuntimeError):
        Timer(1)  # the scope is gone


async def test_open_scope_error_unwrapped() -> None:
    with pytest.raises(Boom):
        async with trionet.open_scope():
            t = Timer(0.01, count=10)
            t.on("tick", lambda i: (_ for _ in ()).throw(Boom()))
            await anyio.sleep(5)


async def test_open_scope_body_error_closes_handles() -> None:
    timers: list[Timer] = []
    with pytest.raises(Boom):
        async with trionet.open_scope():
            timers.append(Timer(60))
            raise Boom
    assert timers[0].closed_by_scope


async def test_call_soon_runs_after_caller_in_order() -> None:
    log: list[str] = []
    async with trionet.open_scope() as scope:
        scope.call_soon(log.append, "a")
        scope.call_soon(log.append, "b")
        log.append("sync")
    assert log == ["sync", "a", "b"]


async def test_call_soon_error_reported() -> None:
    with pytest.raises(Boom):
        async with trionet.open_scope() as scope:

            def bad() -> None:
                raise Boom

            scope.call_soon(bad)
            await anyio.sleep(5)


async def test_emitter_async_listener_runs_in_scope() -> None:
    log: list[str] = []
    async with trionet.open_scope():
        e = trionet.EventEmitter()

        async def listener(x: str) -> None:
            await anyio.sleep(0.01)
            log.append(x)

        e.on("x", listener)
        e.emit("x", "hello")
        assert log == []
    assert log == ["hello"]


async def test_nested_task_sees_scope() -> None:
    async with trionet.open_scope(), anyio.create_task_group() as tg:

        async def child() -> None:
            assert trionet.current_scope() is not None
            Timer(0.001)

        tg.start_soon(child)


def test_exceptiongroup_not_leaked() -> None:
    def main() -> None:
        Timer(0.01).on("tick", lambda i: (_ for _ in ()).throw(Boom()))
        Timer(0.01).on("tick", lambda i: (_ for _ in ()).throw(ValueError()))

    with pytest.raises((Boom, ValueError)) as info:
        trionet.run(main)
    assert not isinstance(info.value, ExceptionGroup)


def test_later_errors_are_kept_as_notes() -> None:
    scopes: list[trionet.Scope] = []

    async def main() -> None:
        scope = trionet.current_scope()
        scopes.append(scope)
        scope.report(Boom("first"))
        scope.report(ValueError("second"))

    with pytest.raises(Boom, match="first") as info:
        trionet.run(main)
    assert [type(e) for e in scopes[0].errors] == [Boom, ValueError]
    if sys.version_info >= (3, 11):
        assert any("second" in note for note in info.value.__notes__)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("depth", [1, 3])
def test_nested_ticks_run_before_the_scope_ends(backend: str, depth: int) -> None:
    """A tick queued from a tick still runs inside the scope, and its error is raised."""
    log: list[int] = []

    def main() -> None:
        scope = trionet.current_scope()

        def tick(n: int) -> None:
            log.append(n)
            if n == depth:
                raise Boom(f"tick {n}")
            scope.call_soon(tick, n + 1)

        scope.call_soon(tick, 0)

    with pytest.raises(Boom, match=f"tick {depth}"):
        trionet.run(main, backend=backend)
    assert log == list(range(depth + 1))


async def test_body_error_is_noted_on_the_scope_error() -> None:
    with pytest.raises(Boom) as info:
        async with trionet.open_scope() as scope:
            scope.report(Boom("handle"))
            raise ValueError("body")
    if sys.version_info >= (3, 11):
        assert any("body" in note for note in info.value.__notes__)
