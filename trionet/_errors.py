"""Node's errors, in Python's shapes.

Two families:

* :class:`NodeError` and its subclasses :class:`NodeTypeError` and :class:`NodeValueError`
  (Node's ``Error``, ``TypeError`` and ``RangeError`` carrying an ``ERR_*`` code), built by
  the ``err_*`` factories, one per Node code. ``str(err)`` is Node's message and ``err.code``
  Node's code.
* System errors (:func:`system_error`, :func:`from_os_error`, :func:`dns_error`,
  :func:`aggregate_error`): instances of the built-in :class:`OSError` subclass that matches
  the errno (``ConnectionRefusedError`` for ECONNREFUSED, ...), so ``except`` clauses written
  for Python keep working, with Node's ``code``, ``syscall``, ``address``, ``port`` and
  ``hostname`` attributes and Node's message as ``str(err)``.

Messages follow Node v20 word for word, with one systematic adaptation in the part that
describes a received value (Node's ``Received ...``):

* the type words stay Node's (``type number``, ``type string``, ``type boolean``), so the
  common messages are identical to Node's (``Received type string ('abc')``, ``Received type
  number (65536)``); Python's ``int`` and ``float`` (and other real numbers) are ``number``;
* the value itself is shown with Python's ``repr`` (``True``, ``nan``, ``inf``, ``1.5``),
  shortened as Node shortens it (a text longer than 28 characters is cut to 25 and
  ``...``, then quoted);
* ``None`` (Node's ``undefined`` and ``null``) is ``Received None``;
* any other object is ``an instance of <its class's name>`` (``an instance of list``, where
  Node says ``an instance of Array``), a function ``function <name>`` and a class
  ``class <name>``;
* where Node shows ``util.inspect(value)`` in full (``ERR_INVALID_ARG_VALUE``,
  ``ERR_OUT_OF_RANGE``, ``ERR_UNHANDLED_ERROR``), Python's ``repr`` takes its place.

This module is pure: no I/O, no event loop.
"""

from __future__ import annotations

import errno as _errno_module
import numbers
import os
import socket
import types
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, Final, cast

__all__ = [
    "NodeError",
    "NodeSystemError",
    "NodeTypeError",
    "NodeValueError",
    "aggregate_error",
    "describe_value",
    "dns_error",
    "err_invalid_address_family",
    "err_invalid_arg_type",
    "err_invalid_arg_value",
    "err_invalid_fd_type",
    "err_invalid_handle_type",
    "err_invalid_ip_address",
    "err_missing_args",
    "err_multiple_callback",
    "err_out_of_range",
    "err_server_already_listen",
    "err_server_not_running",
    "err_socket_bad_port",
    "err_socket_closed",
    "err_socket_closed_before_connection",
    "err_socket_connection_timeout",
    "err_socket_ended_by_other_party",
    "err_stream_already_finished",
    "err_stream_destroyed",
    "err_stream_null_values",
    "err_stream_premature_close",
    "err_stream_push_after_eof",
    "err_stream_write_after_end",
    "err_unhandled_error",
    "err_unknown_encoding",
    "from_os_error",
    "system_error",
]


# ---------------------------------------------------------------------------
# Node's "Error with a code"
# ---------------------------------------------------------------------------


class NodeError(Exception):
    """An error Node raises with an ``ERR_*`` code: ``str(err)`` is the message.

    Node's plain ``Error`` codes are instances of this class itself; its ``TypeError`` and
    ``RangeError`` codes are :class:`NodeTypeError` and :class:`NodeValueError`.
    """

    code: str

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code

    @property
    def message(self) -> str:
        """Node's ``err.message`` (the same as ``str(err)``), for code ported from Node."""
        return str(self.args[0]) if self.args else ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # The constructor takes (code, message) while args holds only the message.
        return (type(self), (self.code, self.message), self.__dict__)


class NodeTypeError(NodeError, TypeError):
    """Node's ``TypeError`` with a code (wrong type of argument, unknown encoding, ...)."""


class NodeValueError(NodeError, ValueError):
    """Node's ``RangeError`` with a code (a bad port, a value out of range, ...)."""


# ---------------------------------------------------------------------------
# Describing received values (Node's "Received ..." part)
# ---------------------------------------------------------------------------

