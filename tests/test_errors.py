"""Node's error codes, messages and system-error shapes (trionet._errors)."""

from __future__ import annotations

import copy
import errno
import json
import pickle
import shutil
import socket
import subprocess
from collections.abc import Callable
from typing import Any

import pytest

from trionet import _errors
from trionet._errors import (
    NodeError,
    NodeSystemError,
    NodeTypeError,
    NodeValueError,
    aggregate_error,
    describe_value,
    dns_error,
    from_os_error,
    system_error,
)

NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed")


def _run_node(script: str) -> Any:
    """Run a Node script that prints one JSON document, and return it."""
    assert NODE is not None
    out = subprocess.run(
        [NODE, "-e", script], capture_output=True, text=True, check=True, timeout=60
    )
    return json.loads(out.stdout)


# ---------------------------------------------------------------------------
# NodeError and its subclasses
# ---------------------------------------------------------------------------


def test_node_error_shape() -> None:
    err = NodeValueError("ERR_SOCKET_BAD_PORT", "Port should be fine.")
    assert isinstance(err, NodeError)
    assert isinstance(err, ValueError)
    assert err.code == "ERR_SOCKET_BAD_PORT"
    assert str(err) == "Port should be fine."
    assert err.message == "Port should be fine."
    assert repr(err) == "NodeValueError('ERR_SOCKET_BAD_PORT', 'Port should be fine.')"
    assert isinstance(NodeTypeError("ERR_X", "m"), TypeError)
    assert not isinstance(NodeError("ERR_X", "m"), (TypeError, ValueError))


@pytest.mark.parametrize(
    "err",
    [
        NodeError("ERR_SOCKET_CLOSED", "Socket is closed"),
        _errors.err_socket_bad_port("Port", "abc"),
        _errors.err_invalid_arg_type("x", "string", 1),
        _errors.err_unhandled_error({"a": 1}),
        _errors.err_invalid_address_family(100, "localhost", 0),
    ],
    ids=repr,
)
def test_node_error_survives_pickle_and_copy(err: NodeError) -> None:
    for clone in (pickle.loads(pickle.dumps(err)), copy.copy(err), copy.deepcopy(err)):
        assert type(clone) is type(err)
        assert clone.code == err.code
        assert str(clone) == str(err)
        assert clone.__dict__ == err.__dict__


# ---------------------------------------------------------------------------
# The "Received ..." part
# ---------------------------------------------------------------------------


def _named_function() -> None:
    """A function with a name, for describe_value."""


class _Thing:
    pass


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "None"),
        (65536, "type number (65536)"),
        (-1, "type number (-1)"),
        (123.456, "type number (123.456)"),
        (float("nan"), "type number (nan)"),
        (float("-inf"), "type number (-inf)"),
        (True, "type boolean (True)"),
        ("abc", "type string ('abc')"),
        ("", "type string ('')"),
        ("it's", 'type string ("it\'s")'),
        # Node cuts texts longer than 28 characters to 25 and "...", then quotes them.
        ("abcdefghijklmnopqrstuvwxyz", "type string ('abcdefghijklmnopqrstuvwxyz')"),
        ("abcdefghijklmnopqrstuvwxyz01", "type string ('abcdefghijklmnopqrstuvwxyz01')"),
        ("abcdefghijklmnopqrstuvwxyz012", "type string ('abcdefghijklmnopqrstuvwxy...')"),
        ("it's a long text with a quote", 'type string ("it\'s a long text with a q...")'),
        (2**100, "type number (1267650600228229401496703...)"),
        ([], "an instance of list"),
        ({}, "an instance of dict"),
        (b"x", "an instance of bytes"),
        (_Thing(), "an instance of _Thing"),
        (_named_function, "function _named_function"),
        (len, "function len"),
        ([].append, "function append"),
        (_Thing, "class _Thing"),
    ],
)
def test_describe_value(value: object, expected: str) -> None:
    assert describe_value(value) == expected


# ---------------------------------------------------------------------------
# Factories: class, code and exact message (checked against Node v20)
# ---------------------------------------------------------------------------

