"""Node's ``normalizeArgs`` for ``connect`` and ``listen``: positional forms to one options dict."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from ._validate import normalize_options, to_number


def _is_port_like(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    if isinstance(value, str):
        return to_number(value) >= 0  # NaN compares False: a path
    return False


def normalize_args(
    args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> tuple[dict[str, Any], Callable[..., object] | None]:
    """Turn ``(port, host, cb)``, ``(path, cb)`` or ``(options, cb)`` plus keywords into options.

    A first argument that is a mapping is the options; a string that is not a
    non-negative number is a path; anything else is the port, and a following
    string is the host. A trailing callable is the callback.
    """
    items = list(args)
    callback: Callable[..., object] | None = None
    if items and callable(items[-1]) and not isinstance(items[-1], Mapping):
        callback = items.pop()
    options: dict[str, Any] = {}
    if items:
        first = items[0]
        if isinstance(first, Mapping):
            options = normalize_options(first, {})
        elif isinstance(first, os.PathLike) or (  # a pathlib.Path is an IPC path too
            isinstance(first, str) and not _is_port_like(first)
        ):
            options["path"] = first
        else:
            options["port"] = first
            if len(items) > 1 and isinstance(items[1], str):
                options["host"] = items[1]
            elif len(items) > 1 and items[1] is None:
                pass
        options["_positional"] = items
    options = normalize_options(options, dict(kwargs))
    kw_callback = options.pop("callback", None)
    kw_listener = options.pop("connect_listener", None)  # SPEC: connect(..., connect_listener=)
    if kw_callback is None:
        kw_callback = kw_listener
    if callback is None and kw_callback is not None:
        callback = kw_callback
    return options, callback