#: Longest text (or shown form of another scalar) before Node cuts it in ``type x (...)``.
_SCALAR_LIMIT: Final = 28
#: Length a too-long scalar form is cut to, before ``...`` is added.
_SCALAR_CUT: Final = 25
#: Longest shown form of a value in ``ERR_INVALID_ARG_VALUE`` before it is cut.
_INSPECT_LIMIT: Final = 128

_ROUTINE_TYPES: Final = (
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.MethodWrapperType,
    types.WrapperDescriptorType,
    types.MethodDescriptorType,
)


def _safe_repr(value: object) -> str:
    """``repr(value)``, or a plain one if that fails: describing a bad argument must not raise."""
    try:
        return repr(value)
    except Exception:
        return object.__repr__(value)


def _js_type_word(value: object) -> str | None:
    """Node's ``typeof`` word for a Python scalar, or None for anything else."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, numbers.Real):
        return "number"
    if isinstance(value, str):
        return "string"
    return None


def describe_value(value: object) -> str:
    """The ``Received ...`` description of a value in Node's type-error messages.

    Python's counterpart of Node's ``determineSpecificType``; see the module docstring
    for how Python values are shown.
    """
    if value is None:
        return "None"
    if isinstance(value, type):
        return f"class {value.__name__}"
    if isinstance(value, _ROUTINE_TYPES):
        return f"function {getattr(value, '__name__', '')}"
    word = _js_type_word(value)
    if word is None:
        return f"an instance of {type(value).__name__}"
    if isinstance(value, str):
        # Node cuts the text itself, then quotes it.
        if len(value) > _SCALAR_LIMIT:
            value = value[:_SCALAR_CUT] + "..."
        return f"type string ({_safe_repr(value)})"
    shown = _safe_repr(value)
    if len(shown) > _SCALAR_LIMIT:
        shown = shown[:_SCALAR_CUT] + "..."
    return f"type {word} ({shown})"


def _inspect(value: object) -> str:
    """A value shown in full but bounded, where Node uses ``util.inspect``."""
    shown = _safe_repr(value)
    if len(shown) > _INSPECT_LIMIT:
        shown = shown[:_INSPECT_LIMIT] + "..."
    return shown


def _inspect_number(value: object) -> str:
    """A received value in ``ERR_OUT_OF_RANGE``: big integers get ``_`` separators as in Node."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**32:
        try:
            return f"{value:_}"
        except ValueError:  # more digits than int-to-str conversion allows
            pass
    return _inspect(value)


# ---------------------------------------------------------------------------
# Factories, one per Node code
# ---------------------------------------------------------------------------

#: Expected-type words that Node writes as ``of type <word>``.
_TYPE_WORDS: Final = frozenset(
    {"string", "number", "boolean", "function", "object", "bigint", "symbol"}
)
#: Expected "types" that are plain values rather than types or classes.
_VALUE_WORDS: Final = frozenset({"None", "null", "undefined"})


def _join_alternatives(items: Sequence[str]) -> str:
    """``a``, ``a or b``, ``a, b, or c``: how Node lists alternatives."""
    if len(items) <= 2:
        return " or ".join(items)
    return f"{', '.join(items[:-1])}, or {items[-1]}"


def _expected_phrase(expected: str | Sequence[str]) -> str:
    """What an argument must be, grouped as Node groups it: types, then classes, then others.

    ``expected`` names Node type words (``"string"``, ``"number"``, ``"function"``, ...),
    class names (``"bytes"``, ``"memoryview"``, ``"Mapping"``) or anything else written
    verbatim (``"None"``, ``"a valid port"``).
    """
    names = [expected] if isinstance(expected, str) else list(expected)
    type_words: list[str] = []
    classes: list[str] = []
    others: list[str] = []
    for name in names:
        if name.lower() in _TYPE_WORDS:
            type_words.append(name.lower())
        elif name in _VALUE_WORDS or not name.replace(".", "_").isidentifier():
            others.append(name)
        else:
            classes.append(name)
    parts: list[str] = []
    if type_words:
        prefix = "of type" if len(type_words) == 1 else "one of type"
        parts.append(f"{prefix} {_join_alternatives(type_words)}")
    if classes:
        parts.append(f"an instance of {_join_alternatives(classes)}")
    if others:
        prefix = "" if len(others) == 1 else "one of "
        parts.append(prefix + _join_alternatives(others))
    return " or ".join(parts)