FACTORY_CASES: list[tuple[Callable[[], NodeError], type[NodeError], str, str]] = [
    (
        lambda: _errors.err_socket_bad_port("Port", "abc"),
        NodeValueError,
        "ERR_SOCKET_BAD_PORT",
        "Port should be >= 0 and < 65536. Received type string ('abc').",
    ),
    (
        lambda: _errors.err_socket_bad_port("options.port", 65536),
        NodeValueError,
        "ERR_SOCKET_BAD_PORT",
        "options.port should be >= 0 and < 65536. Received type number (65536).",
    ),
    (
        lambda: _errors.err_socket_bad_port("Port", 0, allow_zero=False),
        NodeValueError,
        "ERR_SOCKET_BAD_PORT",
        "Port should be > 0 and < 65536. Received type number (0).",
    ),
    (
        lambda: _errors.err_invalid_arg_type("options.port", ["number", "string"], True),
        NodeTypeError,
        "ERR_INVALID_ARG_TYPE",
        'The "options.port" property must be one of type number or string. '
        "Received type boolean (True)",
    ),
    (
        lambda: _errors.err_invalid_arg_type("msecs", "number", None),
        NodeTypeError,
        "ERR_INVALID_ARG_TYPE",
        'The "msecs" argument must be of type number. Received None',
    ),
    (
        lambda: _errors.err_invalid_arg_type("first argument", "string", 1),
        NodeTypeError,
        "ERR_INVALID_ARG_TYPE",
        "The first argument must be of type string. Received type number (1)",
    ),
    (
        lambda: _errors.err_invalid_arg_type("x", ["string", "number", "boolean"], 1),
        NodeTypeError,
        "ERR_INVALID_ARG_TYPE",
        'The "x" argument must be one of type string, number, or boolean. Received type number (1)',
    ),
    (
        lambda: _errors.err_invalid_arg_type(
            "chunk", ["string", "Buffer", "TypedArray", "DataView"], []
        ),
        NodeTypeError,
        "ERR_INVALID_ARG_TYPE",
        'The "chunk" argument must be of type string or an instance of Buffer, TypedArray, '
        "or DataView. Received an instance of list",
    ),
    (
        lambda: _errors.err_invalid_arg_type("x", ["Buffer", "Uint8Array"], 1),
        NodeTypeError,
        "ERR_INVALID_ARG_TYPE",
        'The "x" argument must be an instance of Buffer or Uint8Array. Received type number (1)',
    ),
    (
        lambda: _errors.err_invalid_arg_type("x", ["string", "null", "undefined"], 1),
        NodeTypeError,
        "ERR_INVALID_ARG_TYPE",
        'The "x" argument must be of type string or one of null or undefined. '
        "Received type number (1)",
    ),
    (
        lambda: _errors.err_invalid_arg_type("x", ["string", "None"], 1),
        NodeTypeError,
        "ERR_INVALID_ARG_TYPE",
        'The "x" argument must be of type string or None. Received type number (1)',
    ),
    (
        lambda: _errors.err_invalid_arg_value("options", {}, 'must have the property "port"'),
        NodeTypeError,
        "ERR_INVALID_ARG_VALUE",
        "The argument 'options' must have the property \"port\". Received {}",
    ),
    (
        lambda: _errors.err_invalid_arg_value("options.objectMode", True, "is not supported"),
        NodeTypeError,
        "ERR_INVALID_ARG_VALUE",
        "The property 'options.objectMode' is not supported. Received True",
    ),
    (
        lambda: _errors.err_invalid_arg_value("hints", 999999),
        NodeTypeError,
        "ERR_INVALID_ARG_VALUE",
        "The argument 'hints' is invalid. Received 999999",
    ),
    (
        lambda: _errors.err_invalid_arg_value("x", "y" * 200),
        NodeTypeError,
        "ERR_INVALID_ARG_VALUE",
        "The argument 'x' is invalid. Received '" + "y" * 127 + "...",
    ),
    (
        lambda: _errors.err_out_of_range("msecs", "a non-negative finite number", -1),
        NodeValueError,
        "ERR_OUT_OF_RANGE",
        'The value of "msecs" is out of range. It must be a non-negative finite number. '
        "Received -1",
    ),
    (
        lambda: _errors.err_out_of_range("fd", ">= 0 && <= 2147483647", 2**40),
        NodeValueError,
        "ERR_OUT_OF_RANGE",
        'The value of "fd" is out of range. It must be >= 0 && <= 2147483647. '
        "Received 1_099_511_627_776",
    ),
    (
        lambda: _errors.err_out_of_range("x", "a thing", 2**32),
        NodeValueError,
        "ERR_OUT_OF_RANGE",
        'The value of "x" is out of range. It must be a thing. Received 4294967296',
    ),
    (
        lambda: _errors.err_out_of_range("x", "a thing", -(2**33)),
        NodeValueError,
        "ERR_OUT_OF_RANGE",
        'The value of "x" is out of range. It must be a thing. Received -8_589_934_592',
    ),
    (
        lambda: _errors.err_out_of_range("fd", "an integer", 1.5),
        NodeValueError,
        "ERR_OUT_OF_RANGE",
        'The value of "fd" is out of range. It must be an integer. Received 1.5',
    ),
    (
        lambda: _errors.err_missing_args(["options", "port", "path"]),
        NodeTypeError,
        "ERR_MISSING_ARGS",
        'The "options" or "port" or "path" argument must be specified',
    ),
    (
        lambda: _errors.err_missing_args("a"),
        NodeTypeError,
        "ERR_MISSING_ARGS",
        'The "a" argument must be specified',
    ),
    (
        lambda: _errors.err_missing_args("a", "b"),
        NodeTypeError,
        "ERR_MISSING_ARGS",
        'The "a" and "b" arguments must be specified',
    ),
    (
        lambda: _errors.err_missing_args("a", "b", "c"),
        NodeTypeError,
        "ERR_MISSING_ARGS",
        'The "a", "b", and "c" arguments must be specified',
    ),
    (
        lambda: _errors.err_missing_args(["a", "b"], "c"),
        NodeTypeError,
        "ERR_MISSING_ARGS",
        'The "a" or "b" and "c" arguments must be specified',
    ),
    (
        _errors.err_server_already_listen,
        NodeError,
        "ERR_SERVER_ALREADY_LISTEN",
        "Listen method has been called more than once without closing.",
    ),
    (_errors.err_server_not_running, NodeError, "ERR_SERVER_NOT_RUNNING", "Server is not running."),
    (_errors.err_socket_closed, NodeError, "ERR_SOCKET_CLOSED", "Socket is closed"),
    (
        _errors.err_socket_closed_before_connection,
        NodeError,
        "ERR_SOCKET_CLOSED_BEFORE_CONNECTION",
        "Socket closed before the connection was established",
    ),
    (
        _errors.err_socket_connection_timeout,
        NodeError,
        "ERR_SOCKET_CONNECTION_TIMEOUT",
        "Socket connection timeout",
    ),
    (
        _errors.err_stream_write_after_end,
        NodeError,
        "ERR_STREAM_WRITE_AFTER_END",
        "write after end",
    ),
    (
        lambda: _errors.err_stream_destroyed("write"),
        NodeError,
        "ERR_STREAM_DESTROYED",
        "Cannot call write after a stream was destroyed",
    ),
    (
        lambda: _errors.err_stream_already_finished("end"),
        NodeError,
        "ERR_STREAM_ALREADY_FINISHED",
        "Cannot call end after a stream was finished",
    ),
    (
        _errors.err_stream_push_after_eof,
        NodeError,
        "ERR_STREAM_PUSH_AFTER_EOF",
        "stream.push() after EOF",
    ),
    (
        _errors.err_stream_null_values,
        NodeTypeError,
        "ERR_STREAM_NULL_VALUES",
        "May not write null values to stream",
    ),
    (
        _errors.err_stream_premature_close,
        NodeError,
        "ERR_STREAM_PREMATURE_CLOSE",
        "Premature close",
    ),
    (
        _errors.err_multiple_callback,
        NodeError,
        "ERR_MULTIPLE_CALLBACK",
        "Callback called multiple times",
    ),
    (
        lambda: _errors.err_unhandled_error("foo"),
        NodeError,
        "ERR_UNHANDLED_ERROR",
        "Unhandled error. ('foo')",
    ),
    (
        lambda: _errors.err_unhandled_error(None),
        NodeError,
        "ERR_UNHANDLED_ERROR",
        "Unhandled error. (None)",
    ),
    (
        lambda: _errors.err_invalid_fd_type("UNKNOWN"),
        NodeTypeError,
        "ERR_INVALID_FD_TYPE",
        "Unsupported fd type: UNKNOWN",
    ),
    (
        _errors.err_invalid_handle_type,
        NodeTypeError,
        "ERR_INVALID_HANDLE_TYPE",
        "This handle type cannot be sent",
    ),
    (
        lambda: _errors.err_invalid_ip_address("foobar"),
        NodeTypeError,
        "ERR_INVALID_IP_ADDRESS",
        "Invalid IP address: foobar",
    ),
    (
        lambda: _errors.err_invalid_address_family(100, "localhost", 0),
        NodeValueError,
        "ERR_INVALID_ADDRESS_FAMILY",
        "Invalid address family: 100 localhost:0",
    ),
    (
        lambda: _errors.err_unknown_encoding("nope"),
        NodeTypeError,
        "ERR_UNKNOWN_ENCODING",
        "Unknown encoding: nope",
    ),
]


