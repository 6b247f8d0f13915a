"""Waking the kombu thread from other threads, and waiting on the AMQP socket."""

from __future__ import annotations

import contextlib
import select
import socket
import ssl


class Waker:
    """A socketpair: any thread writes a byte, the kombu thread's select() returns at once."""

    def __init__(self) -> None:
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)

    def fileno(self) -> int:
        return self._reader.fileno()

    def wake(self) -> None:
        # A full buffer already holds a pending wake-up; a closed one means we are done.
        with contextlib.suppress(BlockingIOError, OSError):
            self._writer.send(b"\0")

    def clear(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            while self._reader.recv(4096):
                pass

    def wait(self, timeout: float) -> bool:
        """Sleep up to `timeout` seconds or until woken; True if woken."""
        readable, _, _ = select.select([self._reader], [], [], max(timeout, 0.0))
        self.clear()
        return bool(readable)

    def close(self) -> None:
        self._reader.close()
        self._writer.close()


def has_buffered_bytes(sock: socket.socket) -> bool:
    """True if a TLS socket holds decrypted bytes that select() cannot see."""
    return isinstance(sock, ssl.SSLSocket) and sock.pending() > 0


def wait_readable(sock: socket.socket, waker: Waker, timeout: float) -> tuple[bool, bool]:
    """Wait until the AMQP socket is readable or the waker fires: (sock_ready, woken)."""
    if has_buffered_bytes(sock):
        return True, False
    waker_fd = waker.fileno()
    readable, _, _ = select.select([sock.fileno(), waker_fd], [], [], max(timeout, 0.0))
    woken = waker_fd in readable
    if woken:
        waker.clear()
    return sock.fileno() in readable, woken


def readable_now(sock: socket.socket) -> bool:
    if has_buffered_bytes(sock):
        return True
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)