def err_invalid_arg_type(name: str, expected: str | Sequence[str], actual: object) -> NodeTypeError:
    """``ERR_INVALID_ARG_TYPE``: ``name`` got a value of the wrong type.

    A ``name`` with a dot is a property (``"options.port"``), one ending in ``" argument"``
    is used as written (``"first argument"``), anything else is an argument.
    """
    if name.endswith(" argument"):
        subject = name
    else:
        subject = f'"{name}" {"property" if "." in name else "argument"}'
    message = (
        f"The {subject} must be {_expected_phrase(expected)}. Received {describe_value(actual)}"
    )
    return NodeTypeError("ERR_INVALID_ARG_TYPE", message)


def err_invalid_arg_value(name: str, value: object, reason: str = "is invalid") -> NodeTypeError:
    """``ERR_INVALID_ARG_VALUE``: ``name`` has the right type but an unusable value."""
    kind = "property" if "." in name else "argument"
    return NodeTypeError(
        "ERR_INVALID_ARG_VALUE", f"The {kind} '{name}' {reason}. Received {_inspect(value)}"
    )


def err_out_of_range(name: str, range_: str, received: object) -> NodeValueError:
    """``ERR_OUT_OF_RANGE``: ``received`` is outside ``range_`` (e.g. ``">= 0 && <= 65535"``)."""
    return NodeValueError(
        "ERR_OUT_OF_RANGE",
        f'The value of "{name}" is out of range. It must be {range_}. '
        f"Received {_inspect_number(received)}",
    )


def err_socket_bad_port(name: str, port: object, allow_zero: bool = True) -> NodeValueError:
    """``ERR_SOCKET_BAD_PORT``: ``port`` is not a valid TCP port (``name`` is ``"Port"``...)."""
    operator = ">=" if allow_zero else ">"
    return NodeValueError(
        "ERR_SOCKET_BAD_PORT",
        f"{name} should be {operator} 0 and < 65536. Received {describe_value(port)}.",
    )


def err_missing_args(*names: str | Sequence[str]) -> NodeTypeError:
    """``ERR_MISSING_ARGS``: required arguments are missing.

    Each name is one argument; a sequence of names is one argument with alternative
    spellings (``err_missing_args(["options", "port", "path"])``).
    """
    if not names:
        raise ValueError("err_missing_args() needs at least one name")
    quoted = [
        " or ".join(f'"{n}"' for n in ([name] if isinstance(name, str) else name)) for name in names
    ]
    if len(quoted) == 1:
        listed = f"{quoted[0]} argument"
    elif len(quoted) == 2:
        listed = f"{quoted[0]} and {quoted[1]} arguments"
    else:
        listed = f"{', '.join(quoted[:-1])}, and {quoted[-1]} arguments"
    return NodeTypeError("ERR_MISSING_ARGS", f"The {listed} must be specified")


def err_server_already_listen() -> NodeError:
    """``ERR_SERVER_ALREADY_LISTEN``: ``listen()`` on a server that is already bound."""
    return NodeError(
        "ERR_SERVER_ALREADY_LISTEN",
        "Listen method has been called more than once without closing.",
    )


def err_server_not_running() -> NodeError:
    """``ERR_SERVER_NOT_RUNNING``: ``close()`` on a server that is not listening."""
    return NodeError("ERR_SERVER_NOT_RUNNING", "Server is not running.")


def err_socket_closed() -> NodeError:
    """``ERR_SOCKET_CLOSED``: an operation on a socket that is closed."""
    return NodeError("ERR_SOCKET_CLOSED", "Socket is closed")


def err_socket_closed_before_connection() -> NodeError:
    """``ERR_SOCKET_CLOSED_BEFORE_CONNECTION``: the socket ended while still connecting."""
    return NodeError(
        "ERR_SOCKET_CLOSED_BEFORE_CONNECTION",
        "Socket closed before the connection was established",
    )


def err_socket_connection_timeout() -> NodeError:
    """``ERR_SOCKET_CONNECTION_TIMEOUT``: every connection attempt timed out."""
    return NodeError("ERR_SOCKET_CONNECTION_TIMEOUT", "Socket connection timeout")