@pytest.mark.parametrize(("factory", "cls", "code", "message"), FACTORY_CASES)
def test_factory(
    factory: Callable[[], NodeError], cls: type[NodeError], code: str, message: str
) -> None:
    err = factory()
    assert type(err) is cls
    assert err.code == code
    assert str(err) == message
    assert code in repr(err)


class _BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def test_describing_a_value_never_raises() -> None:
    assert describe_value(_BadRepr()) == "an instance of _BadRepr"
    err = _errors.err_invalid_arg_value("options", _BadRepr())
    assert str(err).startswith("The argument 'options' is invalid. Received <")
    assert "_BadRepr object at 0x" in str(err)
    huge = 10**5000
    assert describe_value(huge).startswith("type number (<int object at 0x")
    assert "Received <int object at 0x" in str(_errors.err_out_of_range("x", "small", huge))


def test_err_unhandled_error_keeps_context() -> None:
    value = {"a": 1}
    err = _errors.err_unhandled_error(value)
    assert err.context is value  # type: ignore[attr-defined]


def test_err_invalid_address_family_has_host_and_port() -> None:
    err = _errors.err_invalid_address_family(100, "localhost", 0)
    assert (err.host, err.port) == ("localhost", 0)  # type: ignore[attr-defined]


def test_err_missing_args_needs_a_name() -> None:
    with pytest.raises(ValueError):
        _errors.err_missing_args()


