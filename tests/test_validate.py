"""Node's argument validators (trionet._validate)."""

from __future__ import annotations

import array
import json
import math
import shutil
import subprocess
import types
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from trionet._errors import NodeTypeError, NodeValueError
from trionet._validate import (
    camel_to_snake,
    normalize_options,
    to_number,
    validate_bool,
    validate_data,
    validate_function,
    validate_host,
    validate_int,
    validate_port,
    validate_timeout,
)

NODE = shutil.which("node")

# ---------------------------------------------------------------------------
# validate_port
# ---------------------------------------------------------------------------

GOOD_PORTS: list[tuple[object, int]] = [
    (0, 0),
    (80, 80),
    (65535, 65535),
    (80.0, 80),
    (-0.0, 0),
    ("80", 80),
    (" 80 ", 80),
    ("\t80\n", 80),
    ("\u00a080\u3000", 80),
    ("\ufeff80", 80),
    ("0x50", 80),
    ("0X50", 80),
    ("0o120", 80),
    ("0b1010000", 80),
    ("+80", 80),
    ("1e2", 100),
    ("8E1", 80),
    ("80.0", 80),
    ("80.", 80),
    ("0080", 80),
    ("010", 10),  # decimal, not octal, as in JavaScript
    ("-0", 0),
    ("0.0", 0),
    ("65535", 65535),
]


@pytest.mark.parametrize(("value", "expected"), GOOD_PORTS)
def test_validate_port_accepts(value: object, expected: int) -> None:
    port = validate_port(value)
    assert port == expected
    assert type(port) is int


BAD_PORTS: list[tuple[object, str]] = [
    (-1, "type number (-1)"),
    (65536, "type number (65536)"),
    (2**32 - 1, "type number (4294967295)"),
    (123.456, "type number (123.456)"),
    (float("nan"), "type number (nan)"),
    (float("inf"), "type number (inf)"),
    (float("-inf"), "type number (-inf)"),
    ("", "type string ('')"),
    (" ", "type string (' ')"),
    ("abc", "type string ('abc')"),
    ("-1", "type string ('-1')"),
    ("0x", "type string ('0x')"),
    ("-0x1", "type string ('-0x1')"),
    ("+0x50", "type string ('+0x50')"),
    ("0x1.8", "type string ('0x1.8')"),
    ("1_000", "type string ('1_000')"),
    ("8 0", "type string ('8 0')"),
    ("8..0", "type string ('8..0')"),
    (".5", "type string ('.5')"),
    ("1e-1", "type string ('1e-1')"),
    ("65536", "type string ('65536')"),
    ("Infinity", "type string ('Infinity')"),
    ("nan", "type string ('nan')"),
    ("inf", "type string ('inf')"),
    ("\uff18\uff10", "type string ('\uff18\uff10')"),  # full-width digits
    ("\x1c80", "type string ('\\x1c80')"),  # Python's whitespace, not JavaScript's
    ("a very long string that goes over", "type string ('a very long string that g...')"),
    (True, "type boolean (True)"),
    (False, "type boolean (False)"),
    (None, "None"),
    ([], "an instance of list"),
    ({}, "an instance of dict"),
    (b"80", "an instance of bytes"),
]


@pytest.mark.parametrize(("value", "received"), BAD_PORTS)
def test_validate_port_rejects(value: object, received: str) -> None:
    with pytest.raises(NodeValueError) as info:
        validate_port(value)
    assert info.value.code == "ERR_SOCKET_BAD_PORT"
    assert str(info.value) == f"Port should be >= 0 and < 65536. Received {received}."


def test_validate_port_name() -> None:
    with pytest.raises(NodeValueError, match=r"^options\.port should be >= 0 and < 65536\. "):
        validate_port(-1, "options.port")


@pytest.mark.parametrize("value", [0, 0.0, "0", " 0x0 "])
def test_validate_port_without_zero(value: object) -> None:
    with pytest.raises(NodeValueError) as info:
        validate_port(value, allow_zero=False)
    assert info.value.code == "ERR_SOCKET_BAD_PORT"
    assert str(info.value).startswith("Port should be > 0 and < 65536. Received ")
    assert validate_port(1, allow_zero=False) == 1