def err_stream_write_after_end() -> NodeError:
    """``ERR_STREAM_WRITE_AFTER_END``: ``write()`` after ``end()``."""
    return NodeError("ERR_STREAM_WRITE_AFTER_END", "write after end")


def err_stream_destroyed(method: str) -> NodeError:
    """``ERR_STREAM_DESTROYED``: ``method`` (e.g. ``"write"``) called after ``destroy()``."""
    return NodeError("ERR_STREAM_DESTROYED", f"Cannot call {method} after a stream was destroyed")


def err_stream_already_finished(method: str) -> NodeError:
    """``ERR_STREAM_ALREADY_FINISHED``: ``method`` (e.g. ``"end"``) after ``'finish'``."""
    return NodeError(
        "ERR_STREAM_ALREADY_FINISHED", f"Cannot call {method} after a stream was finished"
    )


def err_stream_push_after_eof() -> NodeError:
    """``ERR_STREAM_PUSH_AFTER_EOF``: data pushed into a readable side that has ended."""
    return NodeError("ERR_STREAM_PUSH_AFTER_EOF", "stream.push() after EOF")


def err_stream_null_values() -> NodeTypeError:
    """``ERR_STREAM_NULL_VALUES``: Node's answer to ``write(null)``."""
    return NodeTypeError("ERR_STREAM_NULL_VALUES", "May not write null values to stream")


def err_stream_premature_close() -> NodeError:
    """``ERR_STREAM_PREMATURE_CLOSE``: a stream closed before it ended or finished."""
    return NodeError("ERR_STREAM_PREMATURE_CLOSE", "Premature close")


def err_multiple_callback() -> NodeError:
    """``ERR_MULTIPLE_CALLBACK``: a write callback was called twice."""
    return NodeError("ERR_MULTIPLE_CALLBACK", "Callback called multiple times")


def err_unhandled_error(value: object) -> NodeError:
    """``ERR_UNHANDLED_ERROR``: ``'error'`` emitted, with no listener, with a non-exception.

    The emitted value is kept as ``.context``, as in Node.
    """
    err = NodeError("ERR_UNHANDLED_ERROR", f"Unhandled error. ({_inspect(value)})")
    err.context = value  # type: ignore[attr-defined]
    return err


def err_invalid_fd_type(type_: str) -> NodeTypeError:
    """``ERR_INVALID_FD_TYPE``: a file descriptor that is neither a TCP nor a Unix socket."""
    return NodeTypeError("ERR_INVALID_FD_TYPE", f"Unsupported fd type: {type_}")


def err_invalid_handle_type() -> NodeTypeError:
    """``ERR_INVALID_HANDLE_TYPE``: an operation the handle's kind does not support."""
    return NodeTypeError("ERR_INVALID_HANDLE_TYPE", "This handle type cannot be sent")


def err_invalid_ip_address(value: object) -> NodeTypeError:
    """``ERR_INVALID_IP_ADDRESS``: e.g. a ``local_address`` that is not an IP address."""
    return NodeTypeError("ERR_INVALID_IP_ADDRESS", f"Invalid IP address: {value}")


def err_invalid_address_family(family: object, host: str, port: int) -> NodeValueError:
    """``ERR_INVALID_ADDRESS_FAMILY``: a lookup answered a family other than 4 or 6."""
    err = NodeValueError(
        "ERR_INVALID_ADDRESS_FAMILY", f"Invalid address family: {family} {host}:{port}"
    )
    err.host = host  # type: ignore[attr-defined]
    err.port = port  # type: ignore[attr-defined]
    return err


def err_unknown_encoding(enc: object) -> NodeTypeError:
    """``ERR_UNKNOWN_ENCODING``: an encoding name Node does not know."""
    return NodeTypeError("ERR_UNKNOWN_ENCODING", f"Unknown encoding: {enc}")


# ---------------------------------------------------------------------------
# System errors
# ---------------------------------------------------------------------------

