"""The conftest's own guarantees: backend parametrisation and bounded async tests."""

import anyio
import pytest

pytestmark = pytest.mark.anyio


async def test_backend_param(anyio_backend: object, backend_name: str) -> None:
    assert backend_name in ("trio", "asyncio", "uvloop")


@pytest.mark.bound(0.05)
@pytest.mark.xfail(raises=TimeoutError, strict=True)
async def test_hung_test_is_bounded() -> None:
    await anyio.sleep(5)
