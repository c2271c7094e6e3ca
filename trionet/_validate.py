"""Node's argument validators, raising Node's errors from :mod:`trionet._errors`.

Each validator returns the value in the form the rest of trionet uses (a port as an
``int``, a timeout as a ``float``, data as bytes) or raises the error Node raises for the
same mistake. Python's ``bool`` is never a number here, as ``true`` is not one in Node.
This module is pure: no I/O, no event loop.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from ._encoding import encode
from ._errors import (
    err_invalid_arg_type,
    err_invalid_arg_value,
    err_out_of_range,
    err_socket_bad_port,
)

__all__ = [
    "camel_to_snake",
    "normalize_options",
    "to_number",
    "validate_bool",
    "validate_data",
    "validate_function",
    "validate_host",
    "validate_int",
    "validate_port",
    "validate_timeout",
]

#: What JavaScript's ``Number(string)`` and ``String.prototype.trim`` strip: its
#: WhiteSpace (tab, vertical tab, form feed, BOM, every Unicode space separator) and
#: LineTerminator characters. Narrower than Python's ``str.strip()``.
_JS_WHITESPACE: Final = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)

#: A JavaScript decimal numeric string (after trimming): ASCII digits only, no
#: underscores, an optional sign, fraction and exponent, or ``Infinity``.
_JS_DECIMAL: Final = re.compile(
    r"[+-]?(?:Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)", re.ASCII
)
#: A JavaScript non-decimal integer string: ``0x``/``0o``/``0b`` and digits, no sign.
_JS_PREFIXED: Final = re.compile(r"0(?:([xX])[0-9a-fA-F]+|([oO])[0-7]+|([bB])[01]+)", re.ASCII)

_CAMEL_HUMP: Final = re.compile(r"(?<=[a-z0-9])([A-Z])")
_CAMEL_KEY: Final = re.compile(r"[a-z][a-zA-Z0-9]*[A-Z][a-zA-Z0-9]*", re.ASCII)


def _is_number(value: object) -> bool:
    """A JavaScript ``number`` in Python: any real number except a ``bool``."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def to_number(text: str) -> float:
    """JavaScript's ``Number(text)``: the string's numeric value, or NaN if it has none.

    Surrounding JavaScript whitespace is ignored, the empty string is 0, and
    ``0x1f``/``0o17``/``0b11``, ``1e2``, ``.5``, ``5.`` and ``Infinity`` are numbers, while
    Python-only spellings (``1_000``, ``nan``, ``inf``, non-ASCII digits) are not. Node
    decides with it whether a string is a port or a path, and whether a port is valid.
    """
    stripped = text.strip(_JS_WHITESPACE)
    if not stripped:
        return 0.0
    if _JS_DECIMAL.fullmatch(stripped):
        return float(stripped)
    prefixed = _JS_PREFIXED.fullmatch(stripped)
    if prefixed:
        base = 16 if prefixed.group(1) else 8 if prefixed.group(2) else 2
        try:
            return float(int(stripped[2:], base))
        except OverflowError:  # beyond a double: JavaScript says Infinity
            return math.inf
    return math.nan


def validate_port(value: object, name: str = "Port", allow_zero: bool = True) -> int:
    """A TCP port as Node's ``validatePort`` accepts it, returned as an ``int``.

    Valid: a number with no fraction from 0 to 65535, or a string that is one once
    trimmed (``'80'``, ``' 80 '``, ``'0x50'``, ``'1e2'``, ``'80.0'``). Anything else,
    ``bool``, ``None`` and the empty string included, raises ``ERR_SOCKET_BAD_PORT``.
    With ``allow_zero=False`` zero is refused too (also as ``'0'``, which Node lets
    through by an oversight).
    """
    number: float
    if isinstance(value, str):
        number = to_number(value) if value.strip(_JS_WHITESPACE) else math.nan
    elif _is_number(value):
        assert isinstance(value, numbers.Real)
        number = int(value) if isinstance(value, numbers.Integral) else float(value)
    else:
        raise err_socket_bad_port(name, value, allow_zero)
    if isinstance(number, float) and not number.is_integer():
        raise err_socket_bad_port(name, value, allow_zero)
    port = int(number)
    if not 0 <= port <= 0xFFFF or (port == 0 and not allow_zero):
        raise err_socket_bad_port(name, value, allow_zero)
    return port


def validate_function(value: object, name: str) -> Callable[..., Any]:
    """``value`` if it is callable, else ``ERR_INVALID_ARG_TYPE`` (Node's ``validateFunction``)."""
    if not callable(value):
        raise err_invalid_arg_type(name, "function", value)
    return value


def validate_timeout(seconds: object, name: str = "msecs") -> float:
    """An idle timeout in seconds, as a ``float`` (0 turns the timeout off).

    A non-number (``bool`` and ``None`` included) is ``ERR_INVALID_ARG_TYPE``; a negative,
    NaN or infinite one is ``ERR_OUT_OF_RANGE``, as for Node's ``setTimeout(msecs)``.
    Unlike Node, large values are kept rather than capped at 2**31-1 milliseconds.
    """
    if not _is_number(seconds):
        raise err_invalid_arg_type(name, "number", seconds)
    assert isinstance(seconds, numbers.Real)
    value = float(seconds)
    if not math.isfinite(value) or value < 0:
        raise err_out_of_range(name, "a non-negative finite number", seconds)
    return value