#: libuv's descriptions (``uv_strerror``), which Node puts in some messages
#: (``listen EADDRINUSE: address already in use ...``). They differ from the C
#: library's ``strerror`` in wording, so they are listed here.
_UV_DESCRIPTIONS: Final[dict[str, str]] = {
    "E2BIG": "argument list too long",
    "EACCES": "permission denied",
    "EADDRINUSE": "address already in use",
    "EADDRNOTAVAIL": "address not available",
    "EAFNOSUPPORT": "address family not supported",
    "EAGAIN": "resource temporarily unavailable",
    "EAI_ADDRFAMILY": "address family not supported",
    "EAI_AGAIN": "temporary failure",
    "EAI_BADFLAGS": "bad ai_flags value",
    "EAI_BADHINTS": "invalid value for hints",
    "EAI_CANCELED": "request canceled",
    "EAI_FAIL": "permanent failure",
    "EAI_FAMILY": "ai_family not supported",
    "EAI_MEMORY": "out of memory",
    "EAI_NODATA": "no address",
    "EAI_NONAME": "unknown node or service",
    "EAI_OVERFLOW": "argument buffer overflow",
    "EAI_PROTOCOL": "resolved protocol is unknown",
    "EAI_SERVICE": "service not available for socket type",
    "EAI_SOCKTYPE": "socket type not supported",
    "EALREADY": "connection already in progress",
    "EBADF": "bad file descriptor",
    "EBUSY": "resource busy or locked",
    "ECANCELED": "operation canceled",
    "ECONNABORTED": "software caused connection abort",
    "ECONNREFUSED": "connection refused",
    "ECONNRESET": "connection reset by peer",
    "EDESTADDRREQ": "destination address required",
    "EEXIST": "file already exists",
    "EFAULT": "bad address in system call argument",
    "EFBIG": "file too large",
    "EHOSTDOWN": "host is down",
    "EHOSTUNREACH": "host is unreachable",
    "EILSEQ": "illegal byte sequence",
    "EINTR": "interrupted system call",
    "EINVAL": "invalid argument",
    "EIO": "i/o error",
    "EISCONN": "socket is already connected",
    "EISDIR": "illegal operation on a directory",
    "ELOOP": "too many symbolic links encountered",
    "EMFILE": "too many open files",
    "EMLINK": "too many links",
    "EMSGSIZE": "message too long",
    "ENAMETOOLONG": "name too long",
    "ENETDOWN": "network is down",
    "ENETUNREACH": "network is unreachable",
    "ENFILE": "file table overflow",
    "ENOBUFS": "no buffer space available",
    "ENODATA": "no data available",
    "ENODEV": "no such device",
    "ENOENT": "no such file or directory",
    "ENOMEM": "not enough memory",
    "ENONET": "machine is not on the network",
    "ENOPROTOOPT": "protocol not available",
    "ENOSPC": "no space left on device",
    "ENOSYS": "function not implemented",
    "ENOTCONN": "socket is not connected",
    "ENOTDIR": "not a directory",
    "ENOTEMPTY": "directory not empty",
    "ENOTSOCK": "socket operation on non-socket",
    "ENOTSUP": "operation not supported on socket",
    "ENOTTY": "inappropriate ioctl for device",
    "ENXIO": "no such device or address",
    "EOVERFLOW": "value too large for defined data type",
    "EPERM": "operation not permitted",
    "EPIPE": "broken pipe",
    "EPROTO": "protocol error",
    "EPROTONOSUPPORT": "protocol not supported",
    "EPROTOTYPE": "protocol wrong type for socket",
    "ERANGE": "result too large",
    "EREMOTEIO": "remote I/O error",
    "EROFS": "read-only file system",
    "ESHUTDOWN": "cannot send after transport endpoint shutdown",
    "ESOCKTNOSUPPORT": "socket type not supported",
    "ESPIPE": "invalid seek",
    "ESRCH": "no such process",
    "ETIMEDOUT": "connection timed out",
    "ETXTBSY": "text file is busy",
    "EUNATCH": "protocol driver not attached",
    "EXDEV": "cross-device link not permitted",
    "UNKNOWN": "unknown error",
}

#: Syscalls whose errors Node words as ``<syscall> <CODE>: <description> <where>``
#: (its ``uvExceptionWithHostPort``); every other syscall's are ``<syscall> <CODE> <where>``.
_SYSCALLS_WITH_DESCRIPTION: Final = frozenset({"listen"})

