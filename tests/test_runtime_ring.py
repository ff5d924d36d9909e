"""The runtime's ring (partcfg/runtime/_ring.c) in one process: empty, full, wrap-around,
batches, zero-copy blocks, wake-up announcements, and a hostile peer's indices and
lengths, which must raise RingCorrupt and never read outside the ring."""

from __future__ import annotations

import mmap
import os
import struct
import time

import pytest

from partcfg.runtime import _ring
from partcfg.runtime._ring import Receiver, RingCorrupt, Sender

PAGE = 4096


class Pair:
    """A ring in anonymous memory: the sender's area holds head, its sleep generation and
    the data; the receiver's area holds tail and its sleep generation (as in an output
    section). Both ends live in this process."""

    def __init__(self, size: int = 1024):
        self.size = size
        self.mem = mmap.mmap(-1, 2 * PAGE + size)
        base = _ring.address_of(self.mem)
        self.head_at, self.sgen_at = 0, 64           # sender's area
        self.tail_at, self.rgen_at = PAGE, PAGE + 64  # receiver's area
        self.data_at = 2 * PAGE
        self.tx_bells = 0
        self.rx_bells = 0
        self.tx_args = (base + self.data_at, base + self.head_at, base + self.tail_at,
                        base + self.sgen_at, base + self.rgen_at, self._tx_bell)
        self.rx_args = (base + self.data_at, base + self.head_at, base + self.tail_at,
                        base + self.rgen_at, base + self.sgen_at, self._rx_bell)
        self.tx = Sender(base + self.data_at, size, base + self.head_at, base + self.tail_at,
                         base + self.sgen_at, base + self.rgen_at, self._tx_bell)
        self.rx = Receiver(base + self.data_at, size, base + self.head_at, base + self.tail_at,
                           base + self.rgen_at, base + self.sgen_at, self._rx_bell)

    def _tx_bell(self):
        self.tx_bells += 1

    def _rx_bell(self):
        self.rx_bells += 1

    def u64(self, at: int) -> int:
        return struct.unpack_from("<Q", self.mem, at)[0]

    def set_u64(self, at: int, value: int) -> None:
        struct.pack_into("<Q", self.mem, at, value)

    def header(self, pos: int, length: int, tag: int = 0) -> None:
        struct.pack_into("<II", self.mem, self.data_at + pos, length, tag)


def test_empty_ring_has_nothing_to_give():
    p = Pair()
    assert p.rx.recv() is None
    assert p.rx.recv_into(bytearray(16)) == -1
    assert p.rx.peek() is None
    assert p.rx.recv_batch_into(bytearray(256)) == 0
    assert p.rx.pending() is False


def test_messages_arrive_in_order_and_intact_including_empty_and_largest():
    p = Pair(1024)
    assert p.tx.max_message == 1024 // 2 - 8
    for payload in (b"", b"x", bytes(range(200)), b"\xa5" * p.tx.max_message):
        assert p.tx.send(payload) is True
        assert p.rx.recv() == payload
    with pytest.raises(ValueError, match="exceeds"):
        p.tx.send(b"y" * (p.tx.max_message + 1))


def test_indices_are_aligned_increasing_and_in_each_side_s_own_memory():
    p = Pair(512)
    heads, tails = [], []
    for i in range(300):
        assert p.tx.send(bytes([i % 251]) * (i % 97))
        heads.append(p.u64(p.head_at))
        assert p.rx.recv() == bytes([i % 251]) * (i % 97)
        tails.append(p.u64(p.tail_at))
    assert all(h % 8 == 0 for h in heads) and all(t % 8 == 0 for t in tails)
    assert heads == sorted(heads) and tails == sorted(tails)
    assert heads[-1] == tails[-1] > 512 * 10       # many laps around the ring


def test_wrap_around_pads_the_end_and_continues_at_the_start():
    p = Pair(256)
    # 100-byte messages take 112 bytes; the third does not fit before the end: padding
    for lap in range(50):
        for i in range(2):
            assert p.tx.send(bytes([lap, i]) * 50)
        assert p.rx.recv() == bytes([lap, 0]) * 50
        assert p.rx.recv() == bytes([lap, 1]) * 50
    assert p.rx.recv() is None
    assert p.u64(p.head_at) == p.u64(p.tail_at)


def test_full_ring_refuses_until_the_receiver_publishes_room():
    p = Pair(1024)
    sent = 0
    while p.tx.send(b"m" * 56):       # 64-byte records
        sent += 1
    assert sent == 1024 // 64
    assert p.tx.send(b"") is False
    # the receiver publishes its consumer index lazily (every quarter ring) ...
    for _ in range(4):
        assert p.rx.recv() == b"m" * 56
    assert p.tx.send(b"m" * 56) is True
    # ... and at once when it has caught up
    while p.rx.recv() is not None:
        pass
    assert p.tx.free_bytes() == 1024


