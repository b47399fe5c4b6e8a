"""Soak: N minutes of people booking on both sides, injected faults and killed ``roomsync sync`` processes.

Run ``python -m tests.reliability.soak [--minutes N] [--seed S]`` (``make soak``; not part of ``make test``).

Each step, people make a few random changes (Planon kiosk bookings in any room, Outlook meetings in the rooms that
follow and meeting requests for the boardroom in the lead; edits and cancellations, each side only of its own
meetings so that the intended result is never a conflict), a random fault may be armed on either emulator, and
``roomsync sync --once`` runs as a separate process that is SIGKILLed at a random write or a random moment about
half the time. Invariants checked continuously: no booking exists twice on either side. Every few steps the faults
are cleared, the CLI runs until ``roomsync plan`` finds nothing to do, and then: Planon and the room calendars hold
the same bookings, and every meeting people made and did not cancel is on both sides (lost = 0). The summary counts
everything; the exit status is 1 when any invariant was violated.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from roomsync.sandbox.building import person, workday
from tests.reliability import cli, scenario
from tests.reliability.rig import FOLLOW, LEAD, ThreadedRig, threaded_rig

PEOPLE = ("anna", "ben", "carla", "dev")
KINDS = ("create", "create", "edit", "cancel")


@dataclass
class Meeting:
    side: str  # "planon" or "outlook"
    room: str  # Planon unit code
    start: datetime
    end: datetime
    subject: str
    handle: Any  # Planon syscode or iCalUId
    decided: bool = True  # False for a request to the lead room: Planon may refuse it


@dataclass
class Soak:
    threaded: ThreadedRig
    manifests: Path
    rng: random.Random
    day: datetime
    meetings: dict[str, Meeting] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)

    @property
    def rig(self) -> Any:
        return self.threaded.rig

    # -- people ----------------------------------------------------------------------------------------------------
    def _slot(self) -> tuple[datetime, datetime]:
        day = self.day + timedelta(days=self.rng.randrange(0, 10))
        while day.weekday() >= 5:
            day += timedelta(days=1)
        start = day.replace(hour=self.rng.randrange(7, 19), minute=self.rng.choice((0, 30)))
        return start, start + timedelta(minutes=self.rng.choice((30, 60)))

    def people_act(self) -> None:
        for _ in range(self.rng.randrange(1, 4)):
            kind = self.rng.choice(KINDS)
            try:
                getattr(self, f"_{kind}")()
            except Exception as refused:  # the emulators refuse what real Planon / Exchange would refuse
                self.counts[f"people {kind} refused"] += 1
                if not type(refused).__name__.startswith(("SandboxRefused", "SandboxError")):
                    raise

    def _create(self) -> None:
        start, end = self._slot()
        subject = f"Soak {self.counts['people create'] + 1:04d}"
        if self.rng.random() < 0.5:
            room = self.rng.choice((LEAD, *FOLLOW))
            made = self.threaded.call(
                self.rig.planon.admin.book(room.code, start, end, subject, requestor=person(self.rng.choice(PEOPLE)))
            )
            self.meetings[subject] = Meeting("planon", room.code, start, end, subject, made[0]["syscode"])
        else:
            room = self.rng.choice((LEAD, *FOLLOW))
            uid = self.threaded.call(
                self.rig.graph.admin.book_in_outlook(
                    person(self.rng.choice(PEOPLE)), [room.mailbox], subject, start, end, time_zone=scenario.TZ
                )
            )
            if room is not LEAD and not self._accepted(room.mailbox, subject):
                self.counts["people create refused"] += 1  # Exchange declined it (the room was taken)
                return
            self.meetings[subject] = Meeting("outlook", room.code, start, end, subject, uid, decided=room is not LEAD)
        self.counts["people create"] += 1
        self.counts[f"people create {self.meetings[subject].side}"] += 1

    def _accepted(self, mailbox: str, subject: str) -> bool:
        events = self.threaded.call(self.rig.graph.admin.room_events(mailbox))
        return any(e["subject"] == subject and e["response"] == "accepted" for e in events)

    def _pick(self, *, editable: bool = False) -> Meeting | None:
        live = [m for m in self.meetings.values() if m.decided and not (editable and m.room == LEAD.code)]
        return self.rng.choice(live) if live else None

    def _edit(self) -> None:
        """Move a meeting (not the lead room's: there a moved request is Planon's to decide again)."""
        meeting = self._pick(editable=True)
        if meeting is None:
            return
        shift = timedelta(minutes=self.rng.choice((-30, 30, 60)))
        start, end = meeting.start + shift, meeting.end + shift
        if not 7 <= start.astimezone(scenario_zone()).hour < 19:
            return
        if meeting.side == "planon":
            self.threaded.call(self.rig.planon.admin.edit(int(meeting.handle), start=start, end=end))
        else:
            self.threaded.call(self.rig.graph.admin.edit(str(meeting.handle), start=start, end=end))
            mailbox = next(r.mailbox for r in FOLLOW if r.code == meeting.room)
            if not self._accepted(mailbox, meeting.subject):  # Exchange declined the new time: the room decided
                del self.meetings[meeting.subject]
                self.counts["people edit declined by the room"] += 1
                return
        meeting.start, meeting.end = start, end
        self.counts["people edit"] += 1

    def _cancel(self) -> None:
        meeting = self._pick()
        if meeting is None:
            return
        if meeting.side == "planon":
            self.threaded.call(self.rig.planon.admin.cancel(int(meeting.handle)))
        else:
            self.threaded.call(self.rig.graph.admin.cancel(str(meeting.handle), "soak"))
        del self.meetings[meeting.subject]
        self.counts["people cancel"] += 1

    # -- faults and kills -----------------------------------------------------------------------------------------
    def faults(self) -> list[tuple[str, Callable[[], Awaitable[Any]]]]:
        planon, graph = self.rig.planon.admin, self.rig.graph.admin
        read = {"definition": "UsrReservationMeetingRoom"}
        return [
            ("graph 429 Retry-After 0.2", lambda: graph.inject(429, count=3, retry_after="0.2")),
            ("graph 429 storm", lambda: graph.inject(429, count=60, retry_after="0.05")),
            ("graph 503", lambda: graph.inject(503, count=2)),
            ("graph 504", lambda: graph.inject(504, count=2)),
            ("graph reset", lambda: graph.inject(reset=True, count=2)),
            ("graph malformed", lambda: graph.inject(malformed=True, status=200, count=1, method="GET")),
            ("graph token expired", graph.expire_tokens),
            ("graph delta expired", graph.expire_delta_tokens),
            ("planon 500 read", lambda: planon.fault("status", "read", status=500, times=2, **read)),
            ("planon 503 write", lambda: planon.fault("status", "execute", status=503)),
            ("planon lost answer", lambda: planon.fault("lost", "execute")),
            ("planon reset", lambda: planon.fault("reset", "read", **read)),
            ("planon truncated", lambda: planon.fault("truncated", "read", **read)),
            ("planon malformed", lambda: planon.fault("malformed", "read", **read)),
            ("planon empty read", lambda: planon.fault("empty", "read", **read)),
            ("planon 10 MB body", lambda: planon.fault("oversized", "read", **read)),
        ]

    def maybe_fault(self) -> None:
        if self.rng.random() < 0.5:
            name, inject = self.rng.choice(self.faults())
            self.threaded.call(inject())
            self.counts[f"fault {name}"] += 1
            self.counts["faults injected"] += 1

    def clear_faults(self) -> None:
        def clear() -> None:
            self.rig.planon.faults.clear()
            self.rig.graph.state.traffic.faults.clear()

        self.threaded.run(clear)

    def sync(self) -> None:
        """One ``roomsync sync --once``; killed at a random write or moment about half the time."""
        gate = self.rig.gate
        roll = self.rng.random()
        kill_at = self.rng.randrange(1, 8) if roll < 0.3 else None
        self.threaded.run(lambda: gate.arm(kill_at))
        process = cli.CliProcess(["sync", "--once", "-f", str(self.manifests)])
        deadline = time.monotonic() + (self.rng.uniform(0.05, 1.0) if 0.3 <= roll < 0.5 else 120)
        while process.poll() is None and not gate.tripped.wait(0.01) and time.monotonic() < deadline:
            pass
        if process.poll() is None:
            process.kill()
            self.counts["kills"] += 1
        result = process.wait()
        gate.release(self.threaded.loop)
        self.threaded.run(lambda: gate.arm(None))
        self.counts["syncs"] += 1
        self.counts[f"sync exit {result.code}"] += 1

    # -- invariants ------------------------------------------------------------------------------------------------
    def check_no_duplicates(self, when: str) -> None:
        duplicates = self.threaded.run(self.rig.canonical).duplicates()
        self.counts["duplicate checks"] += 1
        if duplicates:
            self.violations.append(f"{when}: duplicated {duplicates}")

    def converge(self, step: int) -> None:
        self.clear_faults()
        for _ in range(4):
            self.sync_clean()
            if cli.run(["plan", "-f", str(self.manifests)]).code == 0:
                break
        else:
            self.violations.append(f"step {step}: no convergence after 4 clean cycles")
        self.counts["convergence checks"] += 1
        state = self.threaded.run(self.rig.canonical)
        mailbox = {r.mailbox: r.code for r in (LEAD, *FOLLOW)}
        planon = {(k[0], k[1], k[2], k[3]) for k in state.planon if k[0] in mailbox.values()}
        calendar = {(mailbox[k[0]], k[1], k[2], k[-1]) for k in state.calendar}
        if planon != calendar:
            self.violations.append(
                f"step {step}: sides differ: only Planon {sorted(planon - calendar)}, "
                f"only calendar {sorted(calendar - planon)}"
            )
        if state.duplicates():
            self.violations.append(f"step {step}: duplicated {state.duplicates()}")
        subjects = {k[3] for k in planon} & {k[3] for k in calendar}
        for meeting in self.meetings.values():
            if not meeting.decided:
                continue
            if meeting.subject not in subjects:
                self.violations.append(f"step {step}: lost {meeting.side} meeting {meeting.subject!r}")
                self.counts["lost"] += 1
        # requests to the lead room are decided now: accepted ones count as made, refused ones are gone
        for meeting in list(self.meetings.values()):
            if not meeting.decided:
                if meeting.subject in subjects:
                    meeting.decided = True
                else:
                    del self.meetings[meeting.subject]
                    self.counts["lead requests declined"] += 1
        self.counts["meetings verified"] += len([m for m in self.meetings.values() if m.decided])

    def sync_clean(self) -> None:
        result = cli.run(["sync", "--once", "-f", str(self.manifests)])
        self.counts["syncs"] += 1
        self.counts[f"sync exit {result.code}"] += 1


def scenario_zone() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(scenario.TZ)


def run(minutes: float, seed: int) -> int:
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)  # injected resets are meant to happen
    rng = random.Random(seed)
    started = time.monotonic()
    with threaded_rig() as threaded, tempfile.TemporaryDirectory(prefix="roomsync-soak-") as directory:
        manifests = threaded.rig.write_manifests(Path(directory))
        soak = Soak(threaded, manifests, rng, workday(3))
        step = 0
        while time.monotonic() - started < minutes * 60:
            step += 1
            soak.people_act()
            soak.maybe_fault()
            soak.sync()
            soak.check_no_duplicates(f"step {step}")
            if step % 5 == 0:
                soak.converge(step)
        soak.converge(step)
    elapsed = time.monotonic() - started
    print(f"soak: {elapsed / 60:.1f} min, {step} steps, seed {seed}")
    for name, count in sorted(soak.counts.items()):
        print(f"  {name:32} {count}")
    print(f"  {'violations':32} {len(soak.violations)}")
    for violation in soak.violations:
        print(f"  VIOLATION {violation}")
    return 1 if soak.violations else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to run (default 10)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: time-based, printed)")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else int(time.time())
    return run(args.minutes, seed)


if __name__ == "__main__":
    sys.exit(main())