@needs_node
def test_messages_match_node() -> None:
    """The messages Node's public API produces for the same mistakes, where reprs agree."""
    script = r"""
    const net = require('net'); const events = require('events');
    const out = {};
    const grab = (key, fn) => { try { fn(); out[key] = null; }
                                catch (e) { out[key] = [e.code, e.message]; } };
    grab('port_abc', () => net.connect({port: 'abc'}));
    grab('port_big', () => net.createServer().listen({port: 65536}));
    grab('port_bool', () => net.connect({port: true}));
    grab('msecs_str', () => new net.Socket().setTimeout('1'));
    grab('msecs_neg', () => new net.Socket().setTimeout(-1));
    grab('missing', () => net.connect());
    grab('unhandled', () => new events.EventEmitter().emit('error', 'foo'));
    grab('encoding', () => Buffer.from('x', 'nope'));
    grab('fd_big', () => new net.Socket({fd: 2 ** 40}));
    grab('local_ip', () => net.connect({port: 80, localAddress: 'foobar'}));
    grab('object_mode', () => net.connect({port: 80, objectMode: true}));
    grab('hints', () => net.connect({port: 80, hints: 999999}));
    console.log(JSON.stringify(out));
    process.exit(0);
    """
    node = _run_node(script)
    ours = {
        "port_abc": _errors.err_socket_bad_port("Port", "abc"),
        "port_big": _errors.err_socket_bad_port("options.port", 65536),
        "port_bool": _errors.err_invalid_arg_type("options.port", ["number", "string"], True),
        "msecs_str": _errors.err_invalid_arg_type("msecs", "number", "1"),
        "msecs_neg": _errors.err_out_of_range("msecs", "a non-negative finite number", -1),
        "missing": _errors.err_missing_args(["options", "port", "path"]),
        "unhandled": _errors.err_unhandled_error("foo"),
        "encoding": _errors.err_unknown_encoding("nope"),
        "fd_big": _errors.err_out_of_range("fd", ">= 0 && <= 2147483647", 2**40),
        "local_ip": _errors.err_invalid_ip_address("foobar"),
        "object_mode": _errors.err_invalid_arg_value(
            "options.objectMode", True, "is not supported"
        ),
        "hints": _errors.err_invalid_arg_value("hints", 999999),
    }
    # The one systematic difference: Python's repr of a bool.
    adapt = {"true": "True"}
    for key, err in ours.items():
        code, message = node[key]
        for js, py in adapt.items():
            message = message.replace(f"({js})", f"({py})").replace(
                f"Received {js}", f"Received {py}"
            )
        assert (err.code, str(err)) == (code, message), key


