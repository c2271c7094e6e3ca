"""``Server``: Node's net.Server, owning a task group in which all its connections live.

The server's ``'close'`` is the end of that task group: it fires once the
server has stopped listening and every connection it accepted has closed.
"""

from __future__ import annotations

import functools
import os
import socket as _socket
from collections.abc import Callable, Mapping
from typing import Any

import anyio
import anyio.abc

from . import _errors, _ipc
from ._args import normalize_args
from ._events import EventEmitter, _await_result
from ._handle import Handle
from ._ip import is_ip
from ._socket import Socket, _family_name
from ._transport import Listener, start_listener
from ._validate import validate_function, validate_port

DEFAULT_BACKLOG = 511
_Callback = Callable[..., object]


@functools.cache
def _has_ipv6() -> bool:
    """Whether this host can bind the IPv6 loopback (asked once: the answer does not change)."""
    if not _socket.has_ipv6:
        return False
    try:
        with _socket.socket(_socket.AF_INET6, _socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


class Server(Handle):
    """A TCP or IPC server with Node's events: listening, connection, error, close, drop."""

    def __init__(
        self,
        connection_listener: _Callback | Mapping[str, Any] | None = None,
        *,
        allow_half_open: bool = False,
        pause_on_connect: bool = False,
        no_delay: bool = False,
        keep_alive: bool = False,
        keep_alive_initial_delay: float = 0,
        high_water_mark: int | None = None,
    ) -> None:
        super().__init__()
        if isinstance(connection_listener, Mapping):
            opts = {k: v for k, v in connection_listener.items()}
            from ._validate import normalize_options

            opts = normalize_options(opts, {})
            allow_half_open = bool(opts.get("allow_half_open", allow_half_open))
            pause_on_connect = bool(opts.get("pause_on_connect", pause_on_connect))
            no_delay = bool(opts.get("no_delay", no_delay))
            keep_alive = bool(opts.get("keep_alive", keep_alive))
            keep_alive_initial_delay = opts.get(
                "keep_alive_initial_delay", keep_alive_initial_delay
            )
            high_water_mark = opts.get("high_water_mark", high_water_mark)
            connection_listener = None
        if high_water_mark is not None and (
            isinstance(high_water_mark, bool) or not isinstance(high_water_mark, (int, float))
        ):
            raise _errors.err_invalid_arg_type("options.highWaterMark", "number", high_water_mark)
        self.allow_half_open = allow_half_open
        self.pause_on_connect = pause_on_connect
        self.no_delay = no_delay
        self.keep_alive = keep_alive
        self.keep_alive_initial_delay = keep_alive_initial_delay
        self.high_water_mark = high_water_mark
        self.max_connections: int | None = None
        self._lsock: _socket.socket | None = None
        self._lsock_family = 0
        self._listener: Listener | None = None
        self._address: Any = None
        self._unix_inode: tuple[int, int] | None = None
        self._serving = False
        self._drained: anyio.Event | None = None
        self._connections: set[Socket] = set()
        self._listen_id = 0
        self._lookup_pending = False
        self._starting = False  # an asyncio listener is being started (its fd is in use)
        self._backlog = DEFAULT_BACKLOG
        self._last_path: str | bytes = ""
        if connection_listener is not None:
            validate_function(connection_listener, "connectionListener")
            self.on("connection", connection_listener)

    # -- listen ------------------------------------------------------------------------

    def listen(self, *args: Any, **kwargs: Any) -> Server:
        """Start listening (Node's forms: port/host/backlog/callback, a path, or options)."""
        options, callback = normalize_args(args, kwargs)
        positional = options.pop("_positional", [])
        if self._lsock is not None or self._lookup_pending:
            raise _errors.err_server_already_listen()
        if callback is not None:
            validate_function(callback, "callback")
        backlog = options.get("backlog")
        if backlog is None and positional:
            rest = positional[1:]
            if rest and isinstance(rest[0], int) and not isinstance(rest[0], bool):
                backlog = rest[0]
            elif len(rest) > 1 and isinstance(rest[1], int) and not isinstance(rest[1], bool):
                backlog = rest[1]
        backlog = int(backlog) if backlog else DEFAULT_BACKLOG
        # `exclusive` only matters to Node's cluster (workers sharing the primary's handle):
        # accepted and ignored. `reuse_port` is SO_REUSEPORT (_bind_tcp).
        if options.get("fd") is not None or options.get("handle") is not None:
            adopted = _ipc.listen_fd(options)
            if adopted is not None:
                fd, owned = adopted
                self._arm(callback)
                self._bind_now(lambda: _ipc.adopt_listening(fd, backlog, owned), backlog)
                return self
            if "port" not in options and "path" not in options:
                raise _errors.err_invalid_arg_value(
                    "options", dict(options), 'must have the property "port" or "path"'
                )
        path = options.get("path")
        if path is None and "port" not in options and (positional or set(kwargs) - {"callback"}):
            raise _errors.err_invalid_arg_value(
                "options", dict(options), 'must have the property "port" or "path"'
            )
        has_port = "port" in options and options["port"] is not None
        if path is not None and not has_port:
            if not isinstance(path, (str, bytes, os.PathLike)):
                raise _errors.err_invalid_arg_value("options", dict(options))
            target = _ipc.unix_path(path)  # NUL bytes, sun_path length: raise now
            _ipc.check_listen_modes(target, options)
            self._arm(callback)
            self._bind_now(lambda: self._bind_unix(target, options), backlog)
            return self
        port: Any = options.get("port", 0)
        if port is None:
            port = 0
        if isinstance(port, bool) or not isinstance(port, (int, float, str)):
            raise _errors.err_invalid_arg_value("options", dict(options))
        port = validate_port(port, "options.port")
        host = options.get("host")
        if host is not None and not isinstance(host, str):
            raise _errors.err_invalid_arg_value("options", dict(options))
        ipv6_only = bool(options.get("ipv6_only", False))
        reuse_port = bool(options.get("reuse_port", False))
        self._arm(callback)
        if not host:
            self._bind_now(lambda: self._bind_any(port, ipv6_only, reuse_port), backlog)
        elif is_ip(host):
            self._bind_now(lambda: self._bind_tcp(host, port, ipv6_only, reuse_port), backlog)
        else:
            self._lookup_pending = True
            self._listen_id += 1
            self._scope.spawn(
                self._listen_after_lookup,
                host,
                port,
                backlog,
                ipv6_only,
                reuse_port,
                self._listen_id,
            )
        return self

    def _arm(self, callback: _Callback | None) -> None:
        if callback is not None:
            self.once("listening", callback)

    async def _listen_after_lookup(
        self, host: str, port: int, backlog: int, ipv6_only: bool, reuse_port: bool, listen_id: int
    ) -> None:
        try:
            infos = await anyio.getaddrinfo(host, None, type=_socket.SOCK_STREAM)
        except _socket.gaierror as exc:
            if listen_id == self._listen_id:
                self._lookup_pending = False
                self._deliver("error", _errors.dns_error(exc.errno, host))
            return
        if listen_id != self._listen_id:
            return
        self._lookup_pending = False
        address = str(infos[0][4][0])
        self._bind_now(lambda: self._bind_tcp(address, port, ipv6_only, reuse_port), backlog)

    def _bind_now(self, bind: Callable[[], _socket.socket], backlog: int) -> None:
        self._backlog = backlog
        try:
            sock = bind()
        except OSError as exc:
            self._scope.call_soon(self._deliver, "error", exc)
            return
        self._lsock = sock
        self._lsock_family = int(sock.family)
        self._listen_id += 1
        try:
            self._address = sock.getsockname()
        except OSError:  # pragma: no cover
            self._address = None
        if self._drained is not None:
            self._drained.set()  # an older _serve (closed, draining) hands its lifetime over
        self._drained = anyio.Event()
        self._serving = True
        self._scope.register(self)
        # Until 'listening' is out, the scope waits even for an unref'd server (Node
        # emits it on a tick that runs before the loop may exit).
        self._scope._add_busy(1)
        self._scope.spawn_system(self._serve, sock, backlog)  # it emits 'listening'

    def _emit_listening(self, sock: _socket.socket) -> None:
        if self._lsock is sock:
            self._deliver("listening")

    def _listen_on(
        self, sock: _socket.socket, address: Any, port: int | None, backlog: int
    ) -> None:
        try:
            sock.listen(backlog)
        except OSError as exc:
            sock.close()
            raise _errors.from_os_error(exc, "listen", address=address, port=port) from None

    def _bind_tcp(self, host: str, port: int, ipv6_only: bool, reuse_port: bool) -> _socket.socket:
        family = _socket.AF_INET6 if is_ip(host) == 6 else _socket.AF_INET
        sock = _socket.socket(family, _socket.SOCK_STREAM)
        try:
            sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEPORT, 1)
            if family == _socket.AF_INET6:
                sock.setsockopt(_socket.IPPROTO_IPV6, _socket.IPV6_V6ONLY, int(ipv6_only))
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            # libuv defers a bind error to listen(): Node reports it as syscall 'listen'.
            raise _errors.from_os_error(exc, "listen", address=host, port=port) from None
        self._listen_on(sock, host, port, self._backlog)
        return sock

    def _bind_any(self, port: int, ipv6_only: bool, reuse_port: bool) -> _socket.socket:
        if _has_ipv6():
            try:
                return self._bind_tcp("::", port, ipv6_only, reuse_port)
            except OSError as exc:
                if getattr(exc, "errno", None) not in (97, 99):  # EAFNOSUPPORT, EADDRNOTAVAIL
                    raise
        return self._bind_tcp("0.0.0.0", port, False, reuse_port)

    def _bind_unix(self, target: _ipc.UnixPath, options: Mapping[str, Any]) -> _socket.socket:
        sock, self._unix_inode = _ipc.bind_unix(target, options, self._backlog)
        self._last_path = target.address
        return sock

    # -- serving -----------------------------------------------------------------------

    async def _serve(self, sock: _socket.socket, backlog: int) -> None:
        drained = self._drained
        assert drained is not None
        holding = True
        try:
            async with anyio.create_task_group() as tg:
                self._group = tg
                if self._lsock is sock:
                    self._starting = True
                    try:
                        self._listener = await start_listener(
                            self._scope, sock, backlog, self._on_accept, tg
                        )
                    finally:
                        self._starting = False
                    if self._lsock is not sock:  # closed while starting
                        self._listener.close()
                        self._listener = None
                    else:  # accepting now (an asyncio listener starts asynchronously)
                        self._emit_listening(sock)
                holding = False
                self._scope._add_busy(-1)
                await drained.wait()
        finally:
            if holding:
                self._scope._add_busy(-1)
            superseded = self._drained is not drained
            if not superseded:
                self._group = None
                self._serving = False
        if superseded:
            return
        self._deliver("close")
        self._deliver_call(lambda: self._scope.unregister(self))

    def _on_accept(self, transport: Any) -> Socket | None:
        lsock = self._lsock
        if lsock is None:  # reached us after close(): Node never emits those
            transport.abort()
            return None
        limit = self.max_connections
        if limit is not None and len(self._connections) >= limit:
            info = _drop_info(transport.sock)
            transport.abort()
            self._deliver("drop", info)
            return None
        sock = Socket._accepted(self, transport, self._lsock_family)  # (sets transport.protocol)
        self._connections.add(sock)
        scope = self._scope
        scope._handles.add(sock)  # scope.register(sock), inlined: a new ref'd handle
        scope._busy += 1
        if "connection" in self._async_events:
            self._scope.spawn(self._emit_awaiting, "connection", sock, tg=self._group)
            return sock
        # emit('connection', sock) to plain listeners, inlined (as Socket.data_received does)
        listeners = self._events.get("connection")
        if type(self).emit is not EventEmitter.emit:  # a subclass's own emit() is called
            try:
                self.emit("connection", sock)
            except Exception as exc:
                scope.report(exc)
        elif listeners is not None:
            try:
                for listener in listeners:
                    result = listener(sock)
                    if result is not None and hasattr(result, "__await__"):
                        self._start_async_listener(_await_result, (result,))
            except Exception as exc:
                scope.report(exc)
        return sock

    def _check_drained(self) -> None:
        if self._lsock is None and not self._connections and self._drained is not None:
            self._drained.set()

    # -- close -------------------------------------------------------------------------

    def close(self, callback: _Callback | None = None) -> Server:
        """Stop accepting now; 'close' (and ``callback(None)``) once every connection has ended."""
        if callback is not None:
            validate_function(callback, "callback")
        self._listen_id += 1
        self._lookup_pending = False
        sock = self._lsock
        if sock is None:
            err = _errors.err_server_not_running()
            if callback is not None:  # a once('close') listener, as Node's
                self.once("close", lambda: callback(err))
            if not self._serving:
                self._scope.call_soon(self._deliver, "close")
            return self
        if callback is not None:
            self.once("close", lambda: callback(None))
        self._lsock = None
        self._address = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        elif not self._starting:  # else _serve closes it through the listener it gets
            sock.close()
        self._unlink_unix()
        self._check_drained()
        return self

    def _unlink_unix(self) -> None:
        """Remove the socket file this server made, if the path still names it (_ipc)."""
        inode = self._unix_inode
        if inode is None:
            return
        self._unix_inode = None
        _ipc.unlink_if_same(self._last_path, inode)

    def _scope_close(self) -> None:
        if self._listener is not None:
            self._listener.close()
        elif self._lsock is not None:
            self._lsock.close()
        self._lsock = None
        self._unlink_unix()
        for conn in list(self._connections):
            conn._scope_close()

    # -- state -------------------------------------------------------------------------

    def address(self) -> dict[str, Any] | str | None:
        """``{'port', 'family', 'address'}`` for TCP, the path for IPC; None when not listening."""
        if self._lsock is None:
            return None
        name = self._address
        if isinstance(name, tuple):
            return {"address": name[0], "family": _family_name(self._lsock.family), "port": name[1]}
        if isinstance(name, bytes):
            return name.decode()
        return str(name)

    @property
    def listening(self) -> bool:
        return self._lsock is not None

    @property
    def connections(self) -> int:
        return len(self._connections)

    def get_connections(self, callback: _Callback) -> Server:
        """Call ``callback(None, count)`` on a later tick."""
        validate_function(callback, "callback")
        self._scope.call_soon(callback, None, len(self._connections))
        return self

    async def wait_closed(self) -> None:
        """Wait until 'close' has been emitted (after ``close()`` and the last connection)."""
        if not self._serving:
            return
        done = anyio.Event()
        self.on("close", done.set)
        try:
            await done.wait()
        finally:
            self.remove_listener("close", done.set)  # also when cancelled: nothing left behind

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._lsock is not None or self._lookup_pending:
            self.close()
        await self.wait_closed()

    def __repr__(self) -> str:
        return f"<trionet.Server listening={self.listening} address={self.address()!r}>"


def _drop_info(conn: _socket.socket) -> dict[str, Any]:
    try:
        local = conn.getsockname()
        remote = conn.getpeername()
    except OSError:
        return {}
    if not isinstance(local, tuple):
        return {}
    family = _family_name(conn.family)
    return {
        "local_address": local[0],
        "local_port": local[1],
        "local_family": family,
        "remote_address": remote[0],
        "remote_port": remote[1],
        "remote_family": family,
    }


def create_server(
    connection_listener: _Callback | Mapping[str, Any] | None = None,
    listener: _Callback | None = None,
    **options: Any,
) -> Server:
    """Create a Server; ``create_server(options, listener)`` and keywords both work, as Node."""
    server = Server(connection_listener, **options)
    if listener is not None:
        validate_function(listener, "connectionListener")
        server.on("connection", listener)
    return server
