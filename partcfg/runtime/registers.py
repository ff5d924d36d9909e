"""Runtime: the register block of one link's ivshmem devices (docs/format/ivshmem-v2.md), as the
supervisor implements it for the cell processes. Pure state; no OS calls.

Registers (BAR 0, 32-bit): 0x00 ID (read-only), 0x04 maximum peers (read-only),
0x08 interrupt control (bit 0 enables), 0x0c doorbell (write-only: vector in bits 0..15,
target peer in bits 16..31), 0x10 state. The privileged-control byte of the vendor
capability (config space 0x43, bit 0) selects one-shot mode: delivering an interrupt then
clears the target's interrupt enable, so the guest re-enables it after handling.

Writes return the interrupts to deliver; the caller (the supervisor) turns them into
wake-ups of the target processes and mirrors :attr:`LinkRegisters.state_table` into the
state-table memory, which every peer maps read-only.

Choices where the spec is silent: a doorbell or state change aimed at an absent peer, a
peer with interrupts disabled, or a vector the target does not have (INTx devices have
one, vector 0) is dropped; a state write raises vector 0 only when the value changes;
accesses to other offsets read 0 and are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..formats.ivshmem import (DOORBELL_PEER_SHIFT, DOORBELL_VECTOR_MASK, INT_CONTROL_ENABLE,
                       PRIV_CONTROL_ONESHOT, REGISTERS, VENDOR_CAP_OFFSET)

REG_ID = REGISTERS.offsets["id"]
REG_MAX_PEERS = REGISTERS.offsets["max_peers"]
REG_INT_CONTROL = REGISTERS.offsets["int_control"]
REG_DOORBELL = REGISTERS.offsets["doorbell"]
REG_STATE = REGISTERS.offsets["state"]
CFG_PRIV_CONTROL = VENDOR_CAP_OFFSET + 3      # config space 0x43
STATE_VECTOR = 0


@dataclass(frozen=True)
class Interrupt:
    target: int
    vector: int


@dataclass
class PeerRegisters:
    vectors: int                  # MSI-X vectors; 0 means INTx (one line, vector 0)
    present: bool = False
    int_control: int = 0
    one_shot: bool = False
    state: int = 0

    @property
    def vector_count(self) -> int:
        return max(1, self.vectors)


@dataclass
class LinkRegisters:
    max_peers: int
    peers: dict[int, PeerRegisters] = field(default_factory=dict)

    @classmethod
    def of(cls, max_peers: int, vectors: dict[int, int]) -> "LinkRegisters":
        return cls(max_peers, {pid: PeerRegisters(v) for pid, v in vectors.items()})

    @property
    def state_table(self) -> list[int]:
        """One u32 per peer, what the state table memory must hold."""
        return [self.peers[p].state if p in self.peers else 0 for p in range(self.max_peers)]

    def connect(self, peer: int) -> None:
        """Reset state of a peer whose cell starts: registers as after reset."""
        regs = self.peers[peer]
        regs.present, regs.int_control, regs.one_shot, regs.state = True, 0, False, 0

    def read(self, peer: int, offset: int) -> int:
        regs = self.peers[peer]
        if offset == REG_ID:
            return peer
        if offset == REG_MAX_PEERS:
            return self.max_peers
        if offset == REG_INT_CONTROL:
            return regs.int_control
        if offset == REG_STATE:
            return regs.state
        return 0

    def write(self, peer: int, offset: int, value: int) -> list[Interrupt]:
        value &= 0xFFFFFFFF
        regs = self.peers[peer]
        if not regs.present:
            return []
        if offset == REG_INT_CONTROL:
            regs.int_control = value & INT_CONTROL_ENABLE
            return []
        if offset == REG_DOORBELL:
            target = value >> DOORBELL_PEER_SHIFT
            interrupt = self._deliver(target, value & DOORBELL_VECTOR_MASK)
            return [interrupt] if interrupt else []
        if offset == REG_STATE:
            return self._set_state(peer, value)
        return []

    def config_write(self, peer: int, offset: int, value: int) -> None:
        """A config-space byte write; only the one-shot bit of privileged control sticks."""
        if offset == CFG_PRIV_CONTROL:
            self.peers[peer].one_shot = bool(value & PRIV_CONTROL_ONESHOT)

    def disconnect(self, peer: int) -> list[Interrupt]:
        """The peer's cell stopped (reset, exit or death): its state becomes 0 and the
        others learn it through vector 0."""
        regs = self.peers[peer]
        interrupts = self._set_state(peer, 0) if regs.present else []
        regs.present, regs.int_control = False, 0
        return interrupts

    def _set_state(self, peer: int, value: int) -> list[Interrupt]:
        regs = self.peers[peer]
        if regs.state == value:
            return []
        regs.state = value
        delivered = (self._deliver(other, STATE_VECTOR) for other in sorted(self.peers)
                     if other != peer)
        return [i for i in delivered if i]

    def _deliver(self, target: int, vector: int) -> Interrupt | None:
        regs = self.peers.get(target)
        if regs is None or not regs.present or not regs.int_control & INT_CONTROL_ENABLE:
            return None
        if vector >= regs.vector_count:
            return None
        if regs.one_shot:
            regs.int_control = 0
        return Interrupt(target, vector)
