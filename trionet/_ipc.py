"""IPC and inherited handles: Unix socket paths, adopted descriptors, and ``onread`` buffers.

The rules, in one place (the handles call in here):

- **Paths.** An IPC path is a ``str``, ``bytes`` or ``os.PathLike``. A path that starts
  with a NUL character names a Linux abstract socket: no file is made (so none is
  ever removed), and ``readable_all``/``writable_all`` are refused with Node's
  ``ERR_INVALID_ARG_VALUE``.
- **Length.** ``sun_path`` holds 108 bytes on Linux (104 on macOS and the BSDs). A
  file path needs its terminating NUL, so it may have at most 107 (103) bytes; an
  abstract name may use all 108 (104), its leading NUL included. Node v20 silently
  binds a truncated name; trionet raises at once, from ``listen()`` and ``connect()``,
  a ``ValueError`` with code ``ERR_INVALID_ARG_VALUE`` (Node's RangeError flavour of
  that code) that names the byte count and the limit.
- **Mode.** The socket file gets the mode the process umask gives (as Node);
  ``readable_all``/``writable_all`` add the read/write bits for user, group and
  others (libuv's ``uv_pipe_chmod``).
- **Removal.** ``Server.close()`` (and the end of the scope) removes the socket file
  the server made, and only if the path still names that very file (same device
  and inode, by ``lstat``): a file that replaced it is kept. A socket adopted with
  ``listen(fd=...)``/``listen(handle=...)`` is never removed (as Node).
- **Stale files.** A file already at the path gives ``EADDRINUSE`` as ``'error'``:
  trionet never removes a file before binding, whether a live server owns it or a
  crashed process left it (as Node). To reclaim a stale file, connect to it first:
  ``ECONNREFUSED`` means nobody listens, so ``os.unlink(path)`` and listen again (see
  ``docs/ipc.rst``).
- **Errors** read like Node's: ``listen EADDRINUSE: address already in use /path``
  (``syscall`` ``'listen'``, ``port`` -1), ``connect ENOENT /path``; a path in a missing
  directory gives ``EACCES`` on listen (libuv maps ``ENOENT`` so), and a full listen
  queue ``connect EAGAIN /path`` (libuv does not retry a Unix connect).
- **Inherited descriptors** are adopted with ``socket.socket(fileno=fd)``: the socket
  then owns the descriptor and closes it on close. A descriptor that is not a stream
  socket is refused: ``listen EINVAL: invalid argument`` as ``'error'`` for a server,
  ``ERR_INVALID_FD_TYPE`` raised at once for ``Socket(fd=...)`` (as Node).
"""

from __future__ import annotations

import errno
import inspect
import os
import socket as _socket
import stat
import sys
from collections.abc import Callable, Mapping
from typing import Any, TypeGuard

import anyio

from . import _errors
from ._validate import validate_function

#: Size of ``sockaddr_un.sun_path``.
SUN_PATH_SIZE = 108 if sys.platform.startswith("linux") else 104

_STREAM_FAMILIES = (_socket.AF_INET, _socket.AF_INET6, _socket.AF_UNIX)
_FD_MAX = 2**31 - 1


# -- paths -------------------------------------------------------------------------------


class UnixPath:
    """A validated IPC path: what to pass to ``bind``/``connect``, and the name to show."""

    __slots__ = ("abstract", "address", "name")

    def __init__(self, address: str | bytes, name: str, abstract: bool) -> None:
        self.address = address
        self.name = name
        self.abstract = abstract


def unix_path(path: object, arg_name: str = "options.path") -> UnixPath:
    """Check an IPC path (type, NUL bytes, length) and return it; raise Node-style errors."""
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if not isinstance(path, (str, bytes)):
        raise _errors.err_invalid_arg_type(arg_name, "string", path)
    raw = os.fsencode(path)
    name = path if isinstance(path, str) else os.fsdecode(path)
    if not raw:
        raise _errors.err_invalid_arg_value(arg_name, path, "must be a non-empty path")
    abstract = raw[0] == 0
    if not abstract and b"\0" in raw:
        raise _errors.err_invalid_arg_value(arg_name, path, "must be a path without null bytes")
    limit = SUN_PATH_SIZE if abstract else SUN_PATH_SIZE - 1
    if len(raw) > limit:
        kind = "an abstract socket name" if abstract else "a Unix socket path"
        message = str(
            _errors.err_invalid_arg_value(
                arg_name,
                path,
                f"is too long for {kind}: {len(raw)} bytes, at most {limit} fit in sun_path",
            )
        )
        raise _errors.NodeValueError("ERR_INVALID_ARG_VALUE", message)
    return UnixPath(path, name, abstract)


