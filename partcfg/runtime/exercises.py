"""Runtime: what a cell process does when the supervisor asks (the guest's side of every
exercise). Each function takes the :class:`~partcfg.runtime.cell.CellRuntime` and the
command, and returns raw observations; the supervisor judges them against the blobs.

- ``probe``: read and write every piece of every region in a child process (a write to a
  read-only section must fault with SIGSEGV), then try to upgrade each read-only piece
  (mprotect, a writable mmap of its descriptor, re-opening the descriptor read-write).
- ``state_prepare`` / ``state_change``: write the state register, wait for the other
  peers' states in the state table and for the vector-0 wake-up (plain and one-shot).
- ``exchange``: messages to and from every peer on every link, every byte checked.
- ``sign_send`` / ``sign_verify`` / ``sign_alter`` / ``sign_recheck``: a message signed in
  place in the sender's output section; the receiver verifies it in place while a hostile
  child tries to alter it, then again after the sender changed one byte (must fail) and
  changed it back (must pass), which a receiver verifying a copy cannot do.
- ``traffic``: continuous exchange while the supervisor kills a peer; a peer whose state
  drops to 0 is left, the others carry on.
- ``bench``: the throughput and latency figures between two cells.
Every wait has a deadline.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import hmac
import json
import mmap
import os
import random
import signal
import struct
import time
import zlib

from . import _ring
from .registers import CFG_PRIV_CONTROL, REG_INT_CONTROL
from .transport import drain, readable, wait_for_any

PROT_RW = mmap.PROT_READ | mmap.PROT_WRITE
SPIN_SECONDS = 50e-6          # poll this long without progress before sleeping
STEP_MESSAGES = 32            # messages per flow per round, so flows take turns
STALL_SECONDS = 2.0           # no flow moved for this long: the peers are stuck
MAX_EXERCISED_MESSAGE = 1 << 20   # a 512 MiB ring is exercised with messages up to 1 MiB
AFTER_DROP_SECONDS = 0.2      # traffic goes on at least this long after a peer left
SIGNAL_NAMES = {signal.SIGSEGV: "SIGSEGV", signal.SIGBUS: "SIGBUS"}
SEGV_CODES = {1: "SEGV_MAPERR", 2: "SEGV_ACCERR", 3: "SEGV_BNDERR", 4: "SEGV_PKUERR"}


def _deadline(msg: dict, default: float = 10.0) -> float:
    return time.monotonic() + float(msg.get("timeout", default))


# --- permission probe ----------------------------------------------------------------------

def _fault_text(sig: int, code: int) -> str:
    name = SIGNAL_NAMES.get(sig, f"signal {sig}")
    return f"{name} ({SEGV_CODES.get(code, code)})" if sig == signal.SIGSEGV else name


def _errno_text(number: int) -> str:
    return "ok" if number == 0 else errno.errorcode.get(number, str(number))


def in_child(work, deadline: float):
    """Run ``work()`` in a forked child and return its JSON-able result. The child is a
    throw-away process: faults and mappings there cannot hurt the cell."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            os.close(read_end)
            data = json.dumps(work()).encode()
            view = memoryview(data)
            while view:
                view = view[os.write(write_end, view):]
            os._exit(0)
        except BaseException:
            os._exit(70)
    os.close(write_end)
    chunks = []
    try:
        while True:
            left = deadline - time.monotonic()
            ready = readable([read_end], max(left, 0))
            if not ready:
                os.kill(pid, signal.SIGKILL)
                raise TimeoutError("probe child did not finish before the deadline")
            chunk = os.read(read_end, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read_end)
        _, status = os.waitpid(pid, 0)
    if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
        raise RuntimeError(f"probe child ended with status {status:#x}")
    return json.loads(b"".join(chunks))