# ---------------------------------------------------------------------------
# System errors
# ---------------------------------------------------------------------------

SYSTEM_CASES: list[tuple[dict[str, Any], type[OSError], str, str, dict[str, Any]]] = [
    (
        {"errno_": errno.ECONNREFUSED, "syscall": "connect", "address": "127.0.0.1", "port": 1234},
        ConnectionRefusedError,
        "ECONNREFUSED",
        "connect ECONNREFUSED 127.0.0.1:1234",
        {"syscall": "connect", "address": "127.0.0.1", "port": 1234, "hostname": None},
    ),
    (
        {"errno_": errno.ECONNREFUSED, "syscall": "connect", "address": "::1", "port": 80},
        ConnectionRefusedError,
        "ECONNREFUSED",
        "connect ECONNREFUSED ::1:80",
        {"address": "::1", "port": 80},
    ),
    (
        # Port 0 is left out of the message and the properties, as in Node.
        {"errno_": errno.ECONNREFUSED, "syscall": "connect", "address": "127.0.0.1", "port": 0},
        ConnectionRefusedError,
        "ECONNREFUSED",
        "connect ECONNREFUSED 127.0.0.1",
        {"address": "127.0.0.1", "port": None},
    ),
    (
        {
            "errno_": errno.ECONNREFUSED,
            "syscall": "connect",
            "address": "127.0.0.1",
            "port": 5000,
            "local_address": "127.0.0.1",
            "local_port": 5001,
        },
        ConnectionRefusedError,
        "ECONNREFUSED",
        "connect ECONNREFUSED 127.0.0.1:5000 - Local (127.0.0.1:5001)",
        {"local_address": "127.0.0.1", "local_port": 5001},
    ),
    (
        {"errno_": errno.EADDRINUSE, "syscall": "listen", "address": "127.0.0.1", "port": 8124},
        OSError,
        "EADDRINUSE",
        "listen EADDRINUSE: address already in use 127.0.0.1:8124",
        {"syscall": "listen", "address": "127.0.0.1", "port": 8124},
    ),
    (
        {"errno_": errno.EADDRINUSE, "syscall": "listen", "path": "/tmp/x.sock", "port": -1},
        OSError,
        "EADDRINUSE",
        "listen EADDRINUSE: address already in use /tmp/x.sock",
        {"address": "/tmp/x.sock", "port": -1},
    ),
    (
        {"errno_": errno.EADDRNOTAVAIL, "syscall": "listen", "address": "1.1.1.1", "port": 1},
        OSError,
        "EADDRNOTAVAIL",
        "listen EADDRNOTAVAIL: address not available 1.1.1.1:1",
        {},
    ),
    (
        {"errno_": errno.EACCES, "syscall": "listen", "path": "/nonexistdir/x.sock", "port": -1},
        PermissionError,
        "EACCES",
        "listen EACCES: permission denied /nonexistdir/x.sock",
        {},
    ),
    (
        {"errno_": errno.EINVAL, "syscall": "listen"},
        OSError,
        "EINVAL",
        "listen EINVAL: invalid argument",
        {"address": None, "port": None},
    ),
    (
        {"errno_": errno.EADDRINUSE, "syscall": "bind", "address": "127.0.0.1", "port": 18124},
        OSError,
        "EADDRINUSE",
        "bind EADDRINUSE 127.0.0.1:18124",
        {"syscall": "bind"},
    ),
    (
        {"errno_": errno.ENOENT, "syscall": "connect", "path": "/tmp/x.sock"},
        FileNotFoundError,
        "ENOENT",
        "connect ENOENT /tmp/x.sock",
        {"address": "/tmp/x.sock", "port": None},
    ),
    (
        {"errno_": errno.ECONNRESET, "syscall": "read"},
        ConnectionResetError,
        "ECONNRESET",
        "read ECONNRESET",
        {"syscall": "read", "address": None},
    ),
    (
        {"errno_": errno.EPIPE, "syscall": "write"},
        BrokenPipeError,
        "EPIPE",
        "write EPIPE",
        {},
    ),
    (
        {"errno_": errno.ETIMEDOUT, "syscall": "connect", "address": "10.0.0.1", "port": 9},
        TimeoutError,
        "ETIMEDOUT",
        "connect ETIMEDOUT 10.0.0.1:9",
        {},
    ),
    (
        # Node's negative errno and the code's name are accepted too.
        {"errno_": -errno.ECONNRESET, "syscall": "read"},
        ConnectionResetError,
        "ECONNRESET",
        "read ECONNRESET",
        {},
    ),
    (
        {"errno_": "ECONNABORTED", "syscall": "read"},
        ConnectionAbortedError,
        "ECONNABORTED",
        "read ECONNABORTED",
        {},
    ),
]