def check_listen_modes(target: UnixPath, options: Mapping[str, Any]) -> None:
    """Refuse ``readable_all``/``writable_all`` on an abstract name, with Node's message."""
    if target.abstract and (options.get("readable_all") or options.get("writable_all")):
        raise _errors.err_invalid_arg_value(
            "options",
            dict(options),
            # Node's message, its typo included.
            "can not set readableAll or writableAllt to true when path is abstract unix socket",
        )


def bind_unix(
    target: UnixPath, options: Mapping[str, Any], backlog: int
) -> tuple[_socket.socket, tuple[int, int] | None]:
    """Bind and listen on ``target``; return the socket and the file's (st_dev, st_ino).

    Failures raise Node's ``listen`` errors (``port`` -1). A file made here is
    removed again if a later step fails.
    """
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.bind(target.address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.ENOENT:  # libuv reports a missing directory as EACCES
            raise _errors.system_error(
                errno.EACCES, "listen", address=target.name, port=-1
            ) from None
        raise _errors.from_os_error(exc, "listen", address=target.name, port=-1) from None
    inode: tuple[int, int] | None = None
    try:
        if not target.abstract:
            st = os.lstat(target.address)
            inode = (st.st_dev, st.st_ino)
            mode = 0
            if options.get("readable_all"):
                mode |= stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
            if options.get("writable_all"):
                mode |= stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
            if mode and (st.st_mode & mode) != mode:
                os.chmod(target.address, stat.S_IMODE(st.st_mode) | mode)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        if inode is not None:
            unlink_if_same(target.address, inode)
        raise _errors.from_os_error(exc, "listen", address=target.name, port=-1) from None
    return sock, inode


def unlink_if_same(path: str | bytes, inode: tuple[int, int]) -> bool:
    """Remove ``path`` if it still names the file with ``inode``; True if removed."""
    try:
        st = os.lstat(path)
        if (st.st_dev, st.st_ino) != inode:
            return False
        os.unlink(path)
    except OSError:
        return False
    return True


async def connect_unix(sock: _socket.socket, target: UnixPath) -> None:
    """Connect a non-blocking Unix socket as libuv does: EAGAIN (full queue) is an error."""
    try:
        err = sock.connect_ex(target.address)
    except OSError as exc:  # pragma: no cover - connect_ex reports errors as numbers
        err = exc.errno or errno.EINVAL
    if err == errno.EINPROGRESS:
        await anyio.wait_writable(sock)
        err = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_ERROR)
    if err:
        raise _errors.system_error(err, "connect", address=target.name)


# -- inherited descriptors -----------------------------------------------------------------


def listen_fd(options: Mapping[str, Any]) -> tuple[int, bool] | None:
    """The descriptor ``listen(fd=...)``/``listen(handle=...)`` names, and whether it is ours.

    ``handle`` may be a trionet ``Server`` (its listening socket), a ``Socket``, any
    object with ``fileno()`` (a stdlib ``socket.socket``), or a mapping with ``'fd'``.
    Objects keep their own descriptor, so a duplicate is taken (and owned: closed if
    listening fails); an ``fd`` number is adopted as is. None when no usable descriptor
    is named (Node then goes on to ``port``/``path``).
    """
    handle = options.get("handle")
    if handle is None:
        fd = options.get("fd")
        return (fd, False) if _valid_fd(fd) else None
    if isinstance(handle, Mapping):
        fd = handle.get("fd")
        return (fd, False) if _valid_fd(fd) else None
    source: Any = None
    lsock = getattr(handle, "_lsock", None)  # a trionet Server
    if isinstance(lsock, _socket.socket):
        source = lsock
    else:
        transport = getattr(handle, "_transport", None)  # a trionet Socket
        if transport is not None and isinstance(getattr(transport, "sock", None), _socket.socket):
            source = transport.sock
        elif callable(getattr(handle, "fileno", None)) and not hasattr(handle, "_transport"):
            source = handle
    if source is None:
        return None
    try:
        fd = source.fileno()
        if not _valid_fd(fd):
            return None
        return os.dup(fd), True
    except OSError:
        return None


