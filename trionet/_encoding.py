"""Node's text encodings: the names, ``Buffer.from(string, encoding)``, and ``StringDecoder``.

Node's encoders and decoders differ from Python's codecs in small ways that a
port must keep (``'ascii'`` writes the low byte of each UTF-16 code unit,
``'hex'`` and ``'base64'`` ignore or stop at bad input instead of raising,
``StringDecoder`` decides what to hold back by looking at lead bytes only), so
those rules are written out here; Python's C codecs do the bulk of the work.

Node's strings are sequences of UTF-16 code units. A Python ``str`` holding a
surrogate pair as two code points is therefore treated like the character the
pair stands for, and a lone surrogate like Node's lone code unit.
"""

from __future__ import annotations

import binascii
import re
from typing import Final, TypeAlias

from ._errors import err_invalid_arg_type, err_unknown_encoding

__all__ = ["ENCODINGS", "StringDecoder", "encode", "normalize_encoding"]

#: The canonical names ``normalize_encoding`` returns.
ENCODINGS: Final = ("utf8", "utf16le", "latin1", "ascii", "hex", "base64", "base64url")

# Every name Node accepts, lower-cased. Node also treats "" (and a missing
# encoding) as UTF-8.
_NAMES: Final[dict[str, str]] = {
    "": "utf8",
    "utf8": "utf8",
    "utf-8": "utf8",
    "utf16le": "utf16le",
    "utf-16le": "utf16le",
    "ucs2": "utf16le",
    "ucs-2": "utf16le",
    "latin1": "latin1",
    "binary": "latin1",
    "ascii": "ascii",
    "hex": "hex",
    "base64": "base64",
    "base64url": "base64url",
}

_BytesLike: TypeAlias = bytes | bytearray | memoryview


def normalize_encoding(enc: object) -> str:
    """Node's canonical name for the encoding *enc* (any case; ``None`` means UTF-8).

    Raises ``ERR_UNKNOWN_ENCODING`` (a :class:`TypeError`) for a name Node does not know.
    """
    if enc is None:
        return "utf8"
    if isinstance(enc, str):
        name = _NAMES.get(enc)
        if name is None:
            name = _NAMES.get(enc.lower())
        if name is not None:
            return name
    raise err_unknown_encoding(enc)


# ---------------------------------------------------------------------------
# Encoding (Buffer.from(string, encoding))
# ---------------------------------------------------------------------------

_NOT_HEX: Final = re.compile(rb"[^0-9a-fA-F]")

# Node's base64 decoder reads both alphabets, skips every other byte, and
# stops at the first "=".
_B64_ALPHABETS: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_"
_B64_NOT_ALPHABET: Final = bytes(set(range(256)) - set(_B64_ALPHABETS))
_B64_URL_TO_STD: Final = bytes.maketrans(b"-_", b"+/")
_B64_STD_TO_URL: Final = bytes.maketrans(b"+/", b"-_")