#: The code of an errno Python does not name.
_UNKNOWN_CODE: Final = "UNKNOWN"


def _gai_names() -> dict[int, str]:
    """The ``EAI_*`` name of each ``socket.EAI_*`` value on this platform."""
    names: dict[int, str] = {}
    for name in sorted(dir(socket)):
        value = getattr(socket, name)
        if name.startswith("EAI_") and isinstance(value, int):
            names.setdefault(value, name)
    return names


_GAI_NAMES: Final = _gai_names()
#: Node's code for each ``EAI_*`` value: as Node's ``dnsException`` does, "no such name"
#: and "no data" are both ENOTFOUND; every other failure keeps its ``EAI_*`` name.
_GAI_CODES: Final = {
    value: "ENOTFOUND" if name in ("EAI_NONAME", "EAI_NODATA") else name
    for value, name in _GAI_NAMES.items()
}


class NodeSystemError(OSError):
    """Base of trionet's system errors: an :class:`OSError` that reads like Node's.

    Never instantiated directly for a known errno: :func:`system_error` picks a subclass
    that also derives from the matching built-in class (``ConnectionRefusedError``, ...).
    ``errno`` and ``strerror`` are Python's (``errno`` is positive, unlike Node's);
    ``code``, ``syscall``, ``address``, ``port``, ``hostname``, ``local_address`` and
    ``local_port`` are Node's properties, None where they do not apply; ``str(err)`` and
    ``message`` are Node's message.
    """

    #: The built-in OSError class this class specialises (``OSError`` for this base).
    _base: ClassVar[type[OSError]] = OSError

    # Defaults, for an instance made directly as OSError(errno, strerror) would be.
    code: str = _UNKNOWN_CODE
    syscall: str | None = None
    address: str | None = None
    port: int | None = None
    hostname: str | None = None
    local_address: str | None = None
    local_port: int | None = None
    #: Only on the errors from :func:`aggregate_error`: one error per failed attempt.
    errors: list[OSError]

    @property
    def message(self) -> str:
        """Node's ``err.message`` (the same as ``str(err)``)."""
        message = self.__dict__.get("_message")
        return message if isinstance(message, str) else super().__str__()

    @message.setter
    def message(self, value: str) -> None:
        self.__dict__["_message"] = value

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        extra = f", errors={self.errors!r}" if "errors" in self.__dict__ else ""
        return (
            f"{type(self).__name__}(errno={self.errno!r}, code={self.code!r}, "
            f"message={self.message!r}{extra})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # The dynamic subclasses cannot be found by name: rebuild them from their base.
        return (_rebuild_system_error, (self._base, self.args), self.__dict__)


_SYSTEM_ERROR_CLASSES: dict[type[OSError], type[NodeSystemError]] = {OSError: NodeSystemError}


def _system_error_class(base: type[OSError]) -> type[NodeSystemError]:
    """The (cached) subclass of both :class:`NodeSystemError` and ``base``."""
    cls = _SYSTEM_ERROR_CLASSES.get(base)
    if cls is None:
        namespace = {
            "__module__": __name__,
            "__qualname__": base.__name__,
            "__doc__": f"A {base.__name__} with Node's message and properties.",
            "_base": base,
        }
        cls = cast("type[NodeSystemError]", type(base.__name__, (NodeSystemError, base), namespace))
        cls = _SYSTEM_ERROR_CLASSES.setdefault(base, cls)
    return cls


def _rebuild_system_error(base: type[OSError], args: tuple[Any, ...]) -> NodeSystemError:
    """Unpickling helper: a bare instance of the class for ``base`` (state is set after)."""
    return _system_error_class(base)(*args)


def _builtin_base(errno_: int | None) -> type[OSError]:
    """The built-in OSError subclass Python itself picks for ``errno_``."""
    if errno_ is None:
        return OSError
    return type(OSError(errno_, ""))


def _builtin_ancestor(cls: type[BaseException]) -> type[OSError]:
    """The nearest built-in OSError class among ``cls`` and its bases."""
    for klass in cls.__mro__:
        if klass.__module__ == "builtins" and issubclass(klass, OSError):
            return klass
    return OSError


def _strerror(errno_: int) -> str:
    try:
        return os.strerror(errno_)
    except ValueError:  # pragma: no cover - out-of-range errno on some platforms
        return f"Unknown error {errno_}"


def _where(
    address: str | None,
    port: int | None,
    local_address: str | None = None,
    local_port: int | None = None,
) -> str:
    """The `` host:port`` / `` path`` tail of a message, as Node writes it."""
    if port and port > 0:
        tail = f" {address}:{port}"
    elif address:
        tail = f" {address}"
    else:
        tail = ""
    if local_address and local_port:
        tail += f" - Local ({local_address}:{local_port})"
    return tail


def _build(
    base: type[OSError],
    errno_: int | None,
    strerror: str,
    code: str,
    message: str,
    *,
    syscall: str | None,
    address: str | None = None,
    port: int | None = None,
    hostname: str | None = None,
    local_address: str | None = None,
    local_port: int | None = None,
) -> NodeSystemError:
    err = _system_error_class(base)(errno_, strerror)
    err.code = code
    err.syscall = syscall
    err.address = address
    # Node sets `port` only when it is truthy: 0 is absent, an IPC listen's -1 is kept.
    err.port = port if port else None
    err.hostname = hostname
    has_local = bool(local_address and local_port)
    err.local_address = local_address if has_local else None
    err.local_port = local_port if has_local else None
    err.message = message
    return err


def _errno_and_code(errno_: int | str) -> tuple[int, str]:
    if isinstance(errno_, str):
        value = getattr(_errno_module, errno_, None)
        if not isinstance(value, int):
            raise ValueError(f"unknown errno name: {errno_!r}")
        return value, errno_
    # Node's errno values are negative; accept them too.
    number = abs(errno_)
    return number, _errno_module.errorcode.get(number, _UNKNOWN_CODE)


def system_error(
    errno_: int | str,
    syscall: str,
    *,
    address: str | None = None,
    port: int | None = None,
    hostname: str | None = None,
    path: str | None = None,
    local_address: str | None = None,
    local_port: int | None = None,
) -> NodeSystemError:
    """The error of a failed system call, as Node reports it.

    ``errno_`` is an errno number (Python's positive one; Node's negative one is
    accepted too) or its name (``"ECONNREFUSED"``). ``path`` is the address of an IPC
    (Unix socket) endpoint. ``local_address`` and ``local_port`` are the local end of a
    failed connect: Node adds ``- Local (addr:port)`` to the message.
    A ``hostname`` with no address is shown where the address would be. For example
    ``system_error(errno.ECONNREFUSED, "connect", address="127.0.0.1", port=1234)`` is a
    ``ConnectionRefusedError`` whose ``str()`` is ``connect ECONNREFUSED 127.0.0.1:1234``.
    """
    number, code = _errno_and_code(errno_)
    if path is not None and address is None:
        address = path
    where = _where(address, port, local_address, local_port)
    if where == "" and address is None and hostname:
        where = f" {hostname}"
    if syscall in _SYSCALLS_WITH_DESCRIPTION:
        description = _UV_DESCRIPTIONS.get(code) or _strerror(number).lower()
        message = f"{syscall} {code}: {description}{where}"
    else:
        message = f"{syscall} {code}{where}"
    return _build(
        _builtin_base(number),
        number,
        _strerror(number),
        code,
        message,
        syscall=syscall,
        address=address,
        port=port,
        hostname=hostname,
        local_address=local_address,
        local_port=local_port,
    )


def dns_error(
    gaierror_code: int | None,
    hostname: str | None,
    syscall: str = "getaddrinfo",
    *,
    strerror: str | None = None,
) -> NodeSystemError:
    """A failed name lookup, as Node reports it: ``getaddrinfo ENOTFOUND nosuch.invalid``.

    ``gaierror_code`` is a ``socket.EAI_*`` value (``socket.gaierror.errno``), kept as the
    error's ``errno``; the error is a :class:`socket.gaierror`. ``EAI_NONAME`` and
    ``EAI_NODATA`` become Node's ``ENOTFOUND``; other codes keep their ``EAI_*`` name, and
    an unknown code (or None) is ``UNKNOWN``.
    """
    code = _UNKNOWN_CODE if gaierror_code is None else _GAI_CODES.get(gaierror_code, _UNKNOWN_CODE)
    if strerror is None:
        eai_name = _UNKNOWN_CODE if gaierror_code is None else _GAI_NAMES.get(gaierror_code, "")
        strerror = _UV_DESCRIPTIONS.get(eai_name, _UV_DESCRIPTIONS[_UNKNOWN_CODE])
    message = f"{syscall} {code}{f' {hostname}' if hostname else ''}"
    return _build(
        socket.gaierror,
        gaierror_code,
        strerror,
        code,
        message,
        syscall=syscall,
        hostname=hostname or None,
    )


def from_os_error(
    exc: OSError,
    syscall: str,
    *,
    address: str | None = None,
    port: int | None = None,
    hostname: str | None = None,
    path: str | None = None,
    local_address: str | None = None,
    local_port: int | None = None,
) -> NodeSystemError:
    """Node's error for an :class:`OSError` caught from a ``syscall``.

    The original is kept as ``__cause__``. A :class:`socket.gaierror` becomes a
    :func:`dns_error` (``hostname`` defaults to ``address``); an error that is already one
    of ours is returned unchanged; an error without an errno gets the code ``UNKNOWN``
    (``ETIMEDOUT`` for a :class:`TimeoutError`).
    """
    if isinstance(exc, NodeSystemError):
        return exc
    result: NodeSystemError
    if isinstance(exc, socket.gaierror):
        result = dns_error(
            exc.errno,
            hostname if hostname is not None else address,
            syscall,
            strerror=exc.strerror,
        )
    elif isinstance(exc.errno, int):
        result = system_error(
            exc.errno,
            syscall,
            address=address,
            port=port,
            hostname=hostname,
            path=path,
            local_address=local_address,
            local_port=local_port,
        )
    elif isinstance(exc, TimeoutError):
        result = system_error(
            _errno_module.ETIMEDOUT,
            syscall,
            address=address,
            port=port,
            hostname=hostname,
            path=path,
            local_address=local_address,
            local_port=local_port,
        )
    else:
        if path is not None and address is None:
            address = path
        where = _where(address, port, local_address, local_port)
        result = _build(
            _builtin_ancestor(type(exc)),
            None,
            exc.strerror or str(exc),
            _UNKNOWN_CODE,
            f"{syscall} {_UNKNOWN_CODE}{where}",
            syscall=syscall,
            address=address,
            port=port,
            hostname=hostname,
            local_address=local_address,
            local_port=local_port,
        )
    result.__cause__ = exc
    return result


def aggregate_error(errors: Iterable[OSError]) -> NodeSystemError:
    """Node's ``AggregateError`` for a connect whose every attempt failed.

    An error of the first attempt's class and errno, with ``.errors`` listing every
    attempt's error and ``.code`` the first one's. As in Node its message is empty; each
    attempt's message is attached as a note, so tracebacks still show them.
    """
    attempts = list(errors)
    if not attempts:
        raise ValueError("aggregate_error() needs at least one error")
    first = attempts[0]
    base = first._base if isinstance(first, NodeSystemError) else _builtin_ancestor(type(first))
    code = getattr(first, "code", None)
    if not isinstance(code, str):
        code = _errno_module.errorcode.get(first.errno or 0, _UNKNOWN_CODE)
    err = _build(
        base,
        first.errno,
        first.strerror or "",
        code,
        "",
        syscall=getattr(first, "syscall", None),
    )
    err.errors = attempts
    add_note = getattr(err, "add_note", None)
    for attempt in attempts:
        note = str(attempt)
        if add_note is not None:
            add_note(note)
        else:  # pragma: no cover - Python 3.10 has no add_note
            err.__dict__.setdefault("__notes__", []).append(note)
    return err


def err_socket_ended_by_other_party() -> NodeSystemError:
    """Node's ``EPIPE`` for a write after the peer's FIN when half-open is off.

    Node raises a plain ``Error`` with ``code 'EPIPE'``; here it is, as every system
    error, the matching :class:`BrokenPipeError`, without a ``syscall``.
    """
    return _build(
        BrokenPipeError,
        _errno_module.EPIPE,
        _strerror(_errno_module.EPIPE),
        "EPIPE",
        "This socket has been ended by the other party",
        syscall=None,
    )
