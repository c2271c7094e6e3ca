"""The connect path: validate options, look the host up, and try each address (Happy Eyeballs).

``ConnectPlan(...)`` checks every option at once (bad input raises in the caller);
the returned plan's ``run()`` does the I/O in the socket's connect task and
reports progress as Node's events ('lookup', 'connectionAttempt', ...).
"""

from __future__ import annotations

import errno
import inspect
import socket as _socket
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import anyio

from . import _errors
from ._ip import is_ip
from ._ipc import UnixPath, connect_unix, unix_path
from ._validate import validate_function, validate_port

if TYPE_CHECKING:
    from ._socket import Socket

DEFAULT_ATTEMPT_TIMEOUT = 0.25
_IN_PROGRESS = {errno.EINPROGRESS, errno.EAGAIN, errno.EWOULDBLOCK, errno.EALREADY}


class ConnectPlan:
    """Everything needed to open one connection, already validated."""

    def __init__(self, handle: Socket, options: Mapping[str, Any]) -> None:
        self.handle = handle
        self.path: str | bytes | None = options.get("path")
        self.host: str = "localhost"
        self.port = 0
        self.family = 0
        self.hints = 0
        self.lookup: Callable[..., Any] | None = None
        self.local_address: str | None = options.get("local_address")
        self.local_port: int | None = None
        self.auto_select_family = True
        self.attempt_timeout = DEFAULT_ATTEMPT_TIMEOUT
        self.unix: UnixPath | None = None
        if self.path is not None:
            self.unix = unix_path(self.path)  # type, NUL bytes, sun_path length: raise now
            return
        port = options.get("port")
        if isinstance(port, bool) or not isinstance(port, (int, float, str)):
            raise _errors.err_invalid_arg_type("options.port", ["number", "string"], port)
        self.port = validate_port(port)
        host = options.get("host")
        if host is not None:
            if not isinstance(host, str):
                raise _errors.err_invalid_arg_type("options.host", "string", host)
            self.host = host or "localhost"
        family = options.get("family", 0) or 0
        if family in ("IPv4", "IPv6"):
            family = 4 if family == "IPv4" else 6
        if family not in (0, 4, 6):
            raise _errors.err_invalid_arg_value("options.family", family, "must be one of: 0, 4, 6")
        self.family = int(family)
        self.hints = int(options.get("hints") or 0)
        lookup = options.get("lookup")
        if lookup is not None:
            validate_function(lookup, "options.lookup")
            self.lookup = lookup
        if self.local_address is not None and not is_ip(self.local_address):
            raise _errors.err_invalid_ip_address(self.local_address)
        local_port = options.get("local_port")
        if local_port is not None:
            if isinstance(local_port, bool) or not isinstance(local_port, int):
                raise _errors.err_invalid_arg_type("options.localPort", "number", local_port)
            self.local_port = validate_port(local_port)
        auto = options.get("auto_select_family")
        if auto is not None:
            if not isinstance(auto, bool):
                raise _errors.err_invalid_arg_type("options.autoSelectFamily", "boolean", auto)
            self.auto_select_family = auto
        timeout = options.get("auto_select_family_attempt_timeout")
        if timeout is not None:
            self.attempt_timeout = max(0.01, float(timeout))

    # -- I/O ---------------------------------------------------------------------------

    async def run(self) -> _socket.socket:
        """Connect and return the connected non-blocking socket; raise the Node-style error."""
        if self.path is not None:
            return await self._connect_ipc(self.path)
        literal = is_ip(self.host)
        if literal:
            return await self._attempt(self.host, literal)
        multi = self.auto_select_family and self.family == 0 and self.local_address is None
        addresses = await self._resolve(multi)
        if len(addresses) == 1:
            return await self._attempt(*addresses[0])
        return await self._happy_eyeballs(addresses)

    async def _resolve(self, multi: bool) -> list[tuple[str, int]]:
        handle, host = self.handle, self.host
        try:
            if self.lookup is not None:
                found = await self._custom_lookup(multi)
            else:
                found = await self._default_lookup()
        except OSError as exc:
            err = exc
            if not hasattr(exc, "code"):
                err = _errors.from_os_error(exc, "getaddrinfo", hostname=host)
            handle._deliver("lookup", err, None, None, host)
            raise err from None
        if not multi:
            found = found[:1]
        for address, family in found:
            handle._deliver("lookup", None, address, family, host)  # first, as Node
            if not is_ip(address):
                raise _errors.err_invalid_ip_address(address)
        return found

    async def _default_lookup(self) -> list[tuple[str, int]]:
        family = {4: _socket.AF_INET, 6: _socket.AF_INET6}.get(self.family, _socket.AF_UNSPEC)
        flags = self.hints or (0 if self.family else _socket.AI_ADDRCONFIG)
        try:
            infos = await anyio.getaddrinfo(
                self.host, None, family=family, type=_socket.SOCK_STREAM, flags=flags
            )
        except _socket.gaierror as exc:
            raise _errors.dns_error(exc.errno, self.host) from None
        found: list[tuple[str, int]] = []
        for af, _type, _proto, _canon, addr in infos:
            entry = (str(addr[0]), 6 if af == _socket.AF_INET6 else 4)
            if entry not in found:
                found.append(entry)
        if not found:
            raise _errors.dns_error(_socket.EAI_NONAME, self.host)
        return found

    async def _custom_lookup(self, multi: bool) -> list[tuple[str, int]]:
        lookup = self.lookup
        assert lookup is not None
        # Node's default hints (ADDRCONFIG unless a family is asked for), as getaddrinfo gets.
        hints = self.hints or (0 if self.family else _socket.AI_ADDRCONFIG)
        options: dict[str, Any] = {"family": self.family, "hints": hints, "all": multi}
        if inspect.iscoroutinefunction(lookup):
            result = await lookup(self.host, options)
            return _lookup_result(result)
        done = anyio.Event()
        box: list[Any] = []

        def callback(err: BaseException | None, address: Any = None, family: Any = None) -> None:
            if not box:
                box.append((err, address, family))
                done.set()

        lookup(self.host, options, callback)
        await done.wait()
        err, address, family = box[0]
        if err is not None:
            raise err
        if isinstance(address, list):
            return _lookup_result(address)
        return _lookup_result({"address": address, "family": family})

    async def _happy_eyeballs(self, addresses: list[tuple[str, int]]) -> _socket.socket:
        first = addresses[0][1]
        same = [a for a in addresses if a[1] == first]
        other = [a for a in addresses if a[1] != first]
        order: list[tuple[str, int]] = []
        while same or other:
            if same:
                order.append(same.pop(0))
            if other:
                order.append(other.pop(0))
        errors: list[OSError] = []
        for index, (ip, family) in enumerate(order):
            last = index == len(order) - 1
            try:
                if last:
                    return await self._attempt(ip, family)
                with anyio.move_on_after(self.attempt_timeout) as cs:
                    return await self._attempt(ip, family)
                if cs.cancelled_caught:
                    self.handle._deliver("connectionAttemptTimeout", ip, self.port, family)
            except OSError as exc:
                errors.append(exc)
        if errors:
            raise _errors.aggregate_error(errors)
        raise _errors.err_socket_connection_timeout()

    async def _attempt(self, ip: str, family: int) -> _socket.socket:
        port = self.port
        sock = _socket.socket(_socket.AF_INET6 if family == 6 else _socket.AF_INET)
        try:
            sock.setblocking(False)
            if self.local_address is not None or self.local_port is not None:
                local = (
                    self.local_address or ("::" if family == 6 else "0.0.0.0"),
                    self.local_port or 0,
                )
                try:
                    sock.bind(local)
                except OSError as exc:
                    raise _errors.from_os_error(
                        exc, "bind", address=local[0], port=local[1]
                    ) from None
            # After the local bind, as Node: a failed bind is no connection attempt.
            self.handle._deliver("connectionAttempt", ip, port, family)
            await _connect_sock(sock, (ip, port))
        except BaseException as exc:
            sock.close()
            if isinstance(exc, OSError) and getattr(exc, "syscall", None) == "connect":
                self.handle._deliver("connectionAttemptFailed", ip, port, family, exc)
            raise
        return sock

    async def _connect_ipc(self, path: str | bytes) -> _socket.socket:
        target = self.unix
        assert target is not None
        name = target.name
        self.handle._deliver("connectionAttempt", name, None, None)
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            await connect_unix(sock, target)  # a full queue is EAGAIN, as libuv
        except BaseException as exc:
            sock.close()
            if isinstance(exc, OSError):
                self.handle._deliver("connectionAttemptFailed", name, None, None, exc)
            raise
        return sock


async def _connect_sock(sock: _socket.socket, addr: tuple[str, int]) -> None:
    try:
        err = sock.connect_ex(addr)
    except OSError as exc:
        err = exc.errno or errno.EINVAL
    if err in _IN_PROGRESS:
        await anyio.wait_writable(sock)
        err = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_ERROR)
    if err:
        raise _errors.system_error(err, "connect", address=addr[0], port=addr[1])


def _lookup_result(result: Any) -> list[tuple[str, int]]:
    items = result if isinstance(result, list) else [result]
    found: list[tuple[str, int]] = []
    for item in items:
        if isinstance(item, Mapping):
            address, family = item.get("address"), item.get("family")
        else:
            address, family = item
        if family in ("IPv4", "IPv6"):
            family = 4 if family == "IPv4" else 6
        found.append((str(address), int(family or is_ip(str(address)) or 4)))
    return found