def _valid_fd(fd: object) -> TypeGuard[int]:
    return isinstance(fd, int) and not isinstance(fd, bool) and 0 <= fd <= _FD_MAX


def adopt_listening(fd: int, backlog: int, owned: bool) -> _socket.socket:
    """Adopt a bound (or listening) stream socket and make it listen with ``backlog``.

    Not a stream socket: ``listen EINVAL: invalid argument`` and the descriptor is left
    alone (closed only if ``owned``). ``listen()`` itself failing closes it (as Node).
    """
    try:
        sock = _socket.socket(fileno=fd)
    except OSError:
        if owned:
            os.close(fd)
        raise _errors.system_error(errno.EINVAL, "listen") from None
    if sock.type != _socket.SOCK_STREAM or sock.family not in _STREAM_FAMILIES:
        if owned:
            sock.close()
        else:
            sock.detach()
        raise _errors.system_error(errno.EINVAL, "listen")
    try:
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise _errors.from_os_error(exc, "listen") from None
    return sock


def adopt_connected(fd: object) -> _socket.socket:
    """Adopt a connected stream socket for ``Socket(fd=...)``; raise Node's errors at once."""
    if isinstance(fd, bool) or not isinstance(fd, int):
        raise _errors.err_invalid_arg_type("fd", "number", fd)
    if not 0 <= fd <= _FD_MAX:
        raise _errors.err_out_of_range("fd", f">= 0 && <= {_FD_MAX}", fd)
    try:
        sock = _socket.socket(fileno=fd)
    except OSError as exc:
        raise _errors.err_invalid_fd_type(_fd_type(fd, exc)) from None
    if sock.type != _socket.SOCK_STREAM or sock.family not in _STREAM_FAMILIES:
        kind = "UDP" if sock.type == _socket.SOCK_DGRAM else "UNKNOWN"
        sock.detach()
        raise _errors.err_invalid_fd_type(kind)
    return sock


