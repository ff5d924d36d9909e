"""Runtime: what the supervisor and the cell processes say to each other.

Two sockets per cell. The *control* socket carries JSON lines: the supervisor's
commands (map your memory, probe, discover, exchange, ...) and the cell's results.
The supervisor hands read-only memory descriptors over the control socket too
(``SCM_RIGHTS``, at most :data:`FDS_PER_MESSAGE` per message). The *register* socket (SOCK_SEQPACKET, one access per packet) carries the cell's
accesses to its ivshmem devices' registers and config space, the way MMIO traps reach a
hypervisor: writes are posted, reads wait for the reply. Every receive has a deadline.
"""

from __future__ import annotations

import json
import socket
import struct
import time

from .transport import DeadlineExceeded, readable

REG_READ, REG_WRITE, CFG_WRITE = 0, 1, 2
REG_ACCESS = struct.Struct("<BxHHI")      # op, device index, offset, value
REG_REPLY = struct.Struct("<I")
NO_DEVICE = 0xFFFFFFFF                     # what a read of a device that is not there returns
FDS_PER_MESSAGE = 250                      # the kernel passes at most 253 per message
MAX_LINE = 1 << 20                         # a longer line is a broken (or hostile) peer


class ChannelClosed(Exception):
    """The other side went away."""


class ControlChannel:
    """JSON lines over a stream socket, with deadlines."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.sock.setblocking(False)
        self._buffer = b""
        self.received_fds: list[int] = []      # descriptors that came with messages, in order

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, message: dict, fds: list[int] = ()) -> None:
        """Send ``message``; ``fds`` travel with its first byte."""
        data = (json.dumps(message, separators=(",", ":")) + "\n").encode()
        view = memoryview(data)
        deadline = time.monotonic() + 10.0
        while view:
            try:
                if fds:
                    n = socket.send_fds(self.sock, [view], list(fds))
                    fds = ()
                else:
                    n = self.sock.send(view)
                view = view[n:]
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise DeadlineExceeded("control socket full for 10 s") from None
                readable([self.sock.fileno()], 0.1, writable=True)
            except (BrokenPipeError, ConnectionResetError):
                raise ChannelClosed() from None

    def pending(self) -> dict | None:
        """A complete message if one has arrived (reads what is there, never blocks)."""
        while True:
            message = self._pop()
            if message is not None:
                return message
            try:
                chunk, fds, _, _ = socket.recv_fds(self.sock, 1 << 16, FDS_PER_MESSAGE)
            except BlockingIOError:
                return None
            except ConnectionResetError:
                chunk, fds = b"", []
            self.received_fds += fds
            if not chunk:
                raise ChannelClosed()
            self._buffer += chunk
            if len(self._buffer) > MAX_LINE and b"\n" not in self._buffer:
                raise ChannelClosed()

    def has_pending(self) -> bool:
        """A complete message is waiting in what was already read."""
        return b"\n" in self._buffer

    def receive(self, deadline: float) -> dict:
        while True:
            message = self.pending()
            if message is not None:
                return message
            left = deadline - time.monotonic()
            if left <= 0:
                raise DeadlineExceeded("no message before the deadline")
            readable([self.sock.fileno()], min(left, 1.0))

    def _pop(self) -> dict | None:
        line, sep, rest = self._buffer.partition(b"\n")
        if not sep:
            return None
        self._buffer = rest
        try:
            message = json.loads(line)
        except ValueError:
            raise ChannelClosed() from None
        if not isinstance(message, dict):
            raise ChannelClosed()
        return message


class RegisterClient:
    """A cell's view of its ivshmem devices' register blocks (through the supervisor)."""

    def __init__(self, sock: socket.socket, timeout: float = 5.0):
        self.sock = sock
        self.sock.settimeout(timeout)      # a full socket must not block a send for ever
        self.timeout = timeout

    def write(self, device: int, offset: int, value: int) -> None:
        self._send(REG_WRITE, device, offset, value)

    def config_write(self, device: int, offset: int, value: int) -> None:
        self._send(CFG_WRITE, device, offset, value)

    def read(self, device: int, offset: int) -> int:
        self._send(REG_READ, device, offset, 0)
        ready = readable([self.sock.fileno()], self.timeout)
        if not ready:
            raise DeadlineExceeded(f"register read at {offset:#x} not answered in {self.timeout} s")
        data = self.sock.recv(REG_REPLY.size)
        if len(data) != REG_REPLY.size:
            raise ChannelClosed()
        return REG_REPLY.unpack(data)[0]

    def _send(self, op: int, device: int, offset: int, value: int) -> None:
        try:
            self.sock.send(REG_ACCESS.pack(op, device, offset, value & 0xFFFFFFFF))
        except (BrokenPipeError, ConnectionResetError):
            raise ChannelClosed() from None
        except socket.timeout:
            raise DeadlineExceeded(f"register access not accepted in {self.timeout} s") from None
