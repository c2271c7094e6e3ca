"""``Socket``: Node's net.Socket (a Duplex stream) over a transport, and an anyio ByteStream."""

from __future__ import annotations

import errno
import functools
import socket as _socket
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import anyio
import anyio.abc
from anyio.abc import SocketAttribute

from . import _errors
from ._args import normalize_args
from ._connect import ConnectPlan
from ._encoding import StringDecoder, normalize_encoding
from ._events import _NO_EVENTS, EventEmitter, Listener
from ._handle import Handle
from ._ipc import OnRead, PendingTransport, adopt_connected
from ._transport import Transport, start_client
from ._validate import normalize_options, validate_data, validate_function, validate_timeout

DEFAULT_HIGH_WATER_MARK = 16384
_TCP_FAMILIES = (_socket.AF_INET, _socket.AF_INET6)

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

    # Slots keep an idle connection small (a dict of this many attributes costs
    # 1.5 KiB); the ByteStream bases still give instances a __dict__ for users' own
    # attributes. Containers are made when first needed (an empty deque is 760 B).
    __slots__ = (
        "_activity",
        "_close_inline",
        "_close_pending",
        "_closed_event",
        "_connect_scope",
        "_connected_once",
        "_decoder",
        "_drain_event",
        "_ended_by_peer",
        "_finish_cbs",
        "_finish_event",
        "_flowing",
        "_had_error",
        "_keep_alive",
        "_need_drain",
        "_no_delay",
        "_onread",
        "_onread_stopped",
        "_peername",
        "_pending",
        "_pending_len",
        "_queue_mark",
        "_rbuf",
        "_read_eof",
        "_readable_event",
        "_rlen",
        "_sock_family",
        "_sockname",
        "_timer_scope",
        "_transport",
        "_write_blocked",
        "_write_cbs",
        "_written",
        "allow_half_open",
        "bytes_read",
        "connecting",
        "destroyed",
        "get_read_buffer",
        "readable_ended",
        "readable_high_water_mark",
        "server",
        "timeout",
        "writable_ended",
        "writable_finished",
        "writable_high_water_mark",
    )

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
        if options is not None or kwargs:
            # Node's option names (allowHalfOpen=...) work as keywords too; unknown keys
            # are ignored, as Node ignores them.
            opts = normalize_options(options, kwargs)
            allow_half_open = bool(opts.get("allow_half_open", allow_half_open))
            high_water_mark = opts.get("high_water_mark", high_water_mark)
            fd = opts.get("fd", fd)
            readable = opts.get("readable", readable)
            writable = opts.get("writable", writable)
            onread = opts.get("onread", onread)
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
        self._rbuf: deque[bytes] | None = None
        self._rlen = 0
        self._read_eof = False
        self.readable_ended = False
        self._decoder: StringDecoder | None = None
        self._readable_event: anyio.Event | None = None
        self.bytes_read = 0
        # writing
        self._pending: list[tuple[bytes | memoryview, _Callback | None]] | None = None
        self._pending_len = 0
        self._written = 0
        self._write_blocked = False
        self._write_cbs: deque[_Callback] | None = None
        self._need_drain = False
        self._drain_event: anyio.Event | None = None
        self.writable_ended = False
        self.writable_finished = False
        self._ended_by_peer = False
        self._finish_cbs: list[_Callback] | None = None
        self._finish_event: anyio.Event | None = None
        # timeout
        self.timeout: float | None = None
        self._timer_scope: anyio.CancelScope | None = None
        self._activity = 0.0
        self._queue_mark = 0  # write queue size at the last write or idle check
        # address caches (kept after close, as Node)
        self._sockname: Any = None
        self._peername: Any = None
        self._sock_family = 0
        self._no_delay: bool | None = None
        self._keep_alive: tuple[bool, float] | None = None
        self._closed_event: anyio.Event | None = None
        self._close_pending = False  # destroyed, 'close' not yet emitted
        self._close_inline = False  # set by _finish around its automatic destroy()
        # onread: reads go into the caller's buffer (buffer_updated), never to 'data'
        #: The engine's hook for Node's ``onread`` (see ``StreamProtocol``); None: data_received.
        self.get_read_buffer: Callable[[], Any] | None = None
        self._onread: OnRead | None = None
        self._onread_stopped = False  # the onread callback returned False: until resume()
        if onread is not None:
            self._onread = OnRead(onread)
            self.get_read_buffer = self._onread_buffer
            self._flowing = True
        if fd is not None:
            self._open_fd(adopt_connected(fd), readable is not False, writable is not False)

    def _open_fd(self, sock: _socket.socket, readable: bool, writable: bool) -> None:
        """Wrap an inherited connected descriptor (``Socket(fd=...)``), open at once as Node.

        No 'connect'/'ready'; addresses are known now; writes before the engine has
        adopted the socket (next loop iteration) wait in a ``PendingTransport``.
        """
        if not readable:  # never read (Node: readableEnded, no 'data', no 'end')
            self._read_eof = self.readable_ended = True
            self.data_received = _discard_read  # type: ignore[method-assign]
            self.get_read_buffer = None
        if not writable:
            self.writable_ended = self.writable_finished = True
        if self._onread is not None and readable:
            try:
                self._onread.start()
            except BaseException:
                sock.detach()
                raise
        pending = PendingTransport(sock, self)
        if not readable:
            pending.pause_reading()
        self._attach(pending, sock.family)
        self._scope.register(self)
        self._scope.spawn_system(self._fd_task, pending, tg=self._group)

    async def _fd_task(self, pending: PendingTransport) -> None:
        if pending.closed:
            return
        group = self._group or self._scope._tg
        pending.started = True
        try:
            transport = await start_client(self._scope, pending.sock, self, group)
        except BaseException:
            pending.sock.close()
            raise
        if self.destroyed or pending.closed:
            transport.abort()
            return
        self._transport = transport
        pending.hand_over(transport)

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
        target = ConnectPlan(self, options)  # validates; raises at once on bad input
        if self._onread is not None:  # Node takes the factory's first buffer here
            self._onread.start()
            self._onread_stopped = False
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
        self.writable_ended = self.writable_finished = self._ended_by_peer = False
        self._rbuf = None
        self._rlen = 0
        self._sockname = self._peername = None
        self._need_drain = False
        self._write_blocked = False
        self._transport = None
        self.bytes_read = self._written = 0  # counters are per connection (Node I5)

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
        transport = await start_client(self._scope, sock, self, group)
        if self.destroyed:
            transport.abort()
            return
        self._attach(transport, sock.family)
        self.connecting = False
        self._flush_pending()  # before 'connect': a write in its handler comes after (Node H1)
        self._deliver("connect")
        self._deliver("ready")
        if self._rbuf or self._read_eof:  # read before 'connect' (asyncio engines)
            self._flow()
            if self._read_eof and not self._rbuf:
                self._emit_end()

    def _attach(self, transport: Transport, family: int) -> None:
        """Take ownership of a connected transport (client or accepted) of ``family``.

        The addresses are read when first asked for, as Node does: most
        connections never ask, and each read is a system call."""
        self._transport = transport
        self._connected_once = True
        self._sock_family = family
        self._sync_no_delay(transport)
        if self._keep_alive is not None:
            self.set_keep_alive(*self._keep_alive)
        if self.timeout:
            self._touch()
        if self._flowing is False or self._queue is not None:
            transport.pause_reading()

    @classmethod
    def _accepted(cls, server: Any, transport: Any, family: int) -> Socket:
        """A socket for a connection ``server`` accepted: ``__init__`` with the server's
        options, then ``_attach``, in one call without the general argument handling.

        Every field is set here directly (keep in step with ``__init__`` and ``_attach``;
        tests/test_fast_paths.py compares each field with a socket made the general way)."""
        self = cls.__new__(cls)
        # EventEmitter and Handle
        self._events = {}
        self._async_events = self._warned = _NO_EVENTS
        self._max_listeners = None
        self._scope = server._scope
        self._refed = True
        self._group = server._group
        self._queue = None
        # Socket
        self.allow_half_open = bool(server.allow_half_open)
        hwm = server.high_water_mark
        hwm = int(hwm) if hwm is not None and hwm >= 0 else DEFAULT_HIGH_WATER_MARK
        self.writable_high_water_mark = self.readable_high_water_mark = hwm
        self._transport = transport
        self.server = server
        self.connecting = self.destroyed = self._had_error = False
        self._connected_once = True
        self._connect_scope = None
        self._flowing = False if server.pause_on_connect else None
        self._rbuf = self._decoder = self._readable_event = None
        self._rlen = self.bytes_read = 0
        self._read_eof = self.readable_ended = False
        self._pending = self._write_cbs = self._drain_event = None
        self._pending_len = self._written = self._queue_mark = 0
        self._write_blocked = self._need_drain = False
        self.writable_ended = self.writable_finished = self._ended_by_peer = False
        self._finish_cbs = self._finish_event = None
        self.timeout = self._timer_scope = None
        self._activity = 0.0
        self._sockname = self._peername = None
        self._sock_family = family
        self._closed_event = None
        self._close_pending = self._close_inline = False
        self.get_read_buffer = self._onread = None
        self._onread_stopped = False
        transport.protocol = self  # before 'connection': a write there may block at once
        # _attach
        no_delay = transport.no_delay
        if server.no_delay:
            self._no_delay = True
            if no_delay is not True and family in _TCP_FAMILIES:
                self.set_no_delay(True)
        else:
            self._no_delay = None
            if no_delay and family in _TCP_FAMILIES:
                self.set_no_delay(False)
        if server.keep_alive:
            self.set_keep_alive(True, float(server.keep_alive_initial_delay or 0))
        else:
            self._keep_alive = None
        if self._flowing is False:
            transport.pause_reading()
        return self

    def _flush_pending(self) -> None:
        pending, self._pending = self._pending or (), None
        self._pending_len = 0
        for chunk, callback in pending:
            if self.destroyed:  # a write failed: every later callback still runs, once
                if callback is not None:
                    self._scope.call_soon(callback, _errors.err_stream_destroyed("write"))
                continue
            self._write_now(chunk, callback)
        if self.writable_ended and not self.destroyed:
            self._end_now()
        if self._need_drain:  # the kernel took it all: 'drain' (or a waiting send()) follows
            self._scope.call_soon(self._drain_if_idle)

    def _drain_if_idle(self) -> None:
        if not self._write_blocked and not self.destroyed:
            self.resume_writing()

    # -- reading (called by the transport) -----------------------------------------------

    def data_received(self, data: bytes) -> None:
        self.bytes_read += len(data)
        if self.timeout:
            self._touch()
        if self._flowing and not self._rbuf and self._queue is None and not self.connecting:
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
            # emit('data', data) to plain listeners, inlined: the hot path of every read
            # (a call with *args is a C-level call; this loop's calls are not).
            listeners = self._events.get("data")
            if listeners is None:
                return
            try:
                for listener in listeners:
                    result = listener(data)
                    if (
                        result is not None
                        and result is not True
                        and result is not False
                        and hasattr(result, "__await__")
                    ):
                        # as emit(): an awaitable returned by a plain listener runs as a task
                        self._start_async_listener(lambda awaitable: awaitable, (result,))
            except Exception as exc:
                self._scope.report(exc)
            return
        rbuf = self._rbuf
        if rbuf is None:
            rbuf = self._rbuf = deque()
        rbuf.append(bytes(data))
        self._rlen += len(data)
        if self._rlen >= self.readable_high_water_mark and self._transport is not None:
            self._transport.pause_reading()
        self._wake_reader()

    def eof_received(self) -> None:
        self._read_eof = True
        if self.timeout:
            self._touch()
        if self._readable_event is not None:
            self._wake_reader()
        if not self._rbuf and not self.connecting:  # 'end' now, flowing or not (as Node)
            self._emit_end()

    def _onread_buffer(self) -> Any:
        onread = self._onread
        assert onread is not None
        return onread.buffer

    def buffer_updated(self, nbytes: int) -> None:
        """A read went into the onread buffer: call ``callback(nread, buf)`` (no 'data')."""
        onread = self._onread
        assert onread is not None
        self.bytes_read += nbytes
        if self.timeout:
            self._touch()
        if self.connecting or self._onread_stopped or self._flowing is False:
            # Read before 'connect' or while stopped (an engine that had not stopped yet:
            # an asyncio loop adopting the socket). _flow replays it through the buffer.
            if self._rbuf is None:
                self._rbuf = deque()
            with memoryview(onread.buffer) as view, view.cast("B") as raw:
                self._rbuf.append(raw[:nbytes].tobytes())
            self._rlen += nbytes
            return
        self._onread_call(nbytes)

    def _onread_call(self, nbytes: int) -> None:
        """Run the onread callback for ``nbytes`` now in its buffer; False stops reading."""
        onread = self._onread
        assert onread is not None
        try:
            keep = onread.callback(nbytes, onread.buffer)
        except Exception as exc:
            self._scope.report(exc)
            return
        if keep is False and not self.destroyed:
            self._onread_stopped = True
            if self._transport is not None:
                self._transport.pause_reading()
        if onread.factory is not None and not self.destroyed:
            try:
                onread.buffer = onread.next_buffer()
            except Exception as exc:
                self.destroy(exc)

    def _onread_flow(self) -> None:
        """``_flow`` for onread: replay bytes read before 'connect' through the user's buffer."""
        onread = self._onread
        assert onread is not None
        rbuf = self._rbuf
        while self._flowing and rbuf and not self.destroyed and not self._onread_stopped:
            assert rbuf is not None
            chunk = rbuf.popleft()
            with memoryview(onread.buffer) as view, view.cast("B") as raw:
                n = min(len(raw), len(chunk))
                raw[:n] = chunk[:n]
            if n < len(chunk):
                rbuf.appendleft(chunk[n:])
            self._rlen -= n
            self._onread_call(n)
        if not self._flowing or self._onread_stopped or self.destroyed:
            return
        if not rbuf and self._read_eof:
            self._emit_end()
        elif self._transport is not None and self._queue is None:
            self._transport.resume_reading()

    def connection_lost(self, exc: OSError | None, syscall: str = "read") -> None:
        if self.destroyed:
            return
        if exc is None:
            self.destroy()
            return
        if exc.errno == errno.EPIPE:  # (only ever a write's: an engine may not have said)
            syscall = "write"
        self.destroy(_errors.from_os_error(exc, syscall))

    def _emit_end(self) -> None:
        if self.readable_ended:
            return
        self.readable_ended = True
        if self._decoder is not None:
            rest = self._decoder.end()
            if rest:
                self._deliver("data", rest)
        # (On this close path and the ones below, _deliver is only called when there is a
        # listener or a queue, and _deliver_call runs its function itself without a queue:
        # their own tests, made without a call, as every connection goes this way.)
        if "end" in self._events or self._queue is not None:
            self._deliver("end")
        if not self.allow_half_open:
            if self._queue is None:
                try:
                    self._auto_end()
                except Exception as exc:
                    self._scope.report(exc)
            else:
                self._deliver_call(self._auto_end)
        elif self.writable_finished:
            self._deliver_call(self.destroy)

    def _auto_end(self) -> None:
        if not self.destroyed:
            if self.writable_finished:
                self.destroy()
            elif not self.writable_ended:
                self._ended_by_peer = True
                if type(self).end is not Socket.end:  # a subclass's own end() is called
                    self.end()
                    return
                # end() without arguments, inlined
                self.writable_ended = True
                transport = self._transport
                if transport is not None and not self.connecting:
                    transport.write_eof()  # _end_now, inlined
                    if not self._write_blocked:
                        self._scope.call_soon(self._finish)

    def _wake_reader(self) -> None:
        event = self._readable_event
        if event is not None:
            self._readable_event = None
            event.set()

    def _flow(self) -> None:
        """Deliver buffered data in flowing mode (after resume or a new 'data' listener)."""
        if self._onread is not None:
            self._onread_flow()
            return
        rbuf = self._rbuf
        while self._flowing and rbuf and not self.destroyed:
            chunk = rbuf.popleft()
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
        elif (
            self._flowing is not False
            and self._rlen < self.readable_high_water_mark
            and not self._onread_stopped
        ):
            transport.resume_reading()
        if not backlog and self._flowing and (self._rbuf or self._read_eof):
            self._flow()  # what arrived while async listeners ran

    def _add(self, event: str, listener: Any, prepend: bool, once: bool) -> None:
        super()._add(event, listener, prepend, once)
        if event == "data" and self._flowing is None:
            self.resume()

    def on(self, event: str, listener: Listener) -> Socket:
        EventEmitter.on(self, event, listener)
        if event == "data" and self._flowing is None:
            # EventEmitter.on's fast path stored the first 'data' listener (its _add path
            # resumed already): resume()'s first-listener case, inlined, as every
            # connection takes this path.
            if (
                self._rbuf
                or self._read_eof
                or self._onread is not None
                or type(self).resume is not Socket.resume  # a subclass's own resume()
            ):
                self.resume()
            else:
                self._flowing = True
                transport = self._transport
                if transport is not None and self._queue is None:
                    transport.resume_reading()
        return self

    add_listener = on

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
        stopped, self._onread_stopped = self._onread_stopped, False
        if was is None and not self._rbuf and not self._read_eof and self._onread is None:
            # The first 'data' listener with nothing buffered: no tick needed, only reading
            # (receive() may have left it paused).
            if self._transport is not None and self._queue is None:
                self._transport.resume_reading()
            return self
        if not was or stopped:  # (stopped: the onread callback had returned False)
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
        transport = self._transport
        if (
            data.__class__ is bytes
            and encoding is None
            and callback is None
            and transport is not None
            and not self.writable_ended
            and not self.destroyed
        ):
            # The hot path (bytes, no callback, connected): _write_now inlined (keep in step).
            if self.timeout:
                self._touch()
            self._written += len(data)
            transport.write(data)
            if not self._write_blocked:
                return True
            queued = self._queue_mark = transport.get_write_buffer_size()  # see _timer
            if queued >= self.writable_high_water_mark:
                self._need_drain = True
                return False
            return True
        if callable(encoding):
            callback, encoding = encoding, None
        if data is None:
            raise _errors.err_stream_null_values()
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
            if self._pending is None:
                self._pending = []
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
        # (write() has a copy of this for bytes without a callback: keep them in step)
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
            if self._write_cbs is None:
                self._write_cbs = deque()
            self._write_cbs.append(callback)
        queued = self._queue_mark = transport.get_write_buffer_size()  # see _timer
        if queued >= self.writable_high_water_mark:
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
        while callbacks:  # (a callback may write and queue another)
            self._deliver_call(functools.partial(callbacks.popleft(), None))
        if self._need_drain:
            self._need_drain = False
            if not self.writable_ended:  # Node emits no 'drain' once end() was called
                self._deliver("drain")
            event = self._drain_event
            if event is not None:
                self._drain_event = None
                event.set()
        if self.writable_ended and not self.writable_finished and not self.destroyed:
            self._scope.call_soon(self._finish)

    def _write_after_end(self, callback: _Callback | None) -> None:
        # After the automatic end that follows the peer's FIN, Node's error is EPIPE.
        if self._ended_by_peer:
            err: Exception = _errors.err_socket_ended_by_other_party()
        else:
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
            elif self.destroyed:
                self._scope.call_soon(callback, _errors.err_stream_destroyed("end"))
            elif self._finish_cbs is None:
                self._finish_cbs = [callback]
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
        callbacks = self._finish_cbs
        event = self._finish_event
        quiet = callbacks is None and event is None and "finish" not in self._events
        if callbacks is not None:
            self._finish_cbs = None
            for cb in callbacks:  # Node v20 calls end()'s callbacks just before 'finish'
                self._deliver_call(lambda cb=cb: cb(None))  # type: ignore[misc]
        if not quiet or self._queue is not None:
            self._deliver("finish")
        if event is not None:
            self._finish_event = None
            event.set()
        if self.readable_ended:
            if self._queue is None:
                # The automatic destroy(). Its 'close' is emitted in this tick, not the next,
                # when nothing can tell the two apart: no user code ran in this tick (no
                # end() callback, 'finish' listener or waiter) and no other tick is queued
                # (Node emits 'close' in the same loop iteration as 'finish').
                scope = self._scope
                inline = self._close_inline = quiet and not scope._loop_ticks and not scope._ticks
                try:
                    self.destroy()
                except Exception as exc:
                    scope.report(exc)
                if inline and not self._close_inline:  # destroy() left 'close' to us
                    self._emit_close(None)
                self._close_inline = False
            else:
                self._deliver_call(self.destroy)

    # -- closing -------------------------------------------------------------------

    def destroy(self, error: BaseException | None = None) -> Socket:
        """Close at once; 'error' (if ``error`` is given) then 'close'(had_error) follow."""
        if self.destroyed:
            return self
        self.destroyed = True
        self._sockname = None  # the local end is gone with the handle (Node v20)
        self.connecting = False
        self._had_error = error is not None
        if self._connect_scope is not None:
            self._connect_scope.cancel()
        if self._timer_scope is not None:
            self._timer_scope.cancel()
            self._timer_scope = None
        if self._transport is not None:
            self._transport.abort()
        self._transport = None  # no handle any more: 'pending' is true from now (Node)
        self._close_pending = True
        # (Each container below is None unless used: one test each on the common path.)
        pending = self._pending
        if pending is not None:
            self._pending = None
            self._pending_len = 0
            for _, callback in pending:
                if callback is not None:
                    self._scope.call_soon(callback, _errors.err_socket_closed_before_connection())
        write_cbs = self._write_cbs
        if write_cbs is not None:
            self._write_cbs = None
            for callback in write_cbs:
                self._scope.call_soon(callback, error or _errors.err_stream_destroyed("write"))
            write_cbs.clear()  # resume_writing() may be looping over this very deque (H7)
        finish_cbs = self._finish_cbs
        if finish_cbs is not None:
            self._finish_cbs = None
            for callback in finish_cbs:
                self._scope.call_soon(callback, error or _errors.err_stream_destroyed("end"))
        if self._readable_event is not None:
            self._wake_reader()
        event = self._drain_event
        if event is not None:
            self._drain_event = None
            event.set()
        event = self._finish_event
        if event is not None:
            self._finish_event = None
            event.set()
        if self._close_inline and error is None:  # _finish emits 'close' at once (see there)
            self._close_inline = False
        else:
            self._scope.call_soon(self._emit_close, error)
        return self

    def _emit_close(self, error: BaseException | None) -> None:
        if error is not None:
            self._deliver("error", error)
        if "close" in self._events or self._queue is not None:
            self._deliver("close", error is not None)
        if self._queue is None:
            try:
                self._closed_done()
            except Exception as exc:
                self._scope.report(exc)
        else:
            self._deliver_call(self._closed_done)

    def _closed_done(self) -> None:
        self._close_pending = False
        if self.destroyed:  # else a 'close' listener connected it again (Node G14)
            scope = self._scope
            handles = scope._handles
            if self in handles:  # scope.unregister(self), inlined
                handles.discard(self)
                if self._refed:
                    scope._add_busy(-1)
        server = self.server
        if server is not None:  # one connection less; (_check_drained's first test, inlined)
            server._connections.discard(self)
            if server._lsock is None:
                server._check_drained()
        event = self._closed_event
        if event is not None:
            self._closed_event = None
            event.set()

    def reset_and_destroy(self) -> Socket:
        """Close with an RST (the peer sees ECONNRESET) instead of a FIN."""
        if self._transport is not None and self._sock_family == _socket.AF_UNIX:
            raise _errors.err_invalid_handle_type()  # no RST on a Unix socket, as Node
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
        if seconds == 0:  # validate_timeout has refused NaN and infinity
            self.timeout = 0
            if callback is not None:
                self.remove_listener("timeout", callback)
            return self
        self.timeout = seconds
        if callback is not None:
            self.once("timeout", callback)
        self._touch()
        # The scope exists before the task starts, so a second set_timeout() cancels this one.
        self._timer_scope = anyio.CancelScope()
        self._scope.spawn_system(self._timer, seconds, self._timer_scope, tg=self._group)
        return self

    def _touch(self) -> None:
        self._activity = anyio.current_time()

    async def _timer(self, seconds: float, scope: anyio.CancelScope) -> None:
        with scope:
            deadline = self._activity + seconds
            fired_for: float | None = None
            while True:
                await anyio.sleep_until(deadline)
                if self.destroyed or self.timeout != seconds:
                    return
                idle_until = self._activity + seconds
                now = anyio.current_time()
                if now < idle_until:
                    deadline = idle_until
                    continue
                transport = self._transport
                queued = transport.get_write_buffer_size() if transport is not None else 0
                if queued and queued != self._queue_mark:  # a write made progress (Node K12)
                    self._queue_mark = queued
                    self._activity = now
                    deadline = now + seconds
                    continue
                # As Node: one 'timeout' per idle period; only new activity re-arms it.
                if self._activity != fired_for:
                    fired_for = self._activity
                    self._deliver("timeout")
                deadline = now + seconds

    # -- options -------------------------------------------------------------------

    def set_no_delay(self, no_delay: bool = True) -> Socket:
        """Turn Nagle's algorithm off (True) or on (False)."""
        self._no_delay = bool(no_delay)
        transport = self._transport
        if transport is not None and self._sock_family in (_socket.AF_INET, _socket.AF_INET6):
            try:
                transport.sock.setsockopt(
                    _socket.IPPROTO_TCP, _socket.TCP_NODELAY, int(bool(no_delay))
                )
                transport.no_delay = bool(no_delay)
            except OSError:
                pass
        return self

    def _sync_no_delay(self, transport: Transport) -> None:
        """Make TCP_NODELAY what this socket asked for, Node's default (off) if nothing.

        Engines say what they left it at (uvloop turns it on; None: an inherited
        descriptor, left alone unless asked), so only a difference costs a system call."""
        if self._sock_family not in (_socket.AF_INET, _socket.AF_INET6):
            return
        current = transport.no_delay
        want = self._no_delay
        if want is None:
            if not current:
                return
            want = False
        if want != current:
            self.set_no_delay(want)

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

    def _local_name(self) -> Any:
        """getsockname() of the open handle, read once (Node: nothing once closed)."""
        if self._sockname is None:
            self._sockname = self._read_name(local=True)
        return self._sockname

    def _remote_name(self) -> Any:
        """getpeername(), read once while open and kept after close (as Node's cache)."""
        if self._peername is None:
            self._peername = self._read_name(local=False)
        return self._peername

    def _read_name(self, local: bool) -> Any:
        transport = self._transport
        if transport is None or self.destroyed:
            return None
        try:
            sock = transport.sock
            return sock.getsockname() if local else sock.getpeername()
        except OSError:
            return None

    def address(self) -> dict[str, Any] | str | None:
        """The local address: ``{'port', 'family', 'address'}`` for TCP, ``{}`` for IPC (Node)."""
        name = self._local_name()
        if name is None:
            return {}  # never connected, or closed (Node v20)
        if isinstance(name, (str, bytes)):
            return {}
        return {"address": name[0], "family": _family_name(self._sock_family), "port": name[1]}

    @property
    def local_address(self) -> str | None:
        name = self._local_name()
        return name[0] if isinstance(name, tuple) else None

    @property
    def local_port(self) -> int | None:
        name = self._local_name()
        return name[1] if isinstance(name, tuple) else None

    @property
    def local_family(self) -> str | None:
        name = self._local_name()
        return _family_name(self._sock_family) if isinstance(name, tuple) else None

    @property
    def remote_address(self) -> str | None:
        name = self._remote_name()
        return name[0] if isinstance(name, tuple) else None

    @property
    def remote_port(self) -> int | None:
        name = self._remote_name()
        return name[1] if isinstance(name, tuple) else None

    @property
    def remote_family(self) -> str | None:
        name = self._remote_name()
        return _family_name(self._sock_family) if isinstance(name, tuple) else None

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
            # The peer's FIN may already have ended (and, half-closed, closed) the socket.
            if self._read_eof and not self._had_error:
                if not self.readable_ended and not self.destroyed:
                    self._emit_end()
                raise anyio.EndOfStream
            if self.destroyed:
                if self._had_error:
                    raise anyio.BrokenResourceError
                raise anyio.ClosedResourceError
            if self._transport is not None and self._queue is None:
                self._transport.resume_reading()
            if self._readable_event is not None:
                raise anyio.BusyResourceError("reading from")
            self._readable_event = event = anyio.Event()
            try:
                await event.wait()
            finally:  # also when cancelled: the next receive() may wait again
                if self._readable_event is event:
                    self._readable_event = None
        rbuf = self._rbuf
        assert rbuf is not None
        chunk = rbuf.popleft()
        if len(chunk) > max_bytes:
            rbuf.appendleft(chunk[max_bytes:])
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
                if self._drain_event is not None:
                    raise anyio.BusyResourceError("writing to")
                self._drain_event = event = anyio.Event()
                try:
                    await event.wait()
                finally:
                    if self._drain_event is event:
                        self._drain_event = None
            if self.destroyed:
                raise anyio.BrokenResourceError

    async def send_eof(self) -> None:
        """End the writing side (FIN) once everything queued is flushed."""
        self.end()
        await self._wait_finished()

    async def _wait_finished(self) -> None:
        while not self.writable_finished and not self.destroyed:
            if self.connecting or self._transport is not None:
                if self._finish_event is None:
                    self._finish_event = anyio.Event()
                await self._finish_event.wait()
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
        if self._transport is None and not self.connecting and not self._close_pending:
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

        local, remote = self._local_name(), self._remote_name()
        attrs: dict[Any, Callable[[], Any]] = {
            SocketAttribute.raw_socket: sock,
            SocketAttribute.family: lambda: self._sock_family,
            SocketAttribute.local_address: lambda: local,
        }
        if isinstance(local, tuple):
            attrs[SocketAttribute.local_port] = lambda: local[1]
        if remote is not None:
            attrs[SocketAttribute.remote_address] = lambda: remote
            if isinstance(remote, tuple):
                attrs[SocketAttribute.remote_port] = lambda: remote[1]
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
        local, remote = self._local_name(), self._remote_name()
        return f"<trionet.Socket {state} local={local!r} remote={remote!r}>"


def _discard_read(data: bytes) -> None:
    """``data_received`` of a ``Socket(fd=..., readable=False)``: nothing is read."""


def create_connection(*args: Any, **kwargs: Any) -> Socket:
    """Create a Socket and start connecting it; the forms of Node's ``net.connect``."""
    options, _callback = normalize_args(args, kwargs)
    sock = Socket(
        allow_half_open=bool(options.get("allow_half_open", False)),
        high_water_mark=options.get("high_water_mark"),
        onread=options.get("onread"),
    )
    return sock.connect(*args, **kwargs)


connect = create_connection