class PendingTransport:
    """Stands in for the engine's transport while an adopted descriptor is handed to it.

    ``Socket(fd=...)`` is open at once (as Node: not ``connecting``, no 'connect'), but
    an asyncio engine adopts a socket only in a coroutine. Until then this queues
    writes and the EOF (reporting them to the handle as "something is queued",
    ``pause_writing``) and remembers a paused read side; ``hand_over`` replays all
    of it on the engine's transport, which then replaces this one.
    """

    __slots__ = (
        "_eof",
        "_protocol",
        "_read_paused",
        "_size",
        "_writes",
        "closed",
        "no_delay",
        "sock",
        "started",
    )

    def __init__(self, sock: _socket.socket, protocol: Any) -> None:
        self.sock = sock
        self.no_delay: bool | None = None  # inherited: unknown, left alone unless asked
        self._protocol = protocol
        self._writes: list[bytes] = []
        self._size = 0
        self._eof = False
        self._read_paused = False
        self.closed = False
        self.started = False  # the engine has the socket: it closes it from now on

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.closed:
            return
        if not self._writes and not self._eof:
            self._protocol.pause_writing()
        chunk = bytes(data)
        self._writes.append(chunk)
        self._size += len(chunk)

    def write_eof(self) -> None:
        if self.closed or self._eof:
            return
        if not self._writes:
            self._protocol.pause_writing()  # 'finish' waits until the FIN is handed over
        self._eof = True

    def abort(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._writes.clear()
        self._size = 0
        if not self.started:
            self.sock.close()

    def pause_reading(self) -> None:
        self._read_paused = True

    def resume_reading(self) -> None:
        self._read_paused = False

    def get_write_buffer_size(self) -> int:
        return self._size

    def hand_over(self, transport: Any) -> None:
        """Replay the queued writes, EOF and read pause on the engine's ``transport``."""
        queued = bool(self._writes) or self._eof
        writes, self._writes = self._writes, []
        self._size = 0
        for chunk in writes:
            transport.write(chunk)
        if self._eof:
            transport.write_eof()
        if self._read_paused:
            transport.pause_reading()
        protocol = self._protocol
        protocol._sync_no_delay(transport)  # the engine may have changed it (uvloop)
        if queued and not protocol.destroyed and transport.get_write_buffer_size() == 0:
            protocol.resume_writing()  # all taken by the kernel (else the engine tells later)


def _fd_type(fd: int, exc: OSError) -> str:
    """Node's ``guessHandleType`` name for a descriptor that is not a socket."""
    if exc.errno != errno.ENOTSOCK:
        return "UNKNOWN"
    try:
        if os.isatty(fd):
            return "TTY"
        mode = os.fstat(fd).st_mode
    except OSError:
        return "UNKNOWN"
    return "PIPE" if stat.S_ISFIFO(mode) else "FILE"


# -- onread -------------------------------------------------------------------------------


class OnRead:
    """Node's ``onread`` option: read into one caller-owned buffer, call ``callback(nread, buf)``.

    ``buffer`` is a writable buffer (``bytearray``, a writable ``memoryview``,
    ``array.array``...) or a function returning one; the function is called once
    when reading starts and once after each read (as Node). A non-empty writable
    buffer is required: anything else raises ``ERR_INVALID_ARG_TYPE`` /
    ``ERR_INVALID_ARG_VALUE`` at once (Node v20 silently ignores a bad ``onread``), and
    a factory returning one destroys the socket with ``ERR_INVALID_RETURN_VALUE``.
    ``callback`` must be a plain function: it runs inside the read, before the buffer
    is filled again.
    """

    __slots__ = ("buffer", "callback", "factory")

    def __init__(self, option: object) -> None:
        if not isinstance(option, Mapping):
            raise _errors.err_invalid_arg_type("options.onread", "object", option)
        buffer = option.get("buffer")
        callback = option.get("callback")
        validate_function(callback, "options.onread.callback")
        if inspect.iscoroutinefunction(callback):
            raise _errors.err_invalid_arg_type(
                "options.onread.callback", "a plain (not async) function", callback
            )
        self.callback: Callable[[int, Any], object] = callback  # type: ignore[assignment]
        self.factory: Callable[[], Any] | None = None
        self.buffer: Any = None
        if callable(buffer) and not isinstance(buffer, (bytearray, memoryview)):
            self.factory = buffer
        else:
            check_buffer(buffer, "options.onread.buffer")
            self.buffer = buffer

    def start(self) -> None:
        """Reading is about to start: take the factory's first buffer."""
        if self.factory is not None:
            self.buffer = self.next_buffer()

    def next_buffer(self) -> Any:
        """Call the factory; raise ``ERR_INVALID_RETURN_VALUE`` if it gives no usable buffer."""
        assert self.factory is not None
        buffer = self.factory()
        try:
            check_buffer(buffer, "onread.buffer")
        except (TypeError, ValueError):
            raise _errors.NodeTypeError(
                "ERR_INVALID_RETURN_VALUE",
                'Expected a non-empty writable buffer to be returned from the "onread.buffer"'
                f" function but got {_errors.describe_value(buffer)}.",
            ) from None
        return buffer


def check_buffer(buffer: object, name: str) -> None:
    """A non-empty, writable, C-contiguous buffer, or raise Node-style errors."""
    try:
        view = memoryview(buffer)  # type: ignore[arg-type]
    except TypeError:
        raise _errors.err_invalid_arg_type(
            name, ["function", "bytearray", "memoryview"], buffer
        ) from None
    with view:
        if view.readonly:
            raise _errors.err_invalid_arg_value(name, buffer, "must be writable")
        if not view.c_contiguous:
            raise _errors.err_invalid_arg_value(name, buffer, "must be contiguous")
        if view.nbytes == 0:
            raise _errors.err_invalid_arg_value(name, buffer, "must not be empty")
