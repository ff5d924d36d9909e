"""Runtime: the exercise phases of a run and their checks (part of the supervisor,
``supervisor.py``; after the cells started, before the report is sent).

:class:`ExercisePhases` sends each exercise to partcfg's own cells (``exercises`` is the
cells' side), judges what they observed against the blobs and the memory plan, and
records a check per link and per cell: permissions, discovery, state changes, message
exchange, signing in place, a peer killed mid-traffic, the bench figures, and what user
programs reported.
"""

from __future__ import annotations

import os
import time

from .cell_processes import CellProcess, LinkRuntime
from .plan import ACCESS_NONE, ACCESS_R, ACCESS_RW, KIND_EMULATED
from .run_report import Check, Figure, counted
from .transport import AREA_OUTPUT

PROGRAM_REPORTS = 200           # checks kept from one program's reports
PHASE_TIMEOUT = 30.0
EXCHANGE_COUNT = 5000


class ExercisePhases:
    """The phases after start; a part of :class:`Supervisor`, which holds the state
    (``system``, ``plan``, ``cells``, ``links``, ``working``, ``seconds``,
    ``exchange_count``, ``run_report``). It talks to the cells through the event loop
    (``command``, ``await_replies``, ``pump_events``) and records on the supervisor's
    subjects (``_link_subject``, ``_cell_subject``)."""

    # --- exercise 1: permissions ------------------------------------------------------------

    def phase_probe(self) -> None:
        cells = self.live_cells()
        replies = self.command(cells, {}, "probe", PHASE_TIMEOUT)
        link_rows: dict[int, list[str]] = {i: [] for i in range(len(self.links))}
        link_counts: dict[int, int] = {i: 0 for i in range(len(self.links))}
        for cell in cells:
            subject = self._cell_subject(cell.index)
            reply = replies.get(cell.index)
            if self._missing(subject, "permissions", cell, reply):
                continue
            plan = self.plan.cells[cell.index]
            wrong, refused, carved = [], 0, 0
            observed = {(p["region"], p["piece"]): p for p in reply["pieces"]}
            for region in plan.regions:
                for pi, piece in enumerate(region.pieces):
                    seen = observed.get((region.index, pi))
                    sec = self.plan.sections[piece.section]
                    where = f"region {region.index} section {sec.label}"
                    if seen is None:
                        wrong.append(f"{where}: not probed")
                        continue
                    want_read = piece.access in (ACCESS_R, ACCESS_RW)
                    want_write = piece.access == ACCESS_RW
                    got_read, got_write = seen["read"] == "ok", seen["write"] == "ok"
                    problem = None
                    if (got_read, got_write) != (want_read, want_write):
                        problem = (f"{where}: blob grants {piece.access!r}, read {seen['read']}, "
                                   f"write {seen['write']}")
                    elif not want_write and not seen["write"].startswith("SIGSEGV"):
                        problem = f"{where}: write did not fault with SIGSEGV ({seen['write']})"
                    if piece.access == ACCESS_R:
                        up = seen.get("upgrade", {})
                        granted = [k for k, v in up.items() if v == "ok"]
                        if granted or not up:
                            problem = f"{where}: read-only, but {', '.join(granted) or 'no'} upgrade refused"
                        else:
                            refused += 1
                    if piece.access == ACCESS_NONE:
                        carved += 1
                    if problem:
                        wrong.append(problem)
                    for li, link in enumerate(self.links):
                        lo, hi = link.info.state_table[0], link.info.phys_end
                        if cell.index in link.by_cell and lo <= sec.phys < hi:
                            link_counts[li] += 1
                            if problem:
                                link_rows[li].append(f"{cell.name}: {problem}")
            total = sum(len(r.pieces) for r in plan.regions)
            emulated = [r.index for r in plan.regions if r.kind == KIND_EMULATED]
            detail = (f"{counted(total, 'section')} x read/write probed in a child process, matrix equals "
                      "the blob's flags")
            if refused:
                detail += (f"; writes to the {'read-only section' if refused == 1 else f'{refused} read-only sections'} faulted (SIGSEGV), "
                           "and mprotect, a writable mmap and a read-write reopen were refused")
            if carved:
                detail += f"; {counted(carved, 'section')} carved out of the root cell (no access)"
            if emulated:
                detail += f"; sub-page I/O regions {emulated} are emulated, not mapped"
            subject.checks.append(Check("permissions", not wrong, "; ".join(wrong[:6]) if wrong else detail))
        for li, link in enumerate(self.links):
            rows = link_rows[li]
            said = ["state table read-only for every peer"]
            if link.info.rw_size:
                said.append("read/write section writable by all")
            if link.info.output_size:
                said.append("each output section writable by its owner only (TX) and "
                            "read-only for the others (RX)")
            if not any(self.cells[ci].program is None for ci in link.by_cell):
                self._link_subject(link.info).notes.append(
                    "permissions not probed: every peer runs a program")
                continue
            self._link_subject(link.info).checks.append(Check(
                "permissions", not rows and link_counts[li] > 0,
                "; ".join(rows[:6]) if rows else
                f"{counted(link_counts[li], 'peer section')} probed: " + ", ".join(said)))

    # --- discovery ------------------------------------------------------------------------------

    def phase_discover(self) -> None:
        cells = [c for c in self.live_cells() if self._links_of(c.index)]
        replies = self.command(cells, {}, "discover", PHASE_TIMEOUT)
        per_link: dict[int, list[str]] = {id(l): [] for l in self.links}
        for cell in cells:
            reply = replies.get(cell.index)
            subject = self._cell_subject(cell.index)
            if self._missing(subject, "link discovery", cell, reply):
                for link in self._links_of(cell.index):
                    per_link[id(link)].append(f"{cell.name}: no discovery")
                continue
            if reply["image_problems"]:
                subject.checks.append(Check("images", False, "; ".join(reply["image_problems"])))
            for dev in reply["devices"]:
                link = self.device_links[(cell.index, dev["device"])]
                if dev["problems"]:
                    per_link[id(link)].append(f"{cell.name}: " + "; ".join(dev["problems"]))
                else:
                    self.working[(cell.index, dev["device"])] = dev.get("transport")
        for link in self.links:
            problems = per_link[id(link)]
            found = [self.cells[c].name for c, (d, _) in link.by_cell.items()
                     if (c, d) in self.working]
            transports = [t for (c, d), t in self.working.items()
                          if self.device_links.get((c, d)) is link and t]
            detail = (f"{', '.join(found)} read the capability, resolved base and sections "
                      "through their own memory maps, ID and peer-count registers agree")
            if transports:
                t = transports[0]
                detail += (f"; rings in the {t['where']}, {t['ring_size']} bytes per direction, "
                           f"messages up to {t['max_message']} bytes")
            self._link_subject(link.info).checks.append(
                Check("discovery", not problems, "; ".join(problems) if problems else detail))

    def _working_peers(self, link: LinkRuntime, need_transport: bool = False) -> dict[int, int]:
        """Peer ID -> cell for the peers whose discovery worked (and that still run)."""
        result = {}
        for ci, (device, peer) in sorted(link.by_cell.items(), key=lambda x: x[1][1]):
            if (ci, device) in self.working and self.cells[ci].alive:
                if not need_transport or self.working[(ci, device)]:
                    result[peer] = ci
        return result

    # --- exercise 3: state changes --------------------------------------------------------------

    def phase_state(self) -> None:
        involved = sorted({ci for link in self.links
                           for ci in self._working_peers(link).values()
                           if len(self._working_peers(link)) >= 2})
        cells = [self.cells[ci] for ci in involved]
        if not cells:
            return
        results = {}
        for round_name, base, one_shot in (("state", 0x100, False), ("one-shot", 0x200, True)):
            self.command(cells, {c.index: {"one_shot": one_shot} for c in cells},
                         "state_prepare", PHASE_TIMEOUT)
            messages = {}
            for cell in cells:
                links = {}
                for link in self.links:
                    peers = self._working_peers(link)
                    if cell.index not in peers.values() or len(peers) < 2:
                        continue
                    device, me = link.by_cell[cell.index]
                    links[str(device)] = {"value": base + me,
                                          "expect": {str(p): base + p for p in peers if p != me}}
                messages[cell.index] = {"links": links, "one_shot": one_shot}
            results[round_name] = self.command(cells, messages, "state_change", 10.0)
        for link in self.links:
            peers = self._working_peers(link)
            subject = self._link_subject(link.info)
            if len(peers) < 2:
                subject.notes.append("state changes not run: fewer than two peers could use "
                                     "the link")
                continue
            problems, latencies = [], []
            for round_name, base, one_shot in (("state", 0x100, False), ("one-shot", 0x200, True)):
                for peer, ci in peers.items():
                    reply = results[round_name].get(ci)
                    device = link.by_cell[ci][0]
                    if reply is None or "error" in reply:
                        problems.append(f"{round_name}: {self.cells[ci].name} did not answer"
                                        + (f" ({reply['error']})" if reply else ""))
                        continue
                    got = reply["links"][str(device)]
                    wrong = {p: v for p, v in got["seen"].items() if v != base + int(p)}
                    if wrong:
                        problems.append(f"{round_name}: {self.cells[ci].name} saw states {wrong}")
                    if not got["wakeups"]:
                        problems.append(f"{round_name}: {self.cells[ci].name} got no wake-up")
                    if one_shot and (got["wakeups"] != 1 or got["int_control"] != 0):
                        problems.append(f"one-shot: {self.cells[ci].name} got {got['wakeups']} "
                                        f"wake-ups, interrupt control {got['int_control']}")
                    if got["latency"] is not None and not one_shot:
                        latencies.append(got["latency"])
            detail = (f"every peer's state change reached the {len(peers) - 1} other"
                      f"{'s' if len(peers) > 2 else ''} through the read-only state table and a "
                      "vector-0 wake-up"
                      + (f" (slowest {max(latencies) * 1e3:.1f} ms)" if latencies else "")
                      + "; in one-shot mode exactly one wake-up, then interrupts disabled")
            subject.checks.append(Check("state changes", not problems,
                                        "; ".join(problems[:6]) if problems else detail))

    # --- exercise 2: messages -------------------------------------------------------------------

    def phase_exchange(self) -> None:
        cells = sorted({ci for link in self.links
                        for ci in self._working_peers(link, True).values()})
        if not cells:
            return
        count = self.exchange_count
        replies = self.command([self.cells[ci] for ci in cells],
                               {ci: {"count": count} for ci in cells}, "exchange",
                               PHASE_TIMEOUT + count / 200)
        flows = {}
        for ci, reply in replies.items():
            if "error" in reply:
                continue
            for f in reply["flows"]:
                flows[(ci, f["device"], f["peer"], f["kind"])] = f
            sent = [f for f in reply["flows"] if f["kind"] == "tx"]
            got = [f for f in reply["flows"] if f["kind"] == "rx"]
            elapsed = max((f["elapsed"] for f in reply["flows"]), default=0)
            moved = sum(f["bytes"] for f in reply["flows"])
            if elapsed:
                self._cell_subject(ci).figures.append(Figure(
                    "exchange", moved / elapsed / 1e6, "MB/s",
                    f"sent {sum(f['messages'] for f in sent)} and received "
                    f"{sum(f['messages'] for f in got)} messages on "
                    f"{len({f['device'] for f in reply['flows']})} link(s) in "
                    f"{elapsed * 1e3:.0f} ms, {reply['sleeps']} sleeps on doorbells"))
        for link in self.links:
            peers = self._working_peers(link, True)
            subject = self._link_subject(link.info)
            if len(peers) < 2:
                subject.notes.append(
                    "message exchange not run: "
                    + ("the output sections are too small for one ring per peer"
                       if len(self._working_peers(link)) >= 2 else
                       "fewer than two peers could use the link"))
                continue
            problems, total_msgs, total_bytes, rates = [], 0, 0, []
            for src, sci in peers.items():
                for dst, dci in peers.items():
                    if src == dst:
                        continue
                    tx = flows.get((sci, link.by_cell[sci][0], dst, "tx"))
                    rx = flows.get((dci, link.by_cell[dci][0], src, "rx"))
                    name = f"{self.cells[sci].name}->{self.cells[dci].name}"
                    if tx is None or rx is None:
                        missing = self.cells[sci if tx is None else dci]
                        reply = replies.get(missing.index)
                        problems.append(f"{name}: {missing.name} "
                                        + (reply["error"] if reply and "error" in reply
                                           else "did not report"))
                        continue
                    for f in (tx, rx):
                        if f["error"]:
                            problems.append(f"{name}: {f['error']}")
                    if rx["bad"]:
                        problems.append(f"{name}: {rx['bad']} messages arrived altered")
                    if tx["messages"] != count or rx["messages"] != count:
                        problems.append(f"{name}: sent {tx['messages']}, received "
                                        f"{rx['messages']} of {count}")
                    total_msgs += rx["messages"]
                    total_bytes += rx["bytes"]
                    if rx["elapsed"] > 0:
                        rates.append(rx["messages"] / rx["elapsed"])
            directions = len(peers) * (len(peers) - 1)
            subject.checks.append(Check(
                "message exchange", not problems, "; ".join(problems[:6]) if problems else
                f"{count} messages in each of {directions} directions, sizes 16 bytes to the "
                "ring's maximum, every byte checked, in order, none lost"))
            if rates:
                elapsed = max(flows[k]["elapsed"] for k in flows
                              if self.device_links.get((k[0], k[1])) is link)
                subject.figures.append(Figure(
                    "exchange", total_bytes / elapsed / 1e6 if elapsed else 0, "MB/s",
                    f"{total_msgs} messages, {total_bytes / 1e6:.1f} MB over all directions at "
                    f"once, {min(rates):,.0f}..{max(rates):,.0f} msg/s per direction"))

    # --- exercise 4: sign in place --------------------------------------------------------------

    def phase_sign(self) -> None:
        for link in self.links:
            peers = self._working_peers(link, True)
            subject = self._link_subject(link.info)
            if len(peers) < 2:
                continue
            (sp, sci), (rp, rci) = list(peers.items())[:2]
            sender, receiver = self.cells[sci], self.cells[rci]
            transport = self.working[(sci, link.by_cell[sci][0])]
            if transport["where"] != AREA_OUTPUT:
                subject.notes.append(
                    "sign in place does not apply: without output sections every peer may "
                    "write the common section, so a receiver can alter what it verifies")
                continue
            size = max(64, min(transport["max_message"] - 32, 16384))
            key = os.urandom(32).hex()
            sent = self.command([sender], {sci: {"device": link.by_cell[sci][0], "peer": rp,
                                                 "key": key, "size": size}}, "sign_send", 10.0)
            if self._missing(subject, "sign in place", sender, sent.get(sci)):
                continue
            got = self.command([receiver], {rci: {"device": link.by_cell[rci][0], "peer": sp,
                                                  "key": key}}, "sign_verify", 10.0)
            reply = got.get(rci)
            if self._missing(subject, "sign in place", receiver, reply):
                continue
            problems = []
            if not reply["verified"] or not reply["verified_after"]:
                problems.append("the signature did not verify")
            if reply["child"] != "SIGSEGV":
                problems.append(f"the hostile receiver's write ended with {reply['child']}, "
                                "not SIGSEGV")
            if reply["mprotect"] == "ok":
                problems.append("the receiver could make the message writable")
            if not reply["in_place"]:
                problems.append("the message was not read in the sender's output section")
            out_start = (link.info.state_table[0] + link.info.state_table[1]
                         + link.info.rw_size + sp * link.info.output_size)
            where = _phys_of_address(receiver.popen.pid, reply["address"], reply.get("maps", []))
            if where is None or not out_start <= where < out_start + link.info.output_size:
                problems.append(
                    f"the receiver hashed bytes at {reply['address']:#x}, which its memory map "
                    f"puts at {'no memory file' if where is None else f'{where:#x}'}, not in "
                    f"{sender.name}'s output section {out_start:#x}+{link.info.output_size:#x}")
            problems += self._sign_tamper(link, sender, sci, receiver, rci, size)
            subject.checks.append(Check(
                "sign in place", not problems, "; ".join(problems) if problems else
                f"{sender.name} wrote and signed (HMAC-SHA256) {size} bytes in its output section; "
                f"{receiver.name} verified them in place, without a copy (a byte {sender.name} "
                f"changed afterwards failed the check, changed back it passed), while its "
                f"hostile child's write faulted (SIGSEGV) and mprotect was refused "
                f"({reply['mprotect']})"))

    def _sign_tamper(self, link: LinkRuntime, sender: CellProcess, sci: int,
                     receiver: CellProcess, rci: int, size: int) -> list[str]:
        """While the receiver holds the verified message, the sender flips one byte of it
        in its own output section: verifying again must fail. Flipped back, it must pass.
        Only a receiver that reads the sender's bytes where they are can do both."""
        problems = []
        for step, expect in (("changed", False), ("restored", True)):
            altered = self.command([sender], {sci: {"device": link.by_cell[sci][0],
                                                    "offset": size // 3}}, "sign_alter", 10.0)
            if altered.get(sci) is None or "error" in altered[sci]:
                if expect is False:         # let the receiver go of the message it holds
                    self.command([receiver], {rci: {"release": True}}, "sign_recheck", 10.0)
                return problems + [f"{sender.name} could not change its message"]
            again = self.command([receiver], {rci: {"release": expect}}, "sign_recheck", 10.0)
            got = again.get(rci)
            if got is None or "error" in got:
                return problems + [f"{receiver.name} did not verify again"]
            if got["verified"] != expect:
                problems.append(
                    f"after {sender.name} {step} byte {size // 3} of the message in its output "
                    f"section, {receiver.name}'s verification "
                    f"{'still passed: it verified a copy' if expect is False else 'failed'}")
        return problems

    # --- exercise 5: a peer killed mid-traffic --------------------------------------------------

    def _victim(self) -> CellProcess | None:
        candidates = [c for c in self.live_cells() if not self.system.cells[c.index].is_root]
        if not candidates:
            return None
        return max(candidates, key=lambda c: (sum(1 for l in self.links
                                                  if c.index in self._working_peers(l).values()),
                                              -c.index))

    def phase_kill(self) -> None:
        victim = self._victim()
        if victim is None:
            self.run_report.notes.append("no non-root cell to kill: the kill exercise did not run")
            return
        cells = self.live_cells()
        shared = [l for l in self.links if victim.index in self._working_peers(l).values()]
        before = {id(l): self._working_peers(l, True) for l in self.links}
        seconds = max(self.seconds, 0.2)
        for cell in cells:
            cell.control.send({"op": "traffic", "seconds": seconds, "timeout": seconds + 10})
        kill_at = time.monotonic() + seconds / 3
        while time.monotonic() < kill_at:
            self.pump_events(kill_at - time.monotonic())
        victim.expected_death = True
        victim.popen.kill()
        killed = time.monotonic()
        survivors = [c for c in cells if c is not victim]
        replies = self.await_replies(survivors, "traffic", seconds + 15.0)
        deadline = time.monotonic() + 5.0
        while victim.alive and time.monotonic() < deadline:
            self.pump_events(0.05)
        self._cell_subject(victim.index).checks.append(Check(
            "killed mid-traffic", not victim.alive,
            f"SIGKILL {(seconds / 3) * 1e3:.0f} ms into the traffic; the supervisor set its "
            f"state to 0 on {len(shared)} link{'s' if len(shared) != 1 else ''} and notified "
            "the peers"))
        for cell in survivors:
            if cell.index not in replies:
                self._cell_subject(cell.index).checks.append(Check(
                    "carried on", False, "hung: no report after the peer was killed"
                    if cell.alive else cell.died_text()))
        for link in self.links:
            peers = before[id(link)]
            subject = self._link_subject(link.info)
            victim_peer = next((p for p, ci in self._all_peers(link).items()
                                if ci == victim.index), None)
            if victim_peer is None:
                continue
            problems, latencies, after = [], [], []
            for peer, ci in self._working_peers(link).items():
                if ci == victim.index:
                    continue
                reply = replies.get(ci)
                if reply is None or "error" in reply:
                    problems.append(f"{self.cells[ci].name} did not report"
                                    + (f": {reply['error']}" if reply else ""))
                    continue
                device = link.by_cell[ci][0]
                left = [x for x in reply["left"] if x["device"] == device and x["peer"] == victim_peer]
                if peer in peers and victim_peer in peers:
                    if not left:
                        problems.append(f"{self.cells[ci].name} never saw {victim.name}'s state drop to 0")
                    else:
                        latencies.append(left[0]["seen"] - killed)
                for f in reply["flows"]:
                    if f["device"] != device:
                        continue
                    if f["error"] or f["bad"]:
                        problems.append(f"{self.cells[ci].name}: {f['error'] or str(f['bad']) + ' bad messages'}")
                    if f["peer"] != victim_peer and f["kind"] == "rx":
                        after.append((self.cells[ci].name, f["after_drop"]))
            stalled = [name for name, n in after if n is not None and n <= 0]
            if stalled:
                problems.append("no messages after the kill at " + ", ".join(stalled))
            carried = [n for _, n in after if n]
            subject.checks.append(Check(
                "peer killed mid-traffic", not problems, "; ".join(problems[:6]) if problems else
                f"{victim.name} (peer {victim_peer}) killed; every other peer saw its state drop "
                "to 0" + (f" within {max(latencies) * 1e3:.1f} ms" if latencies else "")
                + (f" and kept exchanging ({sum(carried)} messages received after the kill)"
                   if carried else " and kept running; no peer left to talk to")))

    def _all_peers(self, link: LinkRuntime) -> dict[int, int]:
        return {peer: ci for ci, (_, peer) in link.by_cell.items()}

    # --- bench --------------------------------------------------------------------------------

    def phase_bench(self) -> None:
        kinds = [("msg64", "64-byte messages, one per call"),
                 ("batch64", "64-byte messages, batch call"),
                 ("block64k", "64 KiB messages"),
                 ("rtt", "64-byte round trip, polling")]
        for link in self.links:
            peers = self._working_peers(link, True)
            if len(peers) < 2:
                continue
            subject = self._link_subject(link.info)
            (ap, aci), (bp, bci) = list(peers.items())[:2]
            a, b = self.cells[aci], self.cells[bci]
            transport = self.working[(aci, link.by_cell[aci][0])]
            for kind, what in kinds:
                if kind == "block64k" and transport["max_message"] < 65536:
                    subject.figures.append(Figure(
                        what, 0, "GB/s", f"not measured: this ring holds messages up to "
                        f"{transport['max_message']} bytes"))
                    continue
                b.control.send({"op": "bench", "device": link.by_cell[bci][0], "peer": ap,
                                "kind": kind, "role": "rx", "seconds": self.seconds})
                a.control.send({"op": "bench", "device": link.by_cell[aci][0], "peer": bp,
                                "kind": kind, "role": "tx", "seconds": self.seconds})
                replies = self.await_replies([a, b], "bench", self.seconds + 20.0)
                ra, rb = replies.get(aci), replies.get(bci)
                if not ra or not rb or "error" in ra or "error" in rb:
                    why = (ra or {}).get("error") or (rb or {}).get("error") or "no answer"
                    subject.checks.append(Check(f"bench {what}", False, why))
                    continue
                pair = f"{a.name} -> {b.name}"
                if kind == "rtt":
                    value = ra["elapsed"] / ra["round_trips"] * 1e6
                    subject.figures.append(Figure(what, value, "us",
                                                  f"{a.name} <-> {b.name}, {ra['round_trips']} round trips"))
                elif kind == "block64k":
                    value = rb["messages"] * rb["size"] / rb["elapsed"] / 1e9
                    subject.figures.append(Figure(what, value, "GB/s",
                                                  f"{pair}, {rb['messages']} messages, send() + recv_into()"))
                else:
                    value = rb["messages"] / rb["elapsed"]
                    subject.figures.append(Figure(what, value, "msg/s",
                                                  f"{pair}, {rb['messages']} messages"))


    # --- user programs ----------------------------------------------------------------------

    def phase_programs(self) -> None:
        """Give the programs ``seconds`` more to finish, then take what they reported (each
        report a check of its cell) and how they ended."""
        programs = [c for c in self.cells if c.program is not None]
        deadline = time.monotonic() + self.seconds
        while any(c.alive for c in programs) and time.monotonic() < deadline:
            self.pump_events(min(0.05, max(0.0, deadline - time.monotonic())))
        self.pump_events(0)
        for cell in programs:
            subject = self._cell_subject(cell.index)
            reports = [m for m in cell.inbox if m.get("op") == "report"]
            for msg in reports[:PROGRAM_REPORTS]:
                subject.checks.append(Check(f"program: {str(msg.get('name'))[:200]}",
                                            msg.get("held") is True,
                                            str(msg.get("detail", ""))[:2000]))
            if len(reports) > PROGRAM_REPORTS:
                subject.notes.append(f"{len(reports) - PROGRAM_REPORTS} more reports not kept")
            if cell.alive:
                subject.checks.append(Check("program", True, "still running at the end of "
                                            "the run: stopped"))
            else:
                subject.checks.append(Check("program", cell.status == 0,
                                            "exited with status 0" if cell.status == 0
                                            else cell.died_text()))


def _phys_of_address(pid: int, address: int, reported: list[str] = ()) -> int | None:
    """The physical address (in the system the blobs describe) behind ``address`` in
    process ``pid``, from the kernel's list of its mappings: the memory file of each
    section is named after the section's physical start (memory.py). A non-dumpable cell
    of the same user id hides its list from a supervisor without privileges: then the
    lines the cell read from its own list (``reported``) stand in."""
    try:
        with open(f"/proc/{pid}/maps") as handle:
            lines = handle.read().splitlines()
    except OSError:
        lines = [line for line in reported if isinstance(line, str)]
    for line in lines:
        fields = line.split(maxsplit=5)
        start, end = (int(x, 16) for x in fields[0].split("-"))
        if start <= address < end and len(fields) == 6 and "memfd:partcfg:" in fields[5]:
            section = int(fields[5].split()[0].rsplit(":", 1)[1], 16)
            return section + int(fields[2], 16) + address - start
    return None