@given(st.integers(min_value=0, max_value=65535))
def test_validate_port_accepts_every_port_and_its_spellings(port: int) -> None:
    assert validate_port(port) == port
    assert validate_port(float(port)) == port
    assert validate_port(str(port)) == port
    assert validate_port(f" \t{port}\n") == port
    assert validate_port(hex(port)) == port
    assert validate_port(f"{port}.0") == port


@given(st.integers().filter(lambda n: not 0 <= n <= 65535))
@example(-1)
@example(65536)
def test_validate_port_rejects_every_other_integer(port: int) -> None:
    for value in (port, str(port)):
        with pytest.raises(NodeValueError):
            validate_port(value)


@given(st.floats().filter(lambda x: not x.is_integer()))
def test_validate_port_rejects_fractions(value: float) -> None:
    with pytest.raises(NodeValueError):
        validate_port(value)


@given(st.text())
@example("0x10000")
@example("1e400")
@example("0x" + "f" * 300)
def test_validate_port_on_any_text_returns_a_port_or_bad_port(text: str) -> None:
    try:
        port = validate_port(text)
    except NodeValueError as exc:
        assert exc.code == "ERR_SOCKET_BAD_PORT"
    else:
        assert 0 <= port <= 65535


# ---------------------------------------------------------------------------
# to_number (JavaScript's Number(string))
# ---------------------------------------------------------------------------

NUMBER_STRINGS = [
    "",
    " ",
    "0",
    "-0",
    "80",
    " 80 ",
    "\t80\n",
    "\u00a080",
    "\u2028" + "80",
    "\ufeff80",
    "\x1c80",
    "\x8580",
    "+80",
    "-80",
    "0x50",
    "0X50",
    "-0x50",
    "+0x50",
    "0o17",
    "0b11",
    "0b12",
    "0x",
    "1e2",
    "1E2",
    "1e+2",
    "5.",
    ".5e1",
    "80.0",
    "8..0",
    "1_000",
    "Infinity",
    "-Infinity",
    "+Infinity",
    "infinity",
    "inf",
    "nan",
    "NaN",
    "abc",
    "12abc",
    "\uff18\uff10",
    "\u0668",
    "1e400",
    "0x" + "f" * 300,
    "00012",
]


def _js_string(number: float) -> str:
    """JavaScript's String(number) for the values of NUMBER_STRINGS."""
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    assert number.is_integer()
    return str(int(number))


