"""The elector against an in-memory Lease, with time moved by hand (client-go's semantics)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from reconciler.leadership.elector import ElectionSettings, LeaderElector
from reconciler.leadership.lease import LeaseSpec
from reconciler.leadership.microtime import format_micro_time

from .fakes import START, FakeClock, MemoryLeases, settle

LEASE = "headless-reconciler"
SETTINGS = ElectionSettings()
STANDBY_WAIT = SETTINGS.retry_period * (1 + SETTINGS.jitter * 0.5)
"""Every standby here draws the middle of its jitter range."""


@dataclass
class Candidates:
    """Electors sharing one Lease and one clock, and every change of leadership they report."""

    clock: FakeClock
    leases: MemoryLeases
    changes: list[tuple[str, bool, float]] = field(default_factory=list)
    tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    async def start(self, identity: str) -> LeaderElector:
        elector = LeaderElector(
            self.leases,
            namespace="default",
            name=LEASE,
            identity=identity,
            clock=self.clock,
            uniform=lambda: 0.5,
            on_started_leading=self._record(identity, True),
            on_stopped_leading=self._record(identity, False),
        )
        self.tasks[identity] = asyncio.create_task(elector.run())
        await settle()
        return elector

    async def crash(self, identity: str) -> None:
        """Stop a candidate the way SIGKILL does: no release."""
        task = self.tasks.pop(identity)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    def started(self, identity: str) -> list[float]:
        return [at for who, leading, at in self.changes if who == identity and leading]

    def stopped(self, identity: str) -> list[float]:
        return [at for who, leading, at in self.changes if who == identity and not leading]

    def _record(self, identity: str, leading: bool) -> Callable[[], None]:
        return lambda: self.changes.append((identity, leading, self.clock.monotonic()))


@pytest.fixture
async def candidates() -> AsyncIterator[Candidates]:
    world = Candidates(FakeClock(), MemoryLeases())
    yield world
    for identity in list(world.tasks):
        await world.crash(identity)


async def test_a_missing_lease_is_created_with_holder_duration_and_micro_times(
    candidates: Candidates,
) -> None:
    leader = await candidates.start("a")

    assert candidates.leases.spec(LEASE) == LeaseSpec(
        holder_identity="a",
        lease_duration_seconds=15,
        acquire_time="2026-11-29T05:12:00.000000Z",
        renew_time="2026-11-29T05:12:00.000000Z",
        lease_transitions=0,
    )
    assert leader.may_write()
    assert candidates.started("a") == [0.0]


async def test_the_leader_renews_every_retry_period_and_keeps_its_acquire_time(
    candidates: Candidates,
) -> None:
    await candidates.start("a")

    await candidates.clock.advance(4.5)

    assert [verb for verb, _ in candidates.leases.writes] == ["create", "update", "update"]
    spec = candidates.leases.spec(LEASE)
    assert spec.renew_time == "2026-11-29T05:12:04.000000Z"
    assert spec.acquire_time == "2026-11-29T05:12:00.000000Z"
    assert spec.lease_transitions == 0


async def test_a_standby_leaves_a_live_lease_alone(candidates: Candidates) -> None:
    await candidates.start("a")
    standby = await candidates.start("b")

    await candidates.clock.advance(60)

    assert not standby.may_write()
    assert candidates.started("b") == []
    assert candidates.leases.spec(LEASE).holder_identity == "a"
    assert candidates.leases.spec(LEASE).lease_transitions == 0


async def test_a_standby_takes_over_an_expired_lease_and_counts_the_transition(
    candidates: Candidates,
) -> None:
    await candidates.start("a")
    standby = await candidates.start("b")
    await candidates.clock.advance(3)
    await candidates.crash("a")

    await candidates.clock.advance(30)

    (took_over,) = candidates.started("b")
    last_renewal = 2.0
    assert last_renewal + 15 <= took_over <= last_renewal + 15 + STANDBY_WAIT
    spec = candidates.leases.spec(LEASE)
    assert spec.holder_identity == "b"
    assert spec.lease_transitions == 1
    assert spec.acquire_time == format_micro_time(START + timedelta(seconds=took_over))
    assert standby.may_write()


async def test_a_conflict_showing_another_holder_ends_leadership_at_once(
    candidates: Candidates,
) -> None:
    leader = await candidates.start("a")
    candidates.leases.overwrite(
        LEASE, LeaseSpec(holder_identity="intruder", lease_duration_seconds=15, lease_transitions=1)
    )

    await candidates.clock.advance(2)

    assert candidates.stopped("a") == [2.0]
    assert not leader.may_write()
    assert candidates.leases.spec(LEASE).holder_identity == "intruder"


async def test_a_conflict_on_its_own_lease_is_retried_from_a_fresh_read(
    candidates: Candidates,
) -> None:
    leader = await candidates.start("a")
    own = candidates.leases.spec(LEASE)
    candidates.leases.overwrite(LEASE, own)

    await candidates.clock.advance(2)

    assert candidates.stopped("a") == []
    assert leader.may_write()
    spec = candidates.leases.spec(LEASE)
    assert spec.renew_time == "2026-11-29T05:12:02.000000Z"
    assert spec.lease_transitions == 0


async def test_a_leader_whose_renewals_hang_stops_writing_at_its_renew_deadline(
    candidates: Candidates,
) -> None:
    leader = await candidates.start("a")
    candidates.leases.hold_writes()

    await candidates.clock.advance(9.99)
    assert leader.may_write()
    assert candidates.leases.arrived >= 2, "the renewal should be stuck in flight"

    await candidates.clock.advance(0.01)

    assert not leader.may_write()
    assert candidates.stopped("a") == [10.0]
    assert 10.0 < 15, "it stops before anyone could see the Lease expire"


async def test_a_leader_that_lost_its_lease_to_a_hang_leads_again_once_writes_pass(
    candidates: Candidates,
) -> None:
    leader = await candidates.start("a")
    candidates.leases.hold_writes()
    await candidates.clock.advance(10)
    candidates.leases.release_writes()

    await candidates.clock.advance(STANDBY_WAIT)

    assert leader.may_write()
    first, again = candidates.started("a")
    assert first == 0.0
    assert 10.0 <= again <= 10.0 + STANDBY_WAIT
    assert candidates.leases.spec(LEASE).lease_transitions == 0


async def test_release_clears_the_holder_and_a_standby_takes_over_on_its_next_try(
    candidates: Candidates,
) -> None:
    leader = await candidates.start("a")
    await candidates.start("b")
    await candidates.clock.advance(5)
    await candidates.crash("a")

    assert await leader.release()

    released = candidates.leases.spec(LEASE)
    assert released.holder_identity is None
    assert released.lease_duration_seconds == 1
    assert released.lease_transitions == 0
    assert released.renew_time == "2026-11-29T05:12:05.000000Z"
    assert not leader.may_write()
    await candidates.clock.advance(STANDBY_WAIT)
    (took_over,) = candidates.started("b")
    assert took_over - 5 <= STANDBY_WAIT
    assert candidates.leases.spec(LEASE).lease_transitions == 1


async def test_release_without_holding_the_lease_writes_nothing(candidates: Candidates) -> None:
    await candidates.start("a")
    standby = await candidates.start("b")
    writes = len(candidates.leases.writes)

    assert not await standby.release()

    assert len(candidates.leases.writes) == writes


async def test_of_two_candidates_for_an_expired_lease_exactly_one_wins(
    candidates: Candidates,
) -> None:
    candidates.leases.overwrite(
        LEASE, LeaseSpec(holder_identity="gone", lease_duration_seconds=15, lease_transitions=4)
    )
    await candidates.start("b")
    await candidates.start("c")
    await candidates.clock.advance(14.9)
    candidates.leases.hold_writes()
    await candidates.clock.advance(0.1)
    assert candidates.leases.arrived == 2, "both should be racing with the same resourceVersion"

    candidates.leases.release_writes()
    await settle()

    winners = [who for who in ("b", "c") if candidates.started(who)]
    assert winners == [candidates.leases.spec(LEASE).holder_identity]
    assert candidates.leases.spec(LEASE).lease_transitions == 5


@pytest.mark.parametrize(
    ("lease", "renew", "retry"), [(10, 10.0, 2.0), (15, 2.0, 2.0), (15, 10.0, 0.0)]
)
def test_timings_must_shrink_from_lease_to_renew_deadline_to_retry(
    lease: int, renew: float, retry: float
) -> None:
    with pytest.raises(ValueError, match="lease duration > renew deadline > retry period"):
        ElectionSettings(lease_duration=lease, renew_deadline=renew, retry_period=retry)