def _reopen_attempt(fd: int, size: int) -> str:
    """Re-open a read-only descriptor read-write through /proc and map it writable."""
    try:
        new = os.open(f"/proc/self/fd/{fd}", os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        return f"{_errno_text(exc.errno)} (open)"
    try:
        return _errno_text(_ring.try_map(new, size, PROT_RW))
    finally:
        os.close(new)


def probe(rt, msg: dict) -> dict:
    targets = []
    for region in rt.space.regions:
        for pi, piece in enumerate(region.pieces):
            first, last = piece["offset"], piece["offset"] + piece["size"] - 1
            for offset in sorted({first, last}):
                targets.append((region.index, pi, region.host + offset))

    def attempts():
        return [[ri, pi, list(_ring.probe(a, False)), list(_ring.probe(a, True))]
                for ri, pi, a in targets]

    observed = in_child(attempts, _deadline(msg, 30.0))
    pieces: dict[tuple[int, int], dict] = {}
    for ri, pi, (rsig, rcode, _), (wsig, wcode, _) in observed:
        entry = pieces.setdefault((ri, pi), {"region": ri, "piece": pi, "read": "ok", "write": "ok"})
        if rsig:
            entry["read"] = _fault_text(rsig, rcode)
        if wsig:
            entry["write"] = _fault_text(wsig, wcode)
    for region in rt.space.regions:
        for pi, piece in enumerate(region.pieces):
            if piece["access"] != "r":
                continue
            host = region.host + piece["offset"]
            pieces[(region.index, pi)]["upgrade"] = {
                "mprotect": _errno_text(_ring.try_protect(host, piece["size"], PROT_RW)),
                "mmap": _errno_text(_ring.try_map(piece["fd"], piece["size"], PROT_RW)),
                "reopen": _reopen_attempt(piece["fd"], piece["size"]),
            }
    return {"pieces": list(pieces.values())}


# --- state changes --------------------------------------------------------------------------

def state_prepare(rt, msg: dict) -> dict:
    one_shot = bool(msg.get("one_shot"))
    for ep in rt.endpoints.values():
        drain(ep.eventfds[:1])
        rt.registers.config_write(ep.device, CFG_PRIV_CONTROL, 1 if one_shot else 0)
        rt.registers.write(ep.device, REG_INT_CONTROL, 1)
    return {"ready": True}


def state_change(rt, msg: dict) -> dict:
    """Write my state on each link, then wait until every other peer's announced value is
    in the state table and a vector-0 wake-up arrived."""
    deadline = _deadline(msg)
    links = {int(k): v for k, v in msg["links"].items()}
    for device, plan in links.items():
        rt.endpoints[device].set_state(plan["value"])
    wakeups = {d: 0 for d in links}
    start = time.monotonic()
    seen_at: dict[int, float] = {}
    while True:
        for device in links:
            wakeups[device] += drain(rt.endpoints[device].eventfds[:1])
        for device, plan in links.items():
            ep = rt.endpoints[device]
            if device not in seen_at and (wakeups[device] or not plan["expect"]) and all(
                    ep.state_of(int(p)) == v for p, v in plan["expect"].items()):
                seen_at[device] = time.monotonic() - start
        if len(seen_at) == len(links) or time.monotonic() > deadline:
            break
        fds = [rt.endpoints[d].eventfds[0] for d in links if d not in seen_at]
        # after a one-shot interrupt no other comes: look at the table often instead
        nap = 0.002 if any(wakeups[d] for d in links if d not in seen_at) else 0.05
        readable(fds, max(0.0, min(nap, deadline - time.monotonic())))
    # a late interrupt still counts (one-shot mode must not deliver any)
    time.sleep(0.02)
    result = {}
    for device, plan in links.items():
        ep = rt.endpoints[device]
        wakeups[device] += drain(ep.eventfds[:1])
        result[str(device)] = {
            "seen": {str(p): ep.state_of(int(p)) for p in plan["expect"]},
            "wakeups": wakeups[device], "latency": seen_at.get(device),
            "int_control": rt.registers.read(device, REG_INT_CONTROL),
        }
        if msg.get("one_shot"):  # back to normal interrupts
            rt.registers.config_write(device, CFG_PRIV_CONTROL, 0)
            rt.registers.write(device, REG_INT_CONTROL, 1)
    return {"links": result}


# --- message flows --------------------------------------------------------------------------

def _seed(link: str, src: int, dst: int) -> int:
    return zlib.crc32(f"{link}:{src}->{dst}".encode())


class Pattern:
    """The messages of one direction: sizes cycle through a list, the payload is a slice
    of a seeded random pool, and a header carries direction, size and sequence number,
    so the receiver can regenerate every byte it should get."""
    HEADER = struct.Struct("<HHIQ")

    BIG_EVERY = 50       # every 50th message has the ring's maximum size

    def __init__(self, link: str, src: int, dst: int, max_size: int, sizes=None):
        self.src, self.dst = src, dst
        if sizes is None:
            sizes = [16, 24, 64, 65, 100, 250, 1000, 4000, max_size // 2]
        self.max_size = max_size
        self.sizes = sorted({s for s in sizes if self.HEADER.size <= s <= max_size}) or [max_size]
        self.pool = random.Random(_seed(link, src, dst)).randbytes(max_size + 64)

    def message(self, seq: int) -> bytes:
        if seq % self.BIG_EVERY == self.BIG_EVERY - 1:
            size = self.max_size
        else:
            size = self.sizes[seq % len(self.sizes)]
        start = seq % 64
        return (self.HEADER.pack(self.src, self.dst, size, seq)
                + self.pool[start:start + size - self.HEADER.size])


class _Flow:
    """What a sending and a receiving flow share: the peer, the pattern, how far it got
    and when it is over."""

    def __init__(self, ep, peer: int, pattern: Pattern, count: int | None):
        self.ep, self.peer, self.pattern, self.count = ep, peer, pattern, count
        self.seq = 0
        self.bytes = 0
        self.error: str | None = None
        self.stopped = False

    @property
    def done(self) -> bool:
        return self.stopped or self.error is not None or (
            self.count is not None and self.seq >= self.count)


class TxFlow(_Flow):
    def __init__(self, ep, peer: int, pattern: Pattern, count: int | None):
        super().__init__(ep, peer, pattern, count)
        self.tx = ep.sender(peer)
        self._next = pattern.message(0)

    def step(self) -> bool:
        sent = 0
        send = self.tx.send
        while sent < STEP_MESSAGES and not self.done:
            if not send(self._next):
                break
            self.bytes += len(self._next)
            self.seq += 1
            sent += 1
            self._next = self.pattern.message(self.seq)
        return sent > 0

    def arm(self) -> bool:
        return self.tx.arm(len(self._next))

    def disarm(self) -> None:
        self.tx.disarm()


class RxFlow(_Flow):
    def __init__(self, ep, peer: int, pattern: Pattern, count: int | None):
        super().__init__(ep, peer, pattern, count)
        self.rx = ep.receiver(peer)
        self.bad = 0

    def step(self) -> bool:
        got = 0
        recv = self.rx.recv
        while got < STEP_MESSAGES and not self.done:
            data = recv()
            if data is None:
                break
            if data != self.pattern.message(self.seq):
                self.bad += 1
            self.bytes += len(data)
            self.seq += 1
            got += 1
        return got > 0

    def arm(self) -> bool:
        return self.rx.arm()

    def disarm(self) -> None:
        self.rx.disarm()


def pump(flows: list, fds: list[int], deadline: float, until=None, watch=None) -> dict:
    """Drive the flows until all are done, time ``until()`` has come (a normal end), or
    the deadline passes (``timed_out``). Polls while there is progress, then sleeps on
    the doorbells."""
    sleeps = wakeups = 0
    idle_since = None
    timed_out = False
    last_progress = time.monotonic()
    while True:
        if watch:
            watch()
        active = [f for f in flows if not f.done]
        if not active or (until is not None and time.monotonic() >= until()):
            break
        progressed = False
        for f in active:
            try:
                progressed = f.step() or progressed
            except _ring.RingCorrupt as exc:
                f.error = f"ring corrupt: {exc}"
        if progressed:
            idle_since = None
            last_progress = time.monotonic()
            continue
        now = time.monotonic()
        if now >= deadline:
            timed_out = True
            break
        if now - last_progress >= STALL_SECONDS:
            # an absent or broken peer: say so now instead of waiting out the deadline
            for f in active:
                f.error = f.error or (f"no progress for {STALL_SECONDS:.0f} s: peer {f.peer} "
                                      + ("takes no messages" if isinstance(f, TxFlow)
                                         else "sends nothing"))
            break
        if idle_since is None:
            idle_since = now
            continue
        if now - idle_since < SPIN_SECONDS:
            continue
        limit = deadline if until is None else min(deadline, until())
        limit = min(limit, last_progress + STALL_SECONDS)
        active = [f for f in flows if not f.done]
        try:
            woke = wait_for_any([f.arm for f in active], [f.disarm for f in active], fds, limit)
        except _ring.RingCorrupt as exc:
            for f in active:
                f.error = f.error or f"ring corrupt: {exc}"
            continue
        sleeps += 1
        wakeups += woke
        idle_since = None
    return {"sleeps": sleeps, "wakeups": wakeups, "timed_out": timed_out}


def _flows_for(rt, count: int | None, sizes=None) -> tuple[list, list, list[int]]:
    tx, rx, fds = [], [], []
    for ep in rt.endpoints.values():
        if ep.layout is None:
            continue
        max_size = min(ep.layout.ring_size // 2 - _ring.RECORD_HEADER, MAX_EXERCISED_MESSAGE)
        for peer in ep.others():
            if not ep.state_of(peer):
                continue
            tx.append(TxFlow(ep, peer, Pattern(ep.name, ep.me, peer, max_size, sizes), count))
            rx.append(RxFlow(ep, peer, Pattern(ep.name, peer, ep.me, max_size, sizes), count))
        fds.extend(ep.eventfds)
    return tx, rx, fds


def _flow_report(f, kind: str, elapsed: float) -> dict:
    return {"device": f.ep.device, "peer": f.peer, "kind": kind, "messages": f.seq,
            "bytes": f.bytes, "bad": getattr(f, "bad", 0), "error": f.error,
            "elapsed": elapsed}


def _watch_states(flows: list, drops: dict, start: float):
    """A peer whose state table entry drops to 0 has left: its flows end."""
    def watch():
        for f in flows:
            if f.done:
                continue
            if f.ep.state_of(f.peer) == 0:
                key = (f.ep.device, f.peer)
                if key not in drops:
                    drops[key] = {"seen": time.monotonic(),
                                  "counts": {id(g): g.seq for g in flows}}
                f.stopped = True
    return watch


def exchange(rt, msg: dict) -> dict:
    tx, rx, fds = _flows_for(rt, int(msg["count"]))
    drops: dict = {}
    start = time.monotonic()
    stats = pump(tx + rx, fds, _deadline(msg, 30.0), watch=_watch_states(tx + rx, drops, start))
    elapsed = time.monotonic() - start
    return {"flows": [_flow_report(f, "tx", elapsed) for f in tx]
            + [_flow_report(f, "rx", elapsed) for f in rx],
            "left": [{"device": d, "peer": p} for d, p in drops], **stats}


def traffic(rt, msg: dict) -> dict:
    """Exchange without end until ``seconds`` pass, leaving peers that disappear."""
    tx, rx, fds = _flows_for(rt, None, sizes=[16, 64, 200, 1000])
    flows = tx + rx
    drops: dict = {}
    start = time.monotonic()
    planned = start + float(msg["seconds"])

    def until() -> float:
        # whoever saw a peer leave keeps going a while, to show it carries on
        return max([planned] + [d["seen"] + AFTER_DROP_SECONDS for d in drops.values()])

    stats = pump(flows, fds, planned + 5.0 + AFTER_DROP_SECONDS, until=until,
                 watch=_watch_states(flows, drops, start))
    elapsed = time.monotonic() - start
    reports = []
    for kind, group in (("tx", tx), ("rx", rx)):
        for f in group:
            r = _flow_report(f, kind, elapsed)
            after = [f.seq - d["counts"][id(f)] for d in drops.values()]
            r["after_drop"] = min(after) if after else None
            reports.append(r)
    return {"flows": reports,
            "left": [{"device": d, "peer": p, "seen": v["seen"]} for (d, p), v in drops.items()],
            **stats}


# --- sign in place --------------------------------------------------------------------------

def sign_send(rt, msg: dict) -> dict:
    """Write a message into my output section and sign it there (HMAC-SHA256 over the
    bytes in place, tag appended in place), then publish it as one zero-copy block."""
    ep = rt.endpoints[int(msg["device"])]
    tx = ep.sender(int(msg["peer"]))
    key = bytes.fromhex(msg["key"])
    size = int(msg["size"])
    block = tx.reserve(size + 32)
    deadline = _deadline(msg)
    while block is None:
        if time.monotonic() > deadline:
            return {"error": "no room in the ring for the signed message"}
        time.sleep(0.001)
        block = tx.reserve(size + 32)
    block[:size] = random.Random(size).randbytes(size)
    block[size:] = hmac.new(key, block[:size], hashlib.sha256).digest()
    address = _ring.address_of(block)
    tx.commit(size + 32)
    rt.signed_message = address          # sign_alter changes the published bytes there
    return {"address": address - ep.areas[ep.me], "size": size}


def sign_alter(rt, msg: dict) -> dict:
    """Flip every bit of one byte of the message I signed, in my output section, after it
    was published: a receiver that verifies the bytes in place sees the change, one that
    verified a copy does not. Applied twice, the message is whole again."""
    address = rt.signed_message + int(msg["offset"])
    byte = ctypes.c_ubyte.from_address(address)
    byte.value ^= 0xFF
    return {"value": byte.value}


def _verifies(key: bytes, view) -> bool:
    """HMAC-SHA256 over ``view`` itself: hashlib reads the buffer where it is, no copy."""
    body, tag = view[:-32], view[-32:]
    return hmac.compare_digest(hmac.new(key, body, hashlib.sha256).digest(), tag)


def sign_verify(rt, msg: dict) -> dict:
    """Verify the peer's signed message in place, in its output section (read-only here),
    while a hostile child of this cell tries to overwrite it. The message stays held
    (not released) for ``sign_recheck``; the reply names the address that was hashed, so
    the supervisor can find it in this process's memory map."""
    ep = rt.endpoints[int(msg["device"])]
    rx = ep.receiver(int(msg["peer"]))
    key = bytes.fromhex(msg["key"])
    deadline = _deadline(msg)
    view = rx.peek()
    while view is None:
        if time.monotonic() > deadline:
            return {"error": "the signed message did not arrive"}
        wait_for_any([rx.arm], [rx.disarm], ep.eventfds, deadline, 0.05)
        view = rx.peek()
    address = _ring.address_of(view)
    target = address + (len(view) - 32) // 2
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the hostile receiver
        for _ in range(1000):
            _ring.poke(target, 0x5A)      # must fault on the first attempt
        os._exit(0)
    verified = _verifies(key, view)
    status = _wait_child(pid, deadline)
    mprotect = _errno_text(_ring.try_protect(address & ~(mmap.PAGESIZE - 1), mmap.PAGESIZE, PROT_RW))
    verified_after = _verifies(key, view)
    area = ep.areas[int(msg["peer"])]
    in_place = area <= address < area + ep.geometry.area_size
    rt.held_message = (rx, view, key)
    return {"verified": verified, "verified_after": verified_after, "child": status,
            "mprotect": mprotect, "in_place": in_place, "size": len(view) - 32,
            "address": address, "maps": _own_mappings_at(address)}


def _own_mappings_at(address: int) -> list[str]:
    """The lines of this process's memory map that hold ``address``: the supervisor
    cannot read the list of a non-dumpable cell without privileges (confine.py)."""
    try:
        with open("/proc/self/maps") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        start, _, end = line.split(maxsplit=1)[0].partition("-")
        if int(start, 16) <= address < int(end, 16):
            found.append(line)
    return found


def sign_recheck(rt, msg: dict) -> dict:
    """Verify the held message again, where it lies; release it when asked."""
    if rt.held_message is None:
        return {"error": "no signed message is held"}
    rx, view, key = rt.held_message
    verified = _verifies(key, view)
    if msg.get("release"):
        rt.held_message = None
        del view
        rx.release()
    return {"verified": verified}


def _wait_child(pid: int, deadline: float) -> str:
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            if os.WIFSIGNALED(status):
                sig = os.WTERMSIG(status)
                return SIGNAL_NAMES.get(sig, f"signal {sig}")
            return f"exit {os.WEXITSTATUS(status)}"
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "hung (killed)"
        time.sleep(0.001)


# --- bench ----------------------------------------------------------------------------------

END = b"\xff" * 8


def _pin(cpu: int) -> None:
    try:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) > 1:
            os.sched_setaffinity(0, {cpus[cpu % len(cpus)]})
    except OSError:
        pass


def bench(rt, msg: dict) -> dict:
    ep = rt.endpoints[int(msg["device"])]
    peer = int(msg["peer"])
    kind, role = msg["kind"], msg["role"]
    seconds = float(msg["seconds"])
    deadline = time.monotonic() + seconds + 10.0
    previous = os.sched_getaffinity(0)
    _pin(0 if role == "tx" else 1)
    try:
        if kind == "rtt":
            return _bench_rtt(ep, peer, role, seconds, deadline)
        if role == "tx":
            return _bench_tx(ep.sender(peer), kind, seconds, deadline)
        return _bench_rx(ep.receiver(peer), kind, deadline)
    finally:
        os.sched_setaffinity(0, previous)


def _send_end(tx, deadline: float) -> None:
    while not tx.send(END):
        if time.monotonic() > deadline:
            raise TimeoutError("receiver stopped taking messages")


def _bench_tx(tx, kind: str, seconds: float, deadline: float) -> dict:
    sent0 = tx.sent
    start = time.perf_counter()
    stop = start + seconds
    if kind == "msg64":
        m = bytes(64)
        send = tx.send
        while time.perf_counter() < stop:
            for _ in range(2000):
                send(m)
    elif kind == "batch64":
        batch = bytes(64 * 256)
        send_batch = tx.send_batch
        while time.perf_counter() < stop:
            for _ in range(50):
                send_batch(batch, 64)
    elif kind == "block64k":
        m = random.Random(1).randbytes(65536)
        send = tx.send
        while time.perf_counter() < stop:
            for _ in range(20):
                send(m)
    elapsed = time.perf_counter() - start
    _send_end(tx, deadline)
    return {"messages": tx.sent - sent0, "elapsed": elapsed}


def _bench_rx(rx, kind: str, deadline: float) -> dict:
    n = 0
    first = None
    if kind == "batch64":
        buf = bytearray(72 * 2048)
        recv = rx.recv_batch_into
        while True:
            c = recv(buf)
            if not c:
                if time.monotonic() > deadline:
                    raise TimeoutError("sender went quiet")
                continue
            if first is None:
                first = time.perf_counter()
            if rx.batch_bytes != c * 72:      # the END marker is the one 8-byte message
                n += c - 1
                break
            n += c
        return {"messages": n, "elapsed": time.perf_counter() - first, "size": 64}
    size = 65536 if kind == "block64k" else 64
    buf = bytearray(size)
    recv = rx.recv_into
    empty = 0
    while True:
        k = recv(buf)
        if k == size:
            if first is None:
                first = time.perf_counter()
            n += 1
        elif k < 0:
            empty += 1
            if empty & 0xFFFF == 0 and time.monotonic() > deadline:
                raise TimeoutError("sender went quiet")
        else:
            break
    return {"messages": n, "elapsed": time.perf_counter() - first, "size": size}


def _bench_rtt(ep, peer: int, role: str, seconds: float, deadline: float) -> dict:
    tx, rx = ep.sender(peer), ep.receiver(peer)
    buf = bytearray(64)
    recv_into, send = rx.recv_into, tx.send
    if role == "rx":      # the echo side
        empty = 0
        while True:
            k = recv_into(buf)
            if k == 64:
                while not send(buf):
                    if time.monotonic() > deadline:
                        raise TimeoutError("pinger stopped taking replies")
            elif k < 0:
                empty += 1
                if empty & 0xFFFF == 0 and time.monotonic() > deadline:
                    raise TimeoutError("pinger went quiet")
            else:
                return {"echoed": True}
    m = bytes(64)
    n = 0
    start = time.perf_counter()
    stop = start + seconds
    while time.perf_counter() < stop:
        for _ in range(200):
            send(m)
            spins = 0
            while recv_into(buf) < 0:
                spins += 1
                if spins & 0xFFFF == 0 and time.monotonic() > deadline:
                    raise TimeoutError("echo side went quiet")
        n += 200
    elapsed = time.perf_counter() - start
    _send_end(tx, deadline)
    return {"round_trips": n, "elapsed": elapsed}