@pytest.mark.parametrize(("kwargs", "cls", "code", "message", "attrs"), SYSTEM_CASES)
def test_system_error(
    kwargs: dict[str, Any], cls: type[OSError], code: str, message: str, attrs: dict[str, Any]
) -> None:
    err = system_error(**kwargs)
    assert isinstance(err, cls)
    assert isinstance(err, NodeSystemError)
    # The exact built-in class: no other built-in OSError subclass sits between.
    assert type(err).__name__ == ("NodeSystemError" if cls is OSError else cls.__name__)
    assert err.code == code
    assert err.errno == getattr(errno, code)
    assert err.errno is not None and err.errno > 0
    assert err.strerror == __import__("os").strerror(err.errno)
    assert str(err) == message
    assert err.message == message
    assert code in repr(err)
    for name, value in attrs.items():
        assert getattr(err, name) == value, name


def test_system_error_classes_are_cached_and_distinct() -> None:
    a = system_error(errno.ECONNREFUSED, "connect")
    b = system_error(errno.ECONNREFUSED, "connect", address="x")
    c = system_error(errno.ECONNRESET, "read")
    assert type(a) is type(b)
    assert type(a) is not type(c)
    assert not isinstance(c, ConnectionRefusedError)


def test_node_system_error_made_directly() -> None:
    err = NodeSystemError(errno.EPIPE, "Broken pipe")
    assert str(err) == "[Errno 32] Broken pipe"
    assert (err.code, err.syscall, err.address, err.port) == ("UNKNOWN", None, None, None)
    assert "UNKNOWN" in repr(err)
    assert str(pickle.loads(pickle.dumps(err))) == str(err)


