"""``Socket``: Node's net.Socket (a Duplex stream) over a transport, and an anyio ByteStream."""

from __future__ import annotations

import errno
import math
import socket as _socket
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import anyio
import anyio.abc
from anyio.abc import SocketAttribute

from . import _errors
from ._args import normalize_args
from ._connect import connect_socket
from ._encoding import StringDecoder, normalize_encoding
from ._handle import Handle
from ._transport import Transport, start_client
from ._validate import validate_data, validate_function, validate_timeout

DEFAULT_HIGH_WATER_MARK = 16384

_Callback = Callable[..., object]


def _family_name(family: int) -> str:
    return "IPv6" if family == _socket.AF_INET6 else "IPv4"


class Socket(Handle, anyio.abc.ByteStream):
    """A TCP or IPC connection with Node's events, methods and properties.

    It connects in the background (``connect()`` returns at once), writes
    synchronously when the kernel takes the bytes, and delivers its events in
    order. It is also an anyio ``ByteStream``: ``async for chunk in sock``,
    ``receive``, ``send``, ``send_eof`` and ``aclose`` work as anyio's streams do.
    """

    def __init__(
        self,
        options: Mapping[str, Any] | None = None,
        *,
        fd: int | None = None,
        allow_half_open: bool = False,
        readable: bool = True,
        writable: bool = True,
        high_water_mark: int | None = None,
        onread: Mapping[str, Any] | None = None,
        _scope: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(_scope)
        if options is not None:
            opts = dict(options)
            allow_half_open = bool(
                opts.get("allow_half_open", opts.get("allowHalfOpen", allow_half_open))
            )
            high_water_mark = opts.get(
                "high_water_mark", opts.get("highWaterMark", high_water_mark)
            )
        self.allow_half_open = bool(allow_half_open)
        hwm = DEFAULT_HIGH_WATER_MARK
        if high_water_mark is not None and high_water_mark >= 0:
            hwm = int(high_water_mark)
        self.writable_high_water_mark = hwm
        self.readable_high_water_mark = hwm
        self._transport: Transport | None = None
        self.server: Any = None
        self.connecting = False
        self.destroyed = False
        self._had_error = False
        self._connected_once = False
        self._connect_scope: anyio.CancelScope | None = None
        # reading
        self._flowing: bool | None = None
        self._rbuf: deque[bytes] = deque()
        self._rlen = 0
        self._read_eof = False
        self.readable_ended = False
        self._decoder: StringDecoder | None = None
        self._readable_event: anyio.Event | None = None
        self._read_error: BaseException | None = None
        self.bytes_read = 0
        # writing
        self._pending: list[tuple[bytes | memoryview, _Callback | None]] = []
        self._pending_len = 0
        self._written = 0
        self._write_blocked = False
        self._write_cbs: deque[_Callback] = deque()
        self._need_drain = False
        self._drain_event: anyio.Event | None = None
        self.writable_ended = False
        self.writable_finished = False
        self._finish_cbs: list[_Callback] = []
        self._finish_event: anyio.Event | None = None
        # timeout
        self.timeout: float | None = None
        self._timer_scope: anyio.CancelScope | None = None
        self._activity = 0.0
        # address caches (kept after close, as Node)
        self._sockname: Any = None
        self._peername: Any = None
        self._sock_family = 0
        self._no_delay: bool | None = None
        self._keep_alive: tuple[bool, float] | None = None
        self._closed_event: anyio.Event | None = None
        if fd is not None:
            raise NotImplementedError("Socket(fd=...) arrives with the IPC work")
        del readable, writable, onread, kwargs

    # -- the connection --------------------------------------------------------------

    def connect(self, *args: Any, **kwargs: Any) -> Socket:
        """Start connecting (the forms of ``create_connection``) and return at once."""
        options, callback = normalize_args(args, kwargs)
        if "port" not in options and "path" not in options:
            raise _errors.err_missing_args(["options", "port", "path"])
        if callback is not None:
            validate_function(callback, "connectListener")
        if self.destroyed:
            self._reset_for_reconnect()
        if self.connecting or self._transport is not None:
            raise _errors.NodeError(
                "ERR_SOCKET_CONNECTING", "Socket is already connecting or connected"
            )
        target = connect_socket(self, options)  # validates; raises at once on bad input
        if callback is not None:
            self.once("connect", callback)
        timeout = options.get("timeout")
        if timeout is not None:
            self.set_timeout(timeout)
        if options.get("no_delay"):
            self._no_delay = True
        if options.get("keep_alive"):
            self._keep_alive = (True, float(options.get("keep_alive_initial_delay") or 0))
        self.connecting = True
        self._scope.register(self)
        self._scope.spawn_system(self._connect_task, target, tg=self._group)
        return self

    def _reset_for_reconnect(self) -> None:
        self.destroyed = False
        self._had_error = False
        self._read_eof = self.readable_ended = False
        self.writable_ended = self.writable_finished = False
        self._rbuf.clear()
        self._rlen = 0
        self._flowing = None if self._flowing is None else self._flowing
        self._sockname = self._peername = None
        self._need_drain = False
        self._write_blocked = False

    async def _connect_task(self, target: Any) -> None:
        with anyio.CancelScope() as cs:
            self._connect_scope = cs
            try:
                sock = await target.run()
            except Exception as exc:
                if not self.destroyed:
                    self.destroy(exc)
                return
            finally:
                self._connect_scope = None
            if self.destroyed:
                sock.close()
                return
            await self._adopt(sock)

    async def _adopt(self, sock: _socket.socket) -> None:
        group = self._group or self._scope._tg
        transport = await start_client(self._scope.backend, sock, self, group)
        if self.destroyed:
            transport.abort()
            return
        self._attach(transport)
        self.connecting = False
        self._deliver("connect")
        self._deliver("ready")
        self._flush_pending()

    def _attach(self, transport: Transport) -> None:
        """Take ownership of a connected transport (client or accepted)."""
        self._transport = transport
        self._connected_once = True
        sock = transport.sock
        self._sock_family = sock.family
        try:
            self._sockname = sock.getsockname()
            self._peername = sock.getpeername()
        except OSError:
            pass
        if self._no_delay is not None:
            self.set_no_delay(self._no_delay)
        if self._keep_alive is not None:
            self.set_keep_alive(*self._keep_alive)
        if self.timeout:
            self._touch()
        if self._flowing is False or (self._flowing is None and self._queue is not None):
            transport.pause_reading()

    def _flush_pending(self) -> None:
        pending, self._pending = self._pending, []
        self._pending_len = 0
        for chunk, callback in pending:
            if self.destroyed:
                break
            self._write_now(chunk, callback)
        if self.writable_ended and not self.destroyed:
            self._end_now()

    # -- reading (called by the transport) -----------------------------------------------

    def data_received(self, data: bytes) -> None:
        self.bytes_read += len(data)
        if self.timeout:
            self._touch()
        if self._flowing and not self._rbuf and self._queue is None:
            decoder = self._decoder
            if decoder is not None:
                text = decoder.write(data)
                if not text:
                    return
                self._deliver("data", text)
                return
            if "data" in self._async_events:
                self._deliver("data", data)
                return
            try:
                self.emit("data", data)
            except Exception as exc:
                self._scope.report(exc)
            return
        self._rbuf.append(bytes(data))
        self._rlen += len(data)
        if self._rlen >= self.readable_high_water_mark and self._transport is not None:
            self._transport.pause_reading()
        self._wake_reader()

    def eof_received(self) -> None:
        self._read_eof = True
        if self.timeout:
            self._touch()
        self._wake_reader()
        if not self._rbuf and self._flowing:
            self._emit_end()

    def connection_lost(self, exc: OSError | None) -> None:
        if self.destroyed:
            return
        if exc is None:
            self.destroy()
            return
        syscall = "write" if exc.errno in (errno.EPIPE,) else "read"
        self.destroy(_errors.from_os_error(exc, syscall))

    def _emit_end(self) -> None:
        if self.readable_ended:
            return
        self.readable_ended = True
        if self._decoder is not None:
            rest = self._decoder.end()
            if rest:
                self._deliver("data", rest)
        self._deliver("end")
        if not self.allow_half_open:
            self._deliver_call(self._auto_end)
        elif self.writable_finished:
            self._deliver_call(self.destroy)

    def _auto_end(self) -> None:
        if not self.destroyed:
            if self.writable_finished:
                self.destroy()
            else:
                self.end()

    def _wake_reader(self) -> None:
        event = self._readable_event
        if event is not None:
            self._readable_event = None
            event.set()

    def _flow(self) -> None:
        """Deliver buffered data in flowing mode (after resume or a new 'data' listener)."""
        while self._flowing and self._rbuf and not self.destroyed:
            chunk = self._rbuf.popleft()
            self._rlen -= len(chunk)
            if self._decoder is not None:
                text = self._decoder.write(chunk)
                if text:
                    self._deliver("data", text)
            else:
                self._deliver("data", chunk)
        if self._flowing and not self._rbuf and self._read_eof:
            self._emit_end()
        elif self._flowing and self._transport is not None and self._queue is None:
            self._transport.resume_reading()

    def _backlog_changed(self, backlog: bool) -> None:
        transport = self._transport
        if transport is None:
            return
        if backlog:
            transport.pause_reading()
        elif self._flowing is not False and self._rlen < self.readable_high_water_mark:
            transport.resume_reading()

    def _add(self, event: str, listener: Any, prepend: bool, once: bool) -> None:
        super()._add(event, listener, prepend, once)
        if event == "data" and self._flowing is None:
            self.resume()

    def pause(self) -> Socket:
        """Stop emitting 'data'; incoming bytes wait in the kernel (backpressure to the peer)."""
        self._flowing = False
        if self._transport is not None:
            self._transport.pause_reading()
        return self

    def resume(self) -> Socket:
        """Emit 'data' again, starting with anything buffered."""
        was = self._flowing
        self._flowing = True
        if not was:
            self._scope.call_soon(self._flow)
        return self

    def is_paused(self) -> bool:
        return self._flowing is False

    def set_encoding(self, encoding: str | None = "utf8") -> Socket:
        """Emit 'data' as ``str`` decoded with ``encoding`` (multi-byte characters kept whole)."""
        self._decoder = StringDecoder(normalize_encoding(encoding or "utf8"))
        return self

    # -- writing -------------------------------------------------------------------

    def write(
        self,
        data: Any,
        encoding: str | _Callback | None = None,
        callback: _Callback | None = None,
    ) -> bool:
        """Queue ``data``; False once the queue reaches the high-water mark ('drain' follows)."""
        if callable(encoding):
            callback, encoding = encoding, None
        if data is None:
            raise _errors.NodeTypeError(
                "ERR_STREAM_NULL_VALUES", "May not write null values to stream"
            )
        chunk = validate_data(data, encoding)
        if callback is not None:
            validate_function(callback, "cb")
        if self.writable_ended:
            self._write_after_end(callback)
            return False
        if self.destroyed:
            if callback is not None:
                self._scope.call_soon(callback, _errors.err_stream_destroyed("write"))
            return False
        if self._transport is None:
            if not self.connecting:
                err = _errors.err_socket_closed()
                if callback is not None:
                    self._scope.call_soon(callback, err)
                self.destroy(err)
                return False
            self._pending.append((chunk, callback))
            self._pending_len += len(chunk)
            self._written += len(chunk)
            if self._pending_len >= self.writable_high_water_mark:
                self._need_drain = True
                return False
            return True
        return self._write_now(chunk, callback, count=True)

    def _write_now(
        self, chunk: bytes | memoryview, callback: _Callback | None, count: bool = False
    ) -> bool:
        transport = self._transport
        assert transport is not None
        if self.timeout:
            self._touch()
        if count:
            self._written += len(chunk)
        transport.write(chunk)
        if not self._write_blocked:
            if callback is not None:
                self._scope.call_soon(callback, None)
            return True
        if callback is not None:
            self._write_cbs.append(callback)
        if transport.get_write_buffer_size() >= self.writable_high_water_mark:
            self._need_drain = True
            return False
        return True

    def pause_writing(self) -> None:
        self._write_blocked = True

    def resume_writing(self) -> None:
        self._write_blocked = False
        if self.timeout:
            self._touch()
        callbacks = self._write_cbs
        while callbacks:
            self._deliver_call_safe(callbacks.popleft(), None)
        if self._need_drain:
            self._need_drain = False
            self._deliver("drain")
            event = self._drain_event
            if event is not None:
                self._drain_event = None
                event.set()
        if self.writable_ended and not self.writable_finished and not self.destroyed:
            self._scope.call_soon(self._finish)

    def _deliver_call_safe(self, fn: _Callback, *args: Any) -> None:
        try:
            fn(*args)
        except Exception as exc:
            self._scope.report(exc)

    def _write_after_end(self, callback: _Callback | None) -> None:
        err = _errors.err_stream_write_after_end()
        if callback is not None:
            self._scope.call_soon(callback, err)
        self.destroy(err)

    def end(
        self,
        data: Any = None,
        encoding: str | _Callback | None = None,
        callback: _Callback | None = None,
    ) -> Socket:
        """Send ``data`` if given, then FIN once everything is flushed; 'finish' follows."""
        if callable(data):
            data, callback = None, data
        elif callable(encoding):
            encoding, callback = None, encoding
        if data is not None:
            self.write(data, encoding)
        if callback is not None:
            if self.writable_finished:
                self._scope.call_soon(callback, None)
            else:
                self._finish_cbs.append(callback)
        if self.writable_ended or self.destroyed:
            return self
        self.writable_ended = True
        if self._transport is not None and not self.connecting:
            self._end_now()
        return self

    def _end_now(self) -> None:
        transport = self._transport
        assert transport is not None
        transport.write_eof()
        if not self._write_blocked:
            self._scope.call_soon(self._finish)

    def _finish(self) -> None:
        if self.writable_finished or self.destroyed:
            return
        self.writable_finished = True
        self._deliver("finish")
        for cb in self._finish_cbs:
            self._deliver_call(lambda cb=cb: cb(None))  # type: ignore[misc]
        self._finish_cbs.clear()
        event = self._finish_event
        if event is not None:
            self._finish_event = None
            event.set()
        if self.readable_ended:
            self._deliver_call(self.destroy)

    # -- closing -------------------------------------------------------------------

    def destroy(self, error: BaseException | None = None) -> Socket:
        """Close at once; 'error' (if ``error`` is given) then 'close'(had_error) follow."""
        if self.destroyed:
            return self
        self.destroyed = True
        was_connecting = self.connecting
        self.connecting = False
        self._had_error = error is not None
        if self._connect_scope is not None:
            self._connect_scope.cancel()
        if self._timer_scope is not None:
            self._timer_scope.cancel()
            self._timer_scope = None
        if self._transport is not None:
            self._transport.abort()
        self._transport_closed_at = self._transport
        pending, self._pending = self._pending, []
        self._pending_len = 0
        for _, callback in pending:
            if callback is not None:
                self._scope.call_soon(callback, _errors.err_socket_closed_before_connection())
        for callback in self._write_cbs:
            self._scope.call_soon(callback, error or _errors.err_stream_destroyed("write"))
        self._write_cbs.clear()
        self._wake_reader()
        for event in (self._drain_event, self._finish_event):
            if event is not None:
                event.set()
        self._drain_event = self._finish_event = None
        del was_connecting
        self._scope.call_soon(self._emit_close, error)
        return self

    def _emit_close(self, error: BaseException | None) -> None:
        if error is not None:
            self._deliver("error", error)
        self._deliver("close", error is not None)
        self._deliver_call(self._closed_done)

    def _closed_done(self) -> None:
        self._transport = None
        self._scope.unregister(self)
        if self.server is not None:
            self.server._connection_closed(self)
        event = self._closed_event
        if event is not None:
            self._closed_event = None
            event.set()

    def reset_and_destroy(self) -> Socket:
        """Close with an RST (the peer sees ECONNRESET) instead of a FIN."""
        if self._transport is not None:
            try:
                import struct

                self._transport.sock.setsockopt(
                    _socket.SOL_SOCKET, _socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
            except OSError:
                pass
            return self.destroy()
        if self.connecting:
            self.once("connect", self.reset_and_destroy)
            return self
        return self.destroy(_errors.err_socket_closed())

    def destroy_soon(self) -> None:
        """End, and destroy once everything written has been flushed."""
        if self.writable_finished:
            self.destroy()
        else:
            self.end()
            self.once("finish", lambda: self.destroy())

    def _scope_close(self) -> None:
        self.destroyed = True
        if self._connect_scope is not None:
            self._connect_scope.cancel()
        if self._transport is not None:
            self._transport.abort()

    # -- timeout -------------------------------------------------------------------

    def set_timeout(self, seconds: float, callback: _Callback | None = None) -> Socket:
        """Emit 'timeout' after ``seconds`` of inactivity (reads or writes); 0 turns it off."""
        seconds = validate_timeout(seconds, "msecs")
        if callback is not None:
            validate_function(callback, "callback")
        if self.destroyed:
            return self
        if self._timer_scope is not None:
            self._timer_scope.cancel()
            self._timer_scope = None
        if seconds == 0 or math.isinf(seconds):
            self.timeout = 0 if seconds == 0 else None
            if callback is not None:
                self.remove_listener("timeout", callback)
            return self
        self.timeout = seconds
        if callback is not None:
            self.once("timeout", callback)
        self._touch()
        self._scope.spawn_system(self._timer, seconds, tg=self._group)
        return self

    def _touch(self) -> None:
        self._activity = anyio.current_time()

    async def _timer(self, seconds: float) -> None:
        with anyio.CancelScope() as cs:
            self._timer_scope = cs
            deadline = self._activity + seconds
            while True:
                await anyio.sleep_until(deadline)
                if self.destroyed or self.timeout != seconds:
                    return
                idle_until = self._activity + seconds
                if anyio.current_time() >= idle_until:
                    self._deliver("timeout")
                    self._activity = anyio.current_time()
                    deadline = self._activity + seconds
                else:
                    deadline = idle_until

    # -- options -------------------------------------------------------------------

    def set_no_delay(self, no_delay: bool = True) -> Socket:
        """Turn Nagle's algorithm off (True) or on (False)."""
        self._no_delay = bool(no_delay)
        if self._transport is not None and self._sock_family in (_socket.AF_INET, _socket.AF_INET6):
            try:
                self._transport.sock.setsockopt(
                    _socket.IPPROTO_TCP, _socket.TCP_NODELAY, int(bool(no_delay))
                )
            except OSError:
                pass
        return self

    def set_keep_alive(self, enable: bool = False, initial_delay: float = 0) -> Socket:
        """Turn TCP keep-alive on or off; ``initial_delay`` is in seconds (whole ones are used)."""
        self._keep_alive = (bool(enable), initial_delay)
        transport = self._transport
        if transport is not None and self._sock_family in (_socket.AF_INET, _socket.AF_INET6):
            sock = transport.sock
            try:
                sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_KEEPALIVE, int(bool(enable)))
                delay = int(initial_delay)
                if enable and delay > 0 and hasattr(_socket, "TCP_KEEPIDLE"):
                    sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_KEEPIDLE, delay)
            except OSError:
                pass
        return self

    # -- properties ----------------------------------------------------------------

    def address(self) -> dict[str, Any] | str | None:
        """The local address: ``{'port', 'family', 'address'}`` for TCP, the path for IPC."""
        name = self._sockname
        if name is None:
            return {} if not self._connected_once else None
        if isinstance(name, (str, bytes)):
            return name if isinstance(name, str) else name.decode()
        return {"address": name[0], "family": _family_name(self._sock_family), "port": name[1]}

    @property
    def local_address(self) -> str | None:
        name = self._sockname
        return name[0] if isinstance(name, tuple) else None

    @property
    def local_port(self) -> int | None:
        name = self._sockname
        return name[1] if isinstance(name, tuple) else None

    @property
    def local_family(self) -> str | None:
        return _family_name(self._sock_family) if isinstance(self._sockname, tuple) else None

    @property
    def remote_address(self) -> str | None:
        name = self._peername
        return name[0] if isinstance(name, tuple) else None

    @property
    def remote_port(self) -> int | None:
        name = self._peername
        return name[1] if isinstance(name, tuple) else None

    @property
    def remote_family(self) -> str | None:
        return _family_name(self._sock_family) if isinstance(self._peername, tuple) else None

    @property
    def bytes_written(self) -> int:
        return self._written

    @property
    def writable_length(self) -> int:
        if self._transport is not None and not self.destroyed:
            return self._pending_len + self._transport.get_write_buffer_size()
        return self._pending_len

    @property
    def buffer_size(self) -> int | None:
        if self._transport is None and not self.connecting:
            return None
        return self.writable_length

    @property
    def pending(self) -> bool:
        return self._transport is None or self.connecting

    @property
    def ready_state(self) -> str:
        if self.connecting:
            return "opening"
        if self.destroyed or (self._connected_once and self._transport is None):
            return "closed"
        readable = not self._read_eof
        writable = not self.writable_ended
        if readable and writable:
            return "open"
        if readable:
            return "readOnly"
        if writable:
            return "writeOnly"
        return "closed"

    @property
    def readable(self) -> bool:
        return not self.destroyed and not self.readable_ended

    @property
    def writable(self) -> bool:
        return not self.destroyed and not self.writable_ended

    # -- the structured face (anyio ByteStream) ----------------------------------------

    async def receive(self, max_bytes: int = 65536) -> bytes:
        """Return the next chunk (paused mode); EndOfStream after the peer's FIN."""
        while not self._rbuf:
            if self.destroyed:
                if self._had_error:
                    raise anyio.BrokenResourceError
                raise anyio.ClosedResourceError
            if self._read_eof:
                if not self.readable_ended:
                    self._emit_end()
                raise anyio.EndOfStream
            if self._transport is not None and self._queue is None:
                self._transport.resume_reading()
            self._readable_event = event = anyio.Event()
            await event.wait()
        chunk = self._rbuf.popleft()
        if len(chunk) > max_bytes:
            self._rbuf.appendleft(chunk[max_bytes:])
            chunk = chunk[:max_bytes]
        self._rlen -= len(chunk)
        if (
            self._rlen < self.readable_high_water_mark
            and self._transport is not None
            and self._queue is None
            and self._flowing is not False
        ):
            self._transport.resume_reading()
        return chunk

    async def send(self, item: bytes) -> None:
        """Write ``item``, then wait while the write queue is over its high-water mark."""
        if self.destroyed:
            raise anyio.BrokenResourceError if self._had_error else anyio.ClosedResourceError
        if self.writable_ended:
            raise anyio.ClosedResourceError
        if not self.write(item):
            while self._need_drain and not self.destroyed:
                self._drain_event = event = anyio.Event()
                await event.wait()
            if self.destroyed:
                raise anyio.BrokenResourceError

    async def send_eof(self) -> None:
        """End the writing side (FIN) once everything queued is flushed."""
        self.end()
        await self._wait_finished()

    async def _wait_finished(self) -> None:
        while not self.writable_finished and not self.destroyed:
            if self.connecting or self._transport is not None:
                self._finish_event = event = anyio.Event()
                await event.wait()
            else:
                break

    async def aclose(self) -> None:
        """Close gracefully: flush what was accepted, send FIN, then close the socket."""
        try:
            if not self.destroyed:
                self.end()
                await self._wait_finished()
        finally:
            self.destroy()

    async def wait_closed(self) -> None:
        """Wait until 'close' has been emitted."""
        if self._transport is None and not self.connecting:
            return
        if self._closed_event is None:
            self._closed_event = anyio.Event()
        await self._closed_event.wait()

    @property
    def extra_attributes(self) -> Mapping[Any, Callable[[], Any]]:
        def sock() -> _socket.socket:
            if self._transport is None:
                raise anyio.TypedAttributeLookupError("not connected")
            return self._transport.sock

        attrs: dict[Any, Callable[[], Any]] = {
            SocketAttribute.raw_socket: sock,
            SocketAttribute.family: lambda: self._sock_family,
            SocketAttribute.local_address: lambda: self._sockname,
        }
        if isinstance(self._sockname, tuple):
            attrs[SocketAttribute.local_port] = lambda: self._sockname[1]
        if self._peername is not None:
            attrs[SocketAttribute.remote_address] = lambda: self._peername
            if isinstance(self._peername, tuple):
                attrs[SocketAttribute.remote_port] = lambda: self._peername[1]
        return attrs

    # -- pipe ------------------------------------------------------------------------

    def pipe(self, destination: Any, end: bool = True) -> Any:
        """Send everything read to ``destination`` with backpressure; end it at 'end' if ``end``."""

        def on_data(chunk: Any) -> None:
            if destination.write(chunk) is False:
                self.pause()
                destination.once("drain", self.resume)

        self.on("data", on_data)
        if end:
            self.once("end", lambda: destination.end())
        return destination

    def __repr__(self) -> str:
        state = self.ready_state
        return f"<trionet.Socket {state} local={self._sockname!r} remote={self._peername!r}>"


def create_connection(*args: Any, **kwargs: Any) -> Socket:
    """Create a Socket and start connecting it; the forms of Node's ``net.connect``."""
    options, _callback = normalize_args(args, kwargs)
    sock = Socket(
        allow_half_open=bool(options.get("allow_half_open", False)),
        high_water_mark=options.get("high_water_mark"),
    )
    return sock.connect(*args, **kwargs)


connect = create_connection