def _low_bytes(text: str) -> bytes:
    """The low byte of each UTF-16 code unit of *text*: what Node's one-byte writers use."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass")[::2]


def _encode_utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # Surrogates: a pair (two code points here, one character in Node) is
        # joined, and each lone one becomes U+FFFD, as Node writes it.
        units = text.encode("utf-16-le", "surrogatepass")
        return units.decode("utf-16-le", "replace").encode("utf-8")


def _encode_hex(text: str) -> bytes:
    # Whole pairs of hex digits, up to the first pair that is not one.
    raw = _low_bytes(text)
    raw = raw[: len(raw) & ~1]
    try:
        return binascii.unhexlify(raw)
    except binascii.Error:
        bad = _NOT_HEX.search(raw)
        assert bad is not None
        return binascii.unhexlify(raw[: bad.start() & ~1])


def _encode_base64(text: str) -> bytes:
    raw = _low_bytes(text)
    stop = raw.find(b"=")
    if stop >= 0:
        raw = raw[:stop]
    raw = raw.translate(_B64_URL_TO_STD, _B64_NOT_ALPHABET)
    if len(raw) % 4 == 1:
        raw = raw[:-1]  # six bits do not make a byte
    return binascii.a2b_base64(raw + b"=" * (-len(raw) % 4))


def encode(text: str, encoding: str | None = "utf8") -> bytes:
    """The bytes of Node's ``Buffer.from(text, encoding)``.

    Lenient where Node is: ``'ascii'`` and ``'latin1'`` keep the low byte of
    each UTF-16 code unit, ``'utf8'`` writes a lone surrogate as U+FFFD,
    ``'hex'`` stops at the first bad pair, ``'base64'`` (and ``'base64url'``)
    take either alphabet, skip anything else and stop at ``'='``.
    """
    if not isinstance(text, str):
        raise err_invalid_arg_type("string", "string", text)
    enc = _NAMES.get(encoding) if isinstance(encoding, str) else None
    if enc is None:
        enc = normalize_encoding(encoding)
    if enc == "utf8":
        return _encode_utf8(text)
    if enc == "latin1" or enc == "ascii":
        return _low_bytes(text)
    if enc == "utf16le":
        return text.encode("utf-16-le", "surrogatepass")
    if enc == "hex":
        return _encode_hex(text)
    return _encode_base64(text)


# ---------------------------------------------------------------------------
# Decoding (StringDecoder)
# ---------------------------------------------------------------------------

# Node's 'ascii' decoder clears the high bit of every byte.
_ASCII_MASK: Final = bytes(b & 0x7F for b in range(256))


def _byte_view(data: memoryview) -> _BytesLike:
    """*data* as a flat view of unsigned bytes, whatever its format and shape."""
    if data.format == "B" and data.ndim == 1 and data.contiguous:
        return data
    if data.c_contiguous:
        return data.cast("B")
    return data.tobytes()


class StringDecoder:
    """Node's ``string_decoder.StringDecoder``: bytes in, text out, characters never split.

    :meth:`write` returns the text of every complete character received so far
    and keeps the start of an unfinished one for the next call; :meth:`end`
    also flushes what is kept (an unfinished UTF-8 sequence as U+FFFD, base64's
    last group padded). The output is Node's, chunk for chunk, with one
    deliberate difference: for ``'utf16le'`` a high surrogate is always held
    until the next code unit arrives, so a surrogate pair is never split
    between two results (Node splits one whose low half arrives in two reads).
    """

    __slots__ = ("_encoding", "_missing", "_pending", "_write")

    def __init__(self, encoding: str | None = "utf8") -> None:
        self._encoding: Final = normalize_encoding(encoding)
        # Bytes held back for the next write: an unfinished character (utf8,
        # utf16le) or an unfinished 3-byte group (base64).
        self._pending = b""
        # utf8 only: how many more bytes the held character's lead byte asks for.
        self._missing = 0
        writers = {
            "utf8": self._write_utf8,
            "utf16le": self._write_utf16le,
            "latin1": self._write_latin1,
            "ascii": self._write_ascii,
            "hex": self._write_hex,
            "base64": self._write_base64,
            "base64url": self._write_base64,
        }
        self._write: Final = writers[self._encoding]

    @property
    def encoding(self) -> str:
        """The canonical encoding name (``'utf8'``, ``'utf16le'``, ``'latin1'``, ...)."""
        return self._encoding

    def __repr__(self) -> str:
        return f"StringDecoder({self._encoding!r})"

    def write(self, data: _BytesLike | str) -> str:
        """Decode *data*, returning every character it completes (maybe ``''``).

        A ``str`` is returned unchanged, as Node returns a string.
        """
        if isinstance(data, (bytes, bytearray)):
            return self._write(data)
        if isinstance(data, memoryview):
            return self._write(_byte_view(data))
        if isinstance(data, str):
            return data
        raise err_invalid_arg_type("buf", ["bytes", "bytearray", "memoryview"], data)

    def end(self, data: _BytesLike | str = b"") -> str:
        """Decode *data*, then flush what is held back; the decoder can be used again after."""
        text = self.write(data)
        pending = self._pending
        if not pending:
            return text
        self._pending = b""
        self._missing = 0
        enc = self._encoding
        if enc == "utf8":
            return text + pending.decode("utf-8", "replace")
        if enc == "utf16le":
            # A lone high surrogate comes out as it is; an odd last byte is dropped.
            return text + pending[: len(pending) & ~1].decode("utf-16-le", "surrogatepass")
        tail = binascii.b2a_base64(pending, newline=False)
        if enc == "base64url":
            tail = tail.translate(_B64_STD_TO_URL).rstrip(b"=")
        return text + tail.decode("ascii")

    def _write_utf8(self, data: _BytesLike) -> str:
        n = len(data)
        if not self._missing:
            if not n:
                return ""
            if data[n - 1] < 0x80:  # the common case: nothing to hold back
                return str(data, "utf-8", "replace")
        start = 0
        head = ""
        if self._missing:
            # Continue the character held back: take continuation bytes until
            # it has as many as its lead byte asked for, or a byte that cannot
            # continue it arrives (then it is decoded as it is, as U+FFFD).
            need = self._missing
            while start < need and start < n and data[start] & 0xC0 == 0x80:
                start += 1
            self._pending += data[:start]
            if start < need and start == n:
                self._missing -= start
                return ""
            head = self._pending.decode("utf-8", "replace")
            self._pending = b""
            self._missing = 0
            if start == n:
                return head
        # Hold back a character that the end of this chunk may have cut: find
        # the lead byte among the last three bytes, and compare the bytes from
        # it with the length it announces. Only lead bytes are looked at (0xE0
        # 0x80 is held like a valid start), which is where Node's chunks split.
        end = n
        if data[n - 1] & 0x80:
            i = n - 1
            while data[i] & 0xC0 == 0x80 and i > start and n - i < 3:
                i -= 1
            lead = data[i]
            if lead & 0xE0 == 0xC0:
                need = 2
            elif lead & 0xF0 == 0xE0:
                need = 3
            elif lead & 0xF8 == 0xF0:
                need = 4
            else:
                need = 0  # not a lead byte, or one Node never waits for
            if n - i < need:
                end = i
                self._pending = bytes(data[i:])
                self._missing = need - (n - i)
        if start == 0 and end == n:
            return head + str(data, "utf-8", "replace")
        return head + str(memoryview(data)[start:end], "utf-8", "replace")

    def _write_utf16le(self, data: _BytesLike) -> str:
        if self._pending:
            data = self._pending + data
        n = len(data)
        end = n & ~1
        if end and data[end - 1] & 0xFC == 0xD8:
            end -= 2  # a high surrogate: wait for its other half
        if end == n:
            self._pending = b""
            return str(data, "utf-16-le", "surrogatepass")
        self._pending = bytes(data[end:])
        return str(memoryview(data)[:end], "utf-16-le", "surrogatepass")

    def _write_base64(self, data: _BytesLike) -> str:
        # Whole 3-byte groups only, so that the pieces join into one base64 text.
        if self._pending:
            data = self._pending + data
        n = len(data)
        end = n - n % 3
        self._pending = bytes(data[end:])
        text = binascii.b2a_base64(data[:end] if end < n else data, newline=False)
        if self._encoding == "base64url":
            text = text.translate(_B64_STD_TO_URL)
        return text.decode("ascii")

    def _write_latin1(self, data: _BytesLike) -> str:
        return str(data, "latin-1")

    def _write_ascii(self, data: _BytesLike) -> str:
        try:
            return str(data, "ascii")
        except UnicodeDecodeError:
            return bytes(data).translate(_ASCII_MASK).decode("ascii")

    def _write_hex(self, data: _BytesLike) -> str:
        return data.hex()