def validate_host(value: object, name: str = "host") -> str:
    """``value`` if it is a ``str``, else ``ERR_INVALID_ARG_TYPE``."""
    if not isinstance(value, str):
        raise err_invalid_arg_type(name, "string", value)
    return value


def validate_int(value: object, name: str, min_: int | None = None, max_: int | None = None) -> int:
    """An integer within ``[min_, max_]`` (None: unbounded), as Node's ``validateInteger``.

    A non-number is ``ERR_INVALID_ARG_TYPE``; a number with a fraction, or outside the
    bounds, is ``ERR_OUT_OF_RANGE``. A float with no fraction (``3.0``) is accepted, as
    JavaScript has no separate integer type.
    """
    if not _is_number(value):
        raise err_invalid_arg_type(name, "number", value)
    assert isinstance(value, numbers.Real)
    if isinstance(value, numbers.Integral):
        number = int(value)
    else:
        as_float = float(value)
        if not as_float.is_integer():
            raise err_out_of_range(name, "an integer", value)
        number = int(as_float)
    if (min_ is not None and number < min_) or (max_ is not None and number > max_):
        bounds = []
        if min_ is not None:
            bounds.append(f">= {min_}")
        if max_ is not None:
            bounds.append(f"<= {max_}")
        raise err_out_of_range(name, " && ".join(bounds), value)
    return number


def validate_bool(value: object, name: str) -> bool:
    """``value`` if it is a ``bool``, else ``ERR_INVALID_ARG_TYPE`` (no truthiness)."""
    if not isinstance(value, bool):
        raise err_invalid_arg_type(name, "boolean", value)
    return value


#: What ``write()``/``end()`` accept, for the ``ERR_INVALID_ARG_TYPE`` message.
_CHUNK_TYPES: Final = ("string", "bytes", "bytearray", "memoryview")


def validate_data(data: object, encoding: str | None = None) -> bytes | memoryview:
    """The bytes to send for a ``write(data, encoding)``/``end(data, encoding)`` chunk.

    ``bytes`` is used as it is; a ``bytearray`` is copied, so that changing or resizing it
    after the call affects neither the queued data nor the caller; a ``memoryview`` is
    used without a copy, as a flat read-only byte view (the caller keeps it unchanged
    until written, as with a ``Buffer`` in Node); a ``str`` is encoded with ``encoding``
    (default UTF-8; an unknown one is ``ERR_UNKNOWN_ENCODING``). Anything else, ``None``
    included, is ``ERR_INVALID_ARG_TYPE``.
    """
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return encode(data, encoding if encoding is not None else "utf8")
    if isinstance(data, bytearray):
        return bytes(data)
    if isinstance(data, memoryview):
        if not data.c_contiguous:
            return data.tobytes()
        view = data.toreadonly()
        if view.format != "B" or view.ndim != 1:
            view = view.cast("B")
        return view
    raise err_invalid_arg_type("chunk", _CHUNK_TYPES, data)


def camel_to_snake(key: str) -> str:
    """``allowHalfOpen`` -> ``allow_half_open``; a key that is not camelCase is unchanged.

    Only keys that look like Node option names (a lowercase letter first, ASCII letters
    and digits, at least one capital) are converted; ``ipv6Only`` becomes ``ipv6_only``.
    """
    if not _CAMEL_KEY.fullmatch(key):
        return key
    return _CAMEL_HUMP.sub(r"_\1", key).lower()


def _add_options(result: dict[Any, Any], source: Mapping[Any, Any], origin: dict[Any, Any]) -> None:
    """Copy ``source`` into ``result`` under snake_case keys, refusing two spellings of one."""
    for key, value in source.items():
        name = camel_to_snake(key) if isinstance(key, str) else key
        if name in origin and origin[name] != key:
            raise err_invalid_arg_value(
                "options", dict(source), f"has both {origin[name]!r} and {key!r}"
            )
        origin[name] = key
        result[name] = value


def normalize_options(
    options: Mapping[Any, Any] | None, kwargs: Mapping[str, Any] | None = None
) -> dict[Any, Any]:
    """One options dict from Node's options object and Python keyword arguments.

    ``options`` (a mapping or None) may use Node's camelCase keys (``allowHalfOpen``) or
    snake_case ones (``allow_half_open``); both end up snake_case. Unknown keys are kept,
    so that callers decide what to do with them. ``kwargs`` win over ``options``. Both
    spellings of one option in the same mapping are ``ERR_INVALID_ARG_VALUE``; a
    non-mapping ``options`` is ``ERR_INVALID_ARG_TYPE``. The inputs are not modified.
    """
    if options is not None and not isinstance(options, Mapping):
        raise err_invalid_arg_type("options", "object", options)
    result: dict[Any, Any] = {}
    if options:
        _add_options(result, options, {})
    if kwargs:
        from_kwargs: dict[Any, Any] = {}
        _add_options(from_kwargs, kwargs, {})
        result.update(from_kwargs)
    return result