def test_a_sender_waiting_for_room_is_woken_by_the_receiver():
    p = Pair(1024)
    while p.tx.send(b"m" * 56):
        pass
    assert p.tx.arm(56) is False          # no room: it would sleep now
    assert p.rx.recv() is not None        # the receiver sees the announcement ...
    assert p.rx_bells == 1                # ... publishes and rings once
    assert p.tx.send(b"m" * 56) is True
    p.tx.disarm()


def test_a_sleeping_receiver_is_woken_once_per_sleep():
    p = Pair()
    assert p.rx.arm() is False            # nothing there: it would sleep
    p.tx.send(b"a")
    p.tx.send(b"b")
    assert p.tx_bells == 1                # one doorbell for this sleep
    p.rx.disarm()
    assert p.rx.arm() is True             # data waiting: no sleep
    p.rx.disarm()
    p.tx.send(b"c")
    assert p.tx_bells == 1                # awake receivers get no doorbell


def test_batch_calls_move_many_messages_with_one_index_update():
    p = Pair(4096)
    batch = b"".join(bytes([i]) * 64 for i in range(40))
    assert p.tx.send_batch(batch, 64) == 40
    out = bytearray(72 * 100)
    assert p.rx.recv_batch_into(out) == 40
    assert p.rx.batch_bytes == 40 * 72
    for i in range(40):
        length, tag = struct.unpack_from("<II", out, i * 72)
        assert (length, tag) == (64, 0)
        assert out[i * 72 + 8:i * 72 + 72] == bytes([i]) * 64
    assert p.tx.send_many([b"a", b"bb" * 10, b""]) == 3
    assert [p.rx.recv(), p.rx.recv(), p.rx.recv()] == [b"a", b"bb" * 10, b""]


def test_every_small_size_is_copied_whole_and_nothing_past_it():
    # small payloads are copied by an inlined path with overlapping moves: each size up
    # to past its limit, sent alone and as a batch, must arrive byte for byte, and the
    # ring's padding after the payload must stay untouched (no write past the length)
    p = Pair(4096)
    for size in range(0, 300):
        payload = bytes((size * 7 + i) % 251 for i in range(size))
        p.mem[p.data_at:p.data_at + 4096] = b"\xee" * 4096
        p.set_u64(p.head_at, 0)
        p.set_u64(p.tail_at, 0)
        p.tx = Sender(p.tx_args[0], 4096, *p.tx_args[1:])
        p.rx = Receiver(p.rx_args[0], 4096, *p.rx_args[1:])
        assert p.tx.send(payload)
        assert p.mem[p.data_at + 8:p.data_at + 8 + size] == payload
        assert p.mem[p.data_at + 8 + size:p.data_at + 8 + ((size + 7) & ~7)] == b"\xee" * (-size % 8)
        assert p.rx.recv() == payload
        if size:
            assert p.tx.send_batch(payload * 3, size) == 3
            assert [p.rx.recv() for _ in range(3)] == [payload] * 3


def test_batches_stop_at_a_full_ring_and_at_a_small_buffer():
    p = Pair(1024)
    assert p.tx.send_batch(bytes(64 * 100), 64) == 1024 // 72
    small = bytearray(72 * 3)
    assert p.rx.recv_batch_into(small) == 3


def test_zero_copy_blocks_are_written_and_read_in_place():
    p = Pair(1024)
    for round_ in range(20):          # enough rounds to take the padding path
        block = p.tx.reserve(300)
        block[:] = bytes([round_]) * 300
        p.tx.commit(250)              # may publish less than reserved
        view = p.rx.peek()
        assert view.readonly and bytes(view) == bytes([round_]) * 250
        address = _ring.address_of(view)
        assert p.data_at <= address - _ring.address_of(p.mem) < p.data_at + 1024
        with pytest.raises(RuntimeError):
            p.rx.recv()               # the peeked message is still held
        p.rx.release()
    with pytest.raises(RuntimeError):
        p.tx.commit(1)


# --- a hostile sender (the receiver's view) ---------------------------------------------------

def _broken(p: Pair) -> None:
    with pytest.raises(RingCorrupt):
        p.rx.recv()
    with pytest.raises(RingCorrupt):  # and it stays broken
        p.rx.recv_into(bytearray(64))


@pytest.mark.parametrize("length", [1024, 0xFFFFFFFF, 1024 - 8 + 1, 600])
def test_a_record_longer_than_the_data_or_the_ring_is_refused(length):
    p = Pair(1024)
    p.tx.send(b"x" * 8)               # a proper 16-byte record at 0
    p.header(0, length)               # then the sender rewrites its length
    _broken(p)


