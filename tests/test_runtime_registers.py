"""The ivshmem register block as the runtime's supervisor implements it
(partcfg/runtime/registers.py, docs/format/ivshmem-v2.md "Register region")."""

from __future__ import annotations

from partcfg.runtime.registers import (CFG_PRIV_CONTROL, REG_DOORBELL, REG_ID,
                                       REG_INT_CONTROL, REG_MAX_PEERS, REG_STATE, Interrupt,
                                       LinkRegisters)


def link(peers=3, vectors=None, present=None) -> LinkRegisters:
    vectors = vectors or {p: 2 for p in range(peers)}
    regs = LinkRegisters.of(peers, vectors)
    for p in (present if present is not None else vectors):
        regs.connect(p)
        regs.write(p, REG_INT_CONTROL, 1)
    return regs


def bell(target: int, vector: int) -> int:
    return target << 16 | vector


def test_offsets_are_the_spec_s():
    assert (REG_ID, REG_MAX_PEERS, REG_INT_CONTROL, REG_DOORBELL, REG_STATE) == (0, 4, 8, 0xC, 0x10)
    assert CFG_PRIV_CONTROL == 0x43


def test_id_and_maximum_peers_are_read_only():
    regs = link(3)
    assert [regs.read(p, REG_ID) for p in range(3)] == [0, 1, 2]
    assert regs.read(1, REG_MAX_PEERS) == 3
    regs.write(1, REG_ID, 7)
    regs.write(1, REG_MAX_PEERS, 9)
    assert (regs.read(1, REG_ID), regs.read(1, REG_MAX_PEERS)) == (1, 3)
    assert regs.read(1, 0x44) == 0 and regs.read(1, REG_DOORBELL) == 0


def test_a_doorbell_reaches_its_target_with_its_vector():
    regs = link(3)
    assert regs.write(0, REG_DOORBELL, bell(2, 1)) == [Interrupt(2, 1)]
    assert regs.write(2, REG_DOORBELL, bell(2, 0)) == [Interrupt(2, 0)]   # to itself


def test_doorbells_to_disabled_absent_or_missing_targets_and_vectors_do_nothing():
    regs = link(3, present=[0, 1])
    regs.write(1, REG_INT_CONTROL, 0)
    assert regs.write(0, REG_DOORBELL, bell(1, 0)) == []     # interrupts disabled
    assert regs.write(0, REG_DOORBELL, bell(2, 0)) == []     # peer 2 absent
    assert regs.write(0, REG_DOORBELL, bell(7, 0)) == []     # no such peer
    regs.write(1, REG_INT_CONTROL, 1)
    assert regs.write(0, REG_DOORBELL, bell(1, 2)) == []     # peer 1 has vectors 0 and 1
    assert regs.write(0, REG_DOORBELL, bell(1, 1)) == [Interrupt(1, 1)]


def test_intx_devices_have_one_vector():
    regs = link(2, vectors={0: 0, 1: 0})
    assert regs.write(0, REG_DOORBELL, bell(1, 0)) == [Interrupt(1, 0)]
    assert regs.write(0, REG_DOORBELL, bell(1, 1)) == []


def test_interrupt_control_keeps_only_the_enable_bit():
    regs = link(2)
    regs.write(0, REG_INT_CONTROL, 0xFFFFFFFF)
    assert regs.read(0, REG_INT_CONTROL) == 1
    regs.write(0, REG_INT_CONTROL, 2)
    assert regs.read(0, REG_INT_CONTROL) == 0


def test_one_shot_mode_disables_interrupts_after_each_delivery():
    regs = link(2)
    regs.config_write(1, CFG_PRIV_CONTROL, 1)
    assert regs.write(0, REG_DOORBELL, bell(1, 0)) == [Interrupt(1, 0)]
    assert regs.read(1, REG_INT_CONTROL) == 0
    assert regs.write(0, REG_DOORBELL, bell(1, 0)) == []     # until the guest re-enables
    regs.write(1, REG_INT_CONTROL, 1)
    assert regs.write(0, REG_DOORBELL, bell(1, 1)) == [Interrupt(1, 1)]
    regs.config_write(1, CFG_PRIV_CONTROL, 0)                # back to normal mode
    regs.write(1, REG_INT_CONTROL, 1)
    regs.write(0, REG_DOORBELL, bell(1, 0))
    assert regs.read(1, REG_INT_CONTROL) == 1
    regs.config_write(1, 0x40, 1)                            # other config bytes do not stick
    assert regs.peers[1].one_shot is False


def test_a_state_change_goes_to_the_table_and_raises_vector_0_at_every_other_peer():
    regs = link(3)
    regs.write(2, REG_INT_CONTROL, 0)
    assert regs.write(0, REG_STATE, 0x1234) == [Interrupt(1, 0)]   # peer 2 disabled
    assert regs.state_table == [0x1234, 0, 0]
    assert regs.read(0, REG_STATE) == 0x1234
    assert regs.write(0, REG_STATE, 0x1234) == []                 # no change, no interrupt
    assert regs.write(1, REG_STATE, 5) == [Interrupt(0, 0)]
    assert regs.state_table == [0x1234, 5, 0]


def test_a_disconnected_peer_s_state_becomes_0_and_the_others_learn_it():
    regs = link(3)
    regs.write(1, REG_STATE, 1)
    assert regs.disconnect(1) == [Interrupt(0, 0), Interrupt(2, 0)]
    assert regs.state_table == [0, 0, 0]
    assert regs.write(1, REG_STATE, 9) == []                      # gone: ignored
    assert regs.write(0, REG_DOORBELL, bell(1, 0)) == []
    assert regs.disconnect(1) == []
    regs.connect(1)                                               # a restarted cell
    assert regs.read(1, REG_INT_CONTROL) == 0 and regs.state_table[1] == 0