def test_system_error_unknown_errno() -> None:
    err = system_error(54321, "read")
    assert type(err) is NodeSystemError
    assert err.errno == 54321
    assert err.code == "UNKNOWN"
    assert str(err) == "read UNKNOWN"


def test_system_error_unknown_errno_name() -> None:
    with pytest.raises(ValueError, match="ENOSUCHTHING"):
        system_error("ENOSUCHTHING", "read")


def test_system_error_catchable_as_builtin() -> None:
    with pytest.raises(ConnectionRefusedError) as info:
        raise system_error(errno.ECONNREFUSED, "connect", address="127.0.0.1", port=1)
    assert info.value.code == "ECONNREFUSED"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "err",
    [
        system_error(errno.ECONNREFUSED, "connect", address="127.0.0.1", port=1234),
        system_error(errno.EADDRINUSE, "listen", path="/tmp/x.sock", port=-1),
        system_error(54321, "read"),
        dns_error(socket.EAI_NONAME, "nosuch.invalid"),
        aggregate_error(
            [
                system_error(errno.ECONNREFUSED, "connect", address="::1", port=1),
                system_error(errno.ECONNREFUSED, "connect", address="127.0.0.1", port=1),
            ]
        ),
    ],
    ids=str,
)
def test_system_error_survives_pickle_and_copy(err: NodeSystemError) -> None:
    for clone in (pickle.loads(pickle.dumps(err)), copy.copy(err), copy.deepcopy(err)):
        assert type(clone) is type(err)
        assert (clone.errno, clone.strerror, str(clone)) == (err.errno, err.strerror, str(err))
        assert clone.code == err.code
        assert clone.port == err.port
        assert [str(e) for e in getattr(clone, "errors", [])] == [
            str(e) for e in getattr(err, "errors", [])
        ]


@needs_node
def test_libuv_descriptions_match_node() -> None:
    """The descriptions Node puts in listen errors are libuv's, listed in _errors."""
    node = _run_node(
        "const m = require('util').getSystemErrorMap(); const o = {};"
        "for (const [, [name, text]] of m) o[name] = text;"
        "console.log(JSON.stringify(o));"
    )
    ours = _errors._UV_DESCRIPTIONS
    for name, text in ours.items():
        assert node.get(name) == text, name


# ---------------------------------------------------------------------------
# DNS errors
# ---------------------------------------------------------------------------

DNS_CASES = [
    ("EAI_NONAME", "ENOTFOUND"),
    ("EAI_NODATA", "ENOTFOUND"),
    ("EAI_AGAIN", "EAI_AGAIN"),
    ("EAI_FAIL", "EAI_FAIL"),
    ("EAI_FAMILY", "EAI_FAMILY"),
    ("EAI_SERVICE", "EAI_SERVICE"),
]


@pytest.mark.parametrize(("eai", "code"), DNS_CASES)
def test_dns_error(eai: str, code: str) -> None:
    value = getattr(socket, eai, None)
    if value is None:
        pytest.skip(f"socket.{eai} does not exist on this platform")
    err = dns_error(value, "nosuch.invalid")
    assert isinstance(err, socket.gaierror)
    assert isinstance(err, NodeSystemError)
    assert err.errno == value
    assert err.code == code
    assert err.syscall == "getaddrinfo"
    assert err.hostname == "nosuch.invalid"
    assert err.address is None and err.port is None
    assert str(err) == f"getaddrinfo {code} nosuch.invalid"
    assert err.strerror


def test_dns_error_without_hostname_and_other_syscall() -> None:
    err = dns_error(socket.EAI_NONAME, None, "getnameinfo")
    assert str(err) == "getnameinfo ENOTFOUND"
    assert err.hostname is None


def test_dns_error_unknown_code() -> None:
    err = dns_error(None, "x")
    assert err.code == "UNKNOWN"
    assert str(err) == "getaddrinfo UNKNOWN x"