def test_an_unknown_tag_and_bad_padding_are_refused():
    p = Pair(1024)
    p.tx.send(b"x" * 8)
    p.header(0, 8, tag=7)
    _broken(p)
    p = Pair(1024)
    p.tx.send(b"x" * 8)
    p.header(0, 100, tag=1)           # padding must reach exactly the end of the ring
    _broken(p)


@pytest.mark.parametrize("head", [16 + 1024 + 8, 3, 1 << 63])
def test_impossible_producer_indices_are_refused(head):
    p = Pair(1024)
    p.tx.send(b"x" * 8)
    p.set_u64(p.head_at, head)        # beyond one ring, unaligned, absurd
    _broken(p)


def test_a_producer_index_that_goes_back_is_refused():
    p = Pair(1024)
    p.tx.send(b"x" * 8)
    p.tx.send(b"y" * 8)
    assert p.rx.recv() == b"x" * 8    # the receiver has seen head = 32
    p.rx.recv()
    p.set_u64(p.head_at, 16)          # now it claims less than was consumed
    _broken(p)


def test_a_corrupt_record_in_a_batch_delivers_what_came_before_it():
    p = Pair(1024)
    p.tx.send(b"a" * 8)
    p.tx.send(b"b" * 8)
    p.header(16, 5000)
    out = bytearray(1024)
    assert p.rx.recv_batch_into(out) == 1
    _broken(p)


def test_a_hostile_receiver_index_is_refused_by_the_sender():
    p = Pair(1024)
    while p.tx.send(b"z" * 56):
        pass
    p.set_u64(p.tail_at, p.u64(p.head_at) + 64)   # "consumed" more than was sent
    with pytest.raises(RingCorrupt):
        p.tx.send(b"z")


def test_ring_arguments_are_checked():
    mem = mmap.mmap(-1, PAGE)
    base = _ring.address_of(mem)
    with pytest.raises(ValueError):
        Sender(base + 64, 32, base, base + 8, base + 16, base + 24)    # ring too small
    with pytest.raises(ValueError):
        Receiver(base + 64, 1024, base + 1, base + 8, base + 16, base + 24)   # unaligned


# --- two processes: no wake-up may be lost ----------------------------------------------------

def _sleeper(rx, bell: int, count: int) -> int:
    """Receive ``count`` messages, sleeping on ``bell`` whenever the ring is empty. A sleep
    that outlasts 5 s while data is waiting is a lost wake-up (exit 1)."""
    import select
    got = 0
    while got < count:
        data = rx.recv()
        if data is not None:
            if data != got.to_bytes(4, "little") * (1 + got % 16):
                return 2
            got += 1
            continue
        if rx.arm():                      # data came in between: no sleep
            rx.disarm()
            continue
        ready, _, _ = select.select([bell], [], [], 5.0)
        rx.disarm()
        if not ready:
            return 1
        os.read(bell, 8)
    return 0


@pytest.mark.slow  # forks a peer process
def test_no_wake_up_is_lost_between_processes():
    _ring.register_fast_wakeups()
    size = 512
    mem = mmap.mmap(-1, 2 * PAGE + size, flags=mmap.MAP_SHARED)
    to_receiver = os.eventfd(0, os.EFD_NONBLOCK)
    to_sender = os.eventfd(0, os.EFD_NONBLOCK)
    count = 4000
    base = _ring.address_of(mem)
    args = (base + 2 * PAGE, size, base, base + PAGE)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the receiving process
        code = 3
        try:
            _ring.register_fast_wakeups()
            rx = Receiver(*args, base + PAGE + 64, base + 64, lambda: os.eventfd_write(to_sender, 1))
            code = _sleeper(rx, to_receiver, count)
        finally:
            os._exit(code)
    tx = Sender(*args, base + 64, base + PAGE + 64, lambda: os.eventfd_write(to_receiver, 1))
    import select
    import random
    rnd = random.Random(7)
    for seq in range(count):
        message = seq.to_bytes(4, "little") * (1 + seq % 16)
        while not tx.send(message):       # full: sleep until the receiver makes room
            if tx.arm(len(message)):
                tx.disarm()
                continue
            ready, _, _ = select.select([to_sender], [], [], 5.0)
            tx.disarm()
            assert ready, "the sender's wake-up was lost"
            os.read(to_sender, 8)
        if rnd.random() < 0.05:
            time.sleep(0.0002)            # let the receiver fall asleep now and then
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    assert tx.doorbells > 0               # the receiver did sleep and was woken