@pytest.mark.parametrize("text", NUMBER_STRINGS)
def test_to_number_is_a_float(text: str) -> None:
    assert isinstance(to_number(text), float)


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_to_number_and_validate_port_match_node() -> None:
    """One Node run checks Number(s) and net's port validation for the whole table."""
    assert NODE is not None
    numbers: list[object] = [0, 80, -1, 65535, 65536, 1.5, 80.0, 2**32 - 1, -0.0]
    specials = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
    script = r"""
    const net = require('net');
    const [strings, numbers] = JSON.parse(process.argv[1]);
    const specials = {NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity};
    const toJs = (v) => (typeof v === 'object' && v !== null) ? specials[v.special] : v;
    const check = (v) => {
      try {
        const s = new net.Socket();
        s.connect({port: v, host: '127.0.0.1'});
        s.destroy();
        return null;
      } catch (e) { return [e.code, e.message]; }
    };
    const out = {numbers: strings.map((s) => String(Number(s))),
                 ports: strings.concat(numbers).map((v) => check(toJs(v)))};
    console.log(JSON.stringify(out));
    process.exit(0);
    """
    table = [NUMBER_STRINGS, [*numbers, *({"special": k} for k in specials)]]
    result = subprocess.run(
        [NODE, "-e", script, json.dumps(table)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    node = json.loads(result.stdout)
    assert [_js_string(to_number(s)) for s in NUMBER_STRINGS] == node["numbers"]

    values: list[object] = [*NUMBER_STRINGS, *numbers, *specials.values()]
    for value, node_error in zip(values, node["ports"], strict=True):
        try:
            validate_port(value)
        except NodeValueError as exc:
            assert node_error is not None, f"Node accepts {value!r}"
            assert exc.code == node_error[0]
            # Messages agree wherever Python's repr is JavaScript's inspect.
            if isinstance(value, int) or (isinstance(value, str) and value.isprintable()):
                assert str(exc) == node_error[1]
        else:
            assert node_error is None, f"Node rejects {value!r}: {node_error}"


# ---------------------------------------------------------------------------
# validate_timeout, validate_int, validate_bool, validate_host, validate_function
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [(0, 0.0), (1, 1.0), (1.5, 1.5), (10**9, 1e9)])
def test_validate_timeout_accepts(value: object, expected: float) -> None:
    result = validate_timeout(value)
    assert result == expected
    assert type(result) is float


@pytest.mark.parametrize(
    ("value", "cls", "code", "message"),
    [
        (
            -1,
            NodeValueError,
            "ERR_OUT_OF_RANGE",
            'The value of "msecs" is out of range. It must be a non-negative finite number. '
            "Received -1",
        ),
        (
            -0.5,
            NodeValueError,
            "ERR_OUT_OF_RANGE",
            'The value of "msecs" is out of range. It must be a non-negative finite number. '
            "Received -0.5",
        ),
        (
            math.nan,
            NodeValueError,
            "ERR_OUT_OF_RANGE",
            'The value of "msecs" is out of range. It must be a non-negative finite number. '
            "Received nan",
        ),
        (
            math.inf,
            NodeValueError,
            "ERR_OUT_OF_RANGE",
            'The value of "msecs" is out of range. It must be a non-negative finite number. '
            "Received inf",
        ),
        (
            "1",
            NodeTypeError,
            "ERR_INVALID_ARG_TYPE",
            "The \"msecs\" argument must be of type number. Received type string ('1')",
        ),
        (
            True,
            NodeTypeError,
            "ERR_INVALID_ARG_TYPE",
            'The "msecs" argument must be of type number. Received type boolean (True)',
        ),
        (
            None,
            NodeTypeError,
            "ERR_INVALID_ARG_TYPE",
            'The "msecs" argument must be of type number. Received None',
        ),
    ],
)
def test_validate_timeout_rejects(
    value: object, cls: type[Exception], code: str, message: str
) -> None:
    with pytest.raises(cls) as info:
        validate_timeout(value)
    assert info.value.code == code  # type: ignore[attr-defined]
    assert str(info.value) == message


def test_validate_timeout_name() -> None:
    with pytest.raises(NodeValueError, match=r'^The value of "timeout" is out of range'):
        validate_timeout(-1, "timeout")


@pytest.mark.parametrize(
    ("value", "min_", "max_", "expected"),
    [(0, 0, 10, 0), (10, 0, 10, 10), (3.0, None, None, 3), (-(2**70), None, None, -(2**70))],
)
def test_validate_int_accepts(
    value: object, min_: int | None, max_: int | None, expected: int
) -> None:
    result = validate_int(value, "fd", min_, max_)
    assert result == expected
    assert type(result) is int


@pytest.mark.parametrize(
    ("value", "min_", "max_", "cls", "code", "message"),
    [
        (
            -1,
            0,
            2147483647,
            NodeValueError,
            "ERR_OUT_OF_RANGE",
            'The value of "fd" is out of range. It must be >= 0 && <= 2147483647. Received -1',
        ),
        (
            2**40,
            0,
            2147483647,
            NodeValueError,
            "ERR_OUT_OF_RANGE",
            'The value of "fd" is out of range. It must be >= 0 && <= 2147483647. '
            "Received 1_099_511_627_776",
        ),
        (
            1.5,
            0,
            10,
            NodeValueError,
            "ERR_OUT_OF_RANGE",
            'The value of "fd" is out of range. It must be an integer. Received 1.5',
        ),
        (
            math.nan,
            None,
            None,
            NodeValueError,
            "ERR_OUT_OF_RANGE",
            'The value of "fd" is out of range. It must be an integer. Received nan',
        ),
        (
            11,
            None,
            10,
            NodeValueError,
            "ERR_OUT_OF_RANGE",
            'The value of "fd" is out of range. It must be <= 10. Received 11',
        ),
        (
            "foo",
            0,
            10,
            NodeTypeError,
            "ERR_INVALID_ARG_TYPE",
            "The \"fd\" argument must be of type number. Received type string ('foo')",
        ),
        (
            False,
            0,
            10,
            NodeTypeError,
            "ERR_INVALID_ARG_TYPE",
            'The "fd" argument must be of type number. Received type boolean (False)',
        ),
    ],
)
def test_validate_int_rejects(
    value: object,
    min_: int | None,
    max_: int | None,
    cls: type[Exception],
    code: str,
    message: str,
) -> None:
    with pytest.raises(cls) as info:
        validate_int(value, "fd", min_, max_)
    assert info.value.code == code  # type: ignore[attr-defined]
    assert str(info.value) == message


@pytest.mark.parametrize("value", [True, False])
def test_validate_bool_accepts(value: bool) -> None:
    assert validate_bool(value, "options.autoSelectFamily") is value


@pytest.mark.parametrize(
    ("value", "received"), [(1, "type number (1)"), ("x", "type string ('x')"), (None, "None")]
)
def test_validate_bool_rejects(value: object, received: str) -> None:
    with pytest.raises(NodeTypeError) as info:
        validate_bool(value, "options.autoSelectFamily")
    assert info.value.code == "ERR_INVALID_ARG_TYPE"
    assert str(info.value) == (
        f'The "options.autoSelectFamily" property must be of type boolean. Received {received}'
    )


def test_validate_host() -> None:
    assert validate_host("localhost") == "localhost"
    with pytest.raises(NodeTypeError) as info:
        validate_host(5, "hostname")
    assert info.value.code == "ERR_INVALID_ARG_TYPE"
    assert str(info.value) == (
        'The "hostname" argument must be of type string. Received type number (5)'
    )
    with pytest.raises(NodeTypeError, match=r"Received an instance of bytes$"):
        validate_host(b"localhost")


def test_validate_function() -> None:
    def callback() -> None:
        pass

    assert validate_function(callback, "callback") is callback
    assert validate_function(print, "callback") is print
    with pytest.raises(NodeTypeError) as info:
        validate_function("x", "callback")
    assert info.value.code == "ERR_INVALID_ARG_TYPE"
    assert str(info.value) == (
        "The \"callback\" argument must be of type function. Received type string ('x')"
    )


# ---------------------------------------------------------------------------
# validate_data
# ---------------------------------------------------------------------------


def test_validate_data_bytes_as_is() -> None:
    data = b"hello"
    assert validate_data(data, None) is data


def test_validate_data_copies_bytearray() -> None:
    data = bytearray(b"hello")
    chunk = validate_data(data, None)
    data[0:1] = b"J"
    data.extend(b"!!")  # resizing must stay possible
    assert chunk == b"hello"


def test_validate_data_memoryview_without_copy() -> None:
    backing = bytearray(b"hello")
    chunk = validate_data(memoryview(backing)[1:4], None)
    assert isinstance(chunk, memoryview)
    assert chunk.readonly
    assert bytes(chunk) == b"ell"
    backing[1:2] = b"E"
    assert bytes(chunk) == b"Ell"  # a view, as a Buffer in Node


def test_validate_data_memoryview_of_other_format() -> None:
    numbers = array.array("H", [1, 2])
    chunk = validate_data(memoryview(numbers), None)
    assert isinstance(chunk, memoryview)
    assert (chunk.format, chunk.ndim) == ("B", 1)
    assert bytes(chunk) == numbers.tobytes()


def test_validate_data_memoryview_not_contiguous() -> None:
    chunk = validate_data(memoryview(b"abcdef")[::2], None)
    assert bytes(chunk) == b"ace"


@pytest.mark.parametrize(
    ("text", "encoding", "expected"),
    [
        ("héllo", None, "héllo".encode()),
        ("héllo", "utf8", "héllo".encode()),
        ("héllo", "latin1", "héllo".encode("latin-1")),
        ("68656c6c6f", "hex", b"hello"),
        ("aGVsbG8=", "base64", b"hello"),
        ("", None, b""),
    ],
)
def test_validate_data_encodes_text(text: str, encoding: str | None, expected: bytes) -> None:
    assert bytes(validate_data(text, encoding)) == expected


def test_validate_data_unknown_encoding() -> None:
    with pytest.raises(NodeTypeError) as info:
        validate_data("x", "nope")
    assert info.value.code == "ERR_UNKNOWN_ENCODING"
    assert str(info.value) == "Unknown encoding: nope"


@pytest.mark.parametrize(
    ("value", "received"),
    [
        (1, "type number (1)"),
        (None, "None"),
        ([1], "an instance of list"),
        ({}, "an instance of dict"),
        (True, "type boolean (True)"),
    ],
)
def test_validate_data_rejects(value: object, received: str) -> None:
    with pytest.raises(NodeTypeError) as info:
        validate_data(value, None)
    assert info.value.code == "ERR_INVALID_ARG_TYPE"
    assert str(info.value) == (
        'The "chunk" argument must be of type string or an instance of bytes, bytearray, '
        f"or memoryview. Received {received}"
    )


# ---------------------------------------------------------------------------
# normalize_options
# ---------------------------------------------------------------------------

NODE_KEYS = [
    ("allowHalfOpen", "allow_half_open"),
    ("pauseOnConnect", "pause_on_connect"),
    ("noDelay", "no_delay"),
    ("keepAlive", "keep_alive"),
    ("keepAliveInitialDelay", "keep_alive_initial_delay"),
    ("highWaterMark", "high_water_mark"),
    ("localAddress", "local_address"),
    ("localPort", "local_port"),
    ("autoSelectFamily", "auto_select_family"),
    ("autoSelectFamilyAttemptTimeout", "auto_select_family_attempt_timeout"),
    ("readableAll", "readable_all"),
    ("writableAll", "writable_all"),
    ("ipv6Only", "ipv6_only"),
    ("reusePort", "reuse_port"),
    ("objectMode", "object_mode"),
    ("port", "port"),
    ("allow_half_open", "allow_half_open"),
    ("_handle", "_handle"),
    ("Port", "Port"),
    ("x-y", "x-y"),
]


@pytest.mark.parametrize(("key", "expected"), NODE_KEYS)
def test_camel_to_snake(key: str, expected: str) -> None:
    assert camel_to_snake(key) == expected


def test_normalize_options_merges_spellings_and_kwargs() -> None:
    options = {"allowHalfOpen": True, "port": 80, "fooBar": 1, 7: "seven"}
    kwargs = {"port": 81, "keepAlive": True}
    result = normalize_options(options, kwargs)
    assert result == {
        "allow_half_open": True,
        "port": 81,
        "foo_bar": 1,
        7: "seven",
        "keep_alive": True,
    }
    assert options == {"allowHalfOpen": True, "port": 80, "fooBar": 1, 7: "seven"}
    assert kwargs == {"port": 81, "keepAlive": True}


def test_normalize_options_kwargs_win_over_either_spelling() -> None:
    assert normalize_options({"noDelay": False}, {"no_delay": True}) == {"no_delay": True}
    assert normalize_options({"no_delay": False}, {"noDelay": True}) == {"no_delay": True}


@pytest.mark.parametrize("options", [None, {}, types.MappingProxyType({"port": 1})])
def test_normalize_options_accepts_mappings_and_none(options: Any) -> None:
    assert normalize_options(options, {}) == dict(options or {})
    assert normalize_options(options) == dict(options or {})


@pytest.mark.parametrize(
    ("options", "received"),
    [
        (0, "type number (0)"),
        ("path", "type string ('path')"),
        ([("port", 1)], "an instance of list"),
    ],
)
def test_normalize_options_rejects_non_mappings(options: Any, received: str) -> None:
    with pytest.raises(NodeTypeError) as info:
        normalize_options(options, {})
    assert info.value.code == "ERR_INVALID_ARG_TYPE"
    assert str(info.value) == f'The "options" argument must be of type object. Received {received}'


def test_normalize_options_rejects_two_spellings_of_one_option() -> None:
    with pytest.raises(NodeTypeError) as info:
        normalize_options({"noDelay": True, "no_delay": False}, {})
    assert info.value.code == "ERR_INVALID_ARG_VALUE"
    assert str(info.value).startswith(
        "The argument 'options' has both 'noDelay' and 'no_delay'. Received "
    )


_camel_words = st.lists(
    st.from_regex(r"[a-z][a-z0-9]{0,5}", fullmatch=True), min_size=1, max_size=4
)


@given(_camel_words, st.integers())
def test_normalize_options_camel_and_snake_agree(words: list[str], value: int) -> None:
    camel = words[0] + "".join(w.capitalize() for w in words[1:])
    snake = camel_to_snake(camel)
    assert normalize_options({camel: value}) == normalize_options({snake: value}) == {snake: value}
    assert camel_to_snake(snake) == snake