def test_dns_error_from_a_real_lookup_failure() -> None:
    try:
        socket.getaddrinfo("nosuch.invalid", 80)
    except socket.gaierror as caught:
        exc = caught
    else:  # pragma: no cover - a resolver that answers for .invalid
        pytest.skip("the resolver answered for nosuch.invalid")
    err = from_os_error(exc, "getaddrinfo", hostname="nosuch.invalid")
    assert isinstance(err, socket.gaierror)
    assert err.errno == exc.errno
    assert err.strerror == exc.strerror
    assert err.__cause__ is exc
    # ENOTFOUND where the resolver says "no such name", EAI_AGAIN where it cannot answer.
    assert str(err) == f"getaddrinfo {err.code} nosuch.invalid"


# ---------------------------------------------------------------------------
# from_os_error
# ---------------------------------------------------------------------------


def test_from_os_error_maps_errno_and_keeps_cause() -> None:
    exc = ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
    err = from_os_error(exc, "connect", address="127.0.0.1", port=9)
    assert isinstance(err, ConnectionRefusedError)
    assert str(err) == "connect ECONNREFUSED 127.0.0.1:9"
    assert err.__cause__ is exc


def test_from_os_error_with_path() -> None:
    exc = FileNotFoundError(errno.ENOENT, "No such file or directory")
    err = from_os_error(exc, "connect", path="/tmp/nope.sock")
    assert isinstance(err, FileNotFoundError)
    assert str(err) == "connect ENOENT /tmp/nope.sock"
    assert err.address == "/tmp/nope.sock"


def test_from_os_error_gaierror_uses_address_as_hostname() -> None:
    exc = socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
    err = from_os_error(exc, "getaddrinfo", address="example.invalid")
    assert isinstance(err, socket.gaierror)
    assert str(err) == "getaddrinfo EAI_AGAIN example.invalid"
    assert err.strerror == "Temporary failure in name resolution"


def test_from_os_error_timeout_without_errno() -> None:
    exc = TimeoutError("timed out")
    err = from_os_error(exc, "connect", address="10.0.0.1", port=80)
    assert isinstance(err, TimeoutError)
    assert err.errno == errno.ETIMEDOUT
    assert str(err) == "connect ETIMEDOUT 10.0.0.1:80"


def test_from_os_error_without_errno() -> None:
    class Odd(ConnectionError):
        pass

    err = from_os_error(Odd("strange"), "read")
    assert isinstance(err, ConnectionError)
    assert Odd not in type(err).__mro__
    assert err.errno is None
    assert err.code == "UNKNOWN"
    assert err.strerror == "strange"
    assert str(err) == "read UNKNOWN"


def test_from_os_error_leaves_converted_errors_alone() -> None:
    err = system_error(errno.EPIPE, "write")
    assert from_os_error(err, "write") is err


# ---------------------------------------------------------------------------
# aggregate_error and the EPIPE of a half-closed socket
# ---------------------------------------------------------------------------


def test_aggregate_error() -> None:
    first = system_error(errno.ECONNREFUSED, "connect", address="::1", port=8080)
    second = system_error(errno.ETIMEDOUT, "connect", address="127.0.0.1", port=8080)
    err = aggregate_error([first, second])
    assert isinstance(err, ConnectionRefusedError)
    assert err.errors == [first, second]
    assert err.code == "ECONNREFUSED"
    assert err.errno == errno.ECONNREFUSED
    assert str(err) == ""  # as Node's AggregateError
    assert err.__notes__ == [
        "connect ECONNREFUSED ::1:8080",
        "connect ETIMEDOUT 127.0.0.1:8080",
    ]
    assert "errors=[" in repr(err)


def test_aggregate_error_of_plain_os_errors() -> None:
    err = aggregate_error([BrokenPipeError(errno.EPIPE, "Broken pipe")])
    assert isinstance(err, BrokenPipeError)
    assert err.code == "EPIPE"


def test_aggregate_error_needs_errors() -> None:
    with pytest.raises(ValueError):
        aggregate_error([])


def test_err_socket_ended_by_other_party() -> None:
    err = _errors.err_socket_ended_by_other_party()
    assert isinstance(err, BrokenPipeError)
    assert err.code == "EPIPE"
    assert err.syscall is None
    assert str(err) == "This socket has been ended by the other party"
