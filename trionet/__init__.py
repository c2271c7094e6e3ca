"""trionet: Node.js's ``net`` module for Python, on anyio with Trio-style structured concurrency.

Servers and sockets with Node's events, methods and error codes, in Python
names, on Trio and asyncio (and uvloop). Handles live in a scope
(:func:`run`, :func:`open_scope`), which never drops an error.
"""

from __future__ import annotations

from ._encoding import StringDecoder
from ._errors import NodeError, NodeTypeError, NodeValueError
from ._events import EventEmitter, MaxListenersExceededWarning, on, once
from ._ip import is_ip, is_ipv4, is_ipv6
from ._scope import Scope, current_scope, open_scope, run
from ._server import Server, create_server
from ._socket import Socket, connect, create_connection

__version__ = "0.1.0"

__all__ = [
    "EventEmitter",
    "MaxListenersExceededWarning",
    "NodeError",
    "NodeTypeError",
    "NodeValueError",
    "Scope",
    "Server",
    "Socket",
    "StringDecoder",
    "connect",
    "create_connection",
    "create_server",
    "current_scope",
    "is_ip",
    "is_ipv4",
    "is_ipv6",
    "on",
    "once",
    "open_scope",
    "run",
]
