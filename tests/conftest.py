"""Shared fixtures: every async test runs on each engine, and every one is time-bounded."""

from __future__ import annotations

import functools
import inspect
import os
import signal
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import hypothesis
import pytest

import trionet._transport

# A run started in the background by a non-interactive shell inherits SIGINT ignored,
# and so would every server a test starts: the tests stop those with Ctrl-C (SIGINT).
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# CI runs the property tests with a fixed seed (the same examples every run); locally
# hypothesis explores new ones each time.
hypothesis.settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    hypothesis.settings.load_profile("ci")

#: Upper bound for any single async test, in seconds (a hung test is a failed test).
TEST_TIMEOUT = float(os.environ.get("TRIONET_TEST_TIMEOUT", "30"))

try:
    import uvloop  # noqa: F401

    _HAVE_UVLOOP = True
except ImportError:  # pragma: no cover - uvloop is in the test extra
    _HAVE_UVLOOP = False

#: The engines, by test id: trio; asyncio's selector loop with trionet's selector
#: engine (the default), and with the loop's own transports; uvloop's transports.
_ENGINES: dict[str, Any] = {
    "trio": "trio",
    "asyncio": "asyncio",
    "asyncio-transports": ("asyncio", {"debug": False}),
}
if _HAVE_UVLOOP:
    _ENGINES["uvloop"] = ("asyncio", {"use_uvloop": True})


@pytest.fixture(params=list(_ENGINES))
def anyio_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Every anyio test runs on each engine: trio, asyncio (both engines), uvloop."""
    if request.param == "asyncio-transports":
        monkeypatch.setattr(trionet._transport, "selector_engine", False)
    return _ENGINES[request.param]


@pytest.fixture
def backend_name(anyio_backend: Any) -> str:
    """The trionet backend name matching the running anyio backend."""
    if isinstance(anyio_backend, tuple):
        return "uvloop" if anyio_backend[1].get("use_uvloop") else anyio_backend[0]
    return str(anyio_backend)


def _bounded(fn: Callable[..., Any], seconds: float) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        with anyio.fail_after(seconds):
            return await fn(*args, **kwargs)

    return wrapper


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Iterator[object]:
    """Bound every coroutine test with anyio.fail_after: pytest-timeout cannot stop trio."""
    if inspect.iscoroutinefunction(pyfuncitem.obj):
        marker = pyfuncitem.get_closest_marker("bound")
        seconds = float(marker.args[0]) if marker else TEST_TIMEOUT
        pyfuncitem.obj = _bounded(pyfuncitem.obj, seconds)
    return (yield)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "bound(seconds): time limit for one async test")
    config.addinivalue_line("markers", "node: needs the node binary (reference peer)")


def open_fds() -> int:
    """Number of open file descriptors of this process (Linux)."""
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def fd_leak_check() -> Iterator[None]:
    """Fail the test if it leaves file descriptors open."""
    import gc

    gc.collect()
    before = open_fds()
    yield
    gc.collect()
    after = open_fds()
    assert after <= before, f"fd leak: {before} open before, {after} after"
