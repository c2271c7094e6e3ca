"""Node's ``net.isIP()``, ``net.isIPv4()`` and ``net.isIPv6()``.

Node decides with its own regular expressions, which differ from both
:mod:`ipaddress` and ``inet_pton`` (zone ids are accepted with a restricted
alphabet, IPv4 parts may not have leading zeros, nothing else is lenient), so
the grammar is written out here and checked against Node in the tests.

Inputs: a :class:`str` (subclasses included) is checked as it is. Node
stringifies whatever it is given; the Python counterpart of "an object whose
string form is an address" is an :mod:`ipaddress` address object, which is
checked by its ``str()``. Anything else (``None``, numbers, ``bytes``, ...)
gives ``0`` / ``False``, as Node's ``isIP(undefined)`` does, without calling
its ``__str__``.
"""

from __future__ import annotations

import ipaddress
import re

__all__ = ["is_ip", "is_ipv4", "is_ipv6"]

# An IPv4 part is written exactly as Python writes the number: 0-255, no sign,
# no leading zero. A set lookup per part is quicker than a regex.
_OCTETS = frozenset(str(n) for n in range(256))

# The same in the regex for IPv6 (whose last 32 bits may be written as IPv4).
# Explicit ASCII classes throughout, and no re.IGNORECASE: in a str pattern
# that flag would let e.g. U+212A KELVIN SIGN match [a-z], which Node rejects.
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
_V4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
_H = r"[0-9a-fA-F]{1,4}"


def _v6_pattern() -> str:
    # Without "::": exactly eight groups, the last two of which may be an IPv4
    # address. With "::" (which stands for at least one zero group): n groups
    # before it, and after it either nothing, or groups, or groups and an IPv4
    # address, for at most seven groups written out (an IPv4 address counts 2).
    forms = [rf"(?:{_H}:){{7}}{_H}", rf"(?:{_H}:){{6}}{_V4}"]
    for n in range(8):
        head = rf"(?:{_H}:){{{n}}}:" if n else "::"
        tails = []
        if n <= 5:
            tails.append(rf"(?:{_H}:){{0,{5 - n}}}{_V4}")
        if n <= 6:
            tails.append(rf"(?:{_H}:){{0,{6 - n}}}{_H}")
        forms.append(head + (f"(?:{'|'.join(tails)})?" if tails else ""))
    # A zone id: one or more of these characters, nothing else.
    return rf"(?:{'|'.join(forms)})(?:%[0-9a-zA-Z.:\-]+)?"


_IPV6_RE = re.compile(_v6_pattern())
_ADDRESS_TYPES = (ipaddress.IPv4Address, ipaddress.IPv6Address)


def _as_str(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, _ADDRESS_TYPES):
        return str(value)
    return None


def _is_ipv4(text: str) -> bool:
    parts = text.split(".")
    return (
        len(parts) == 4
        and parts[0] in _OCTETS
        and parts[1] in _OCTETS
        and parts[2] in _OCTETS
        and parts[3] in _OCTETS
    )


def is_ipv4(s: object) -> bool:
    """True if *s* is an IPv4 address in Node's strict dotted-decimal form."""
    text = s if type(s) is str else _as_str(s)
    return text is not None and _is_ipv4(text)


def is_ipv6(s: object) -> bool:
    """True if *s* is an IPv6 address as Node accepts it (zone id included)."""
    text = s if type(s) is str else _as_str(s)
    return text is not None and _IPV6_RE.fullmatch(text) is not None


def is_ip(s: object) -> int:
    """4 or 6 if *s* is an IPv4 or IPv6 address as Node's ``net.isIP`` says, else 0."""
    text = s if type(s) is str else _as_str(s)
    if text is None:
        return 0
    # Only an IPv6 address has a colon, and every IPv6 address has one.
    if ":" in text:
        return 6 if _IPV6_RE.fullmatch(text) is not None else 0
    return 4 if _is_ipv4(text) else 0
