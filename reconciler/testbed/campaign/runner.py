"""Run schedules: seed the world, converge, misbehave, stop misbehaving, converge, check.

One schedule, start to end:

1. A fresh simulated cluster, the campaign world, two replicas with leader
   election; the controller repairs the seeded drift (not yet under faults).
2. The schedule's steps, in order, with its gaps: the world changes and faults
   are injected (aimed at the controller's requests only, so the world keeps
   changing through the same server).
3. Faults end and the clock starts; killed replicas are replaced (their start
   counts); the controller must reach the desired state within
   ``CONVERGE_BOUND`` seconds.
4. Quiet: once the leader watches everything again, it re-plans every key
   twice; the second round may write no object and repeat no Event.
5. The invariants (``invariants``) over the whole write log.
"""

from __future__ import annotations

import asyncio
import math
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from reconciler.runtime.controller import PLANNED_KINDS
from reconciler.simulator.cluster import simulated_cluster
from reconciler.simulator.simulator import Simulator
from reconciler.simulator.store import Store
from reconciler.testbed.campaign import invariants
from reconciler.testbed.campaign.invariants import Violation
from reconciler.testbed.campaign.replicas import AGENT_PREFIX, REMOVAL_GRACE, Fleet, Replica
from reconciler.testbed.campaign.schedules import (
    WATCHED,
    Compact,
    CutWatches,
    ErrorBurst,
    ExpireWatch,
    KillLeader,
    KillReplica,
    Latency,
    RestartServer,
    Schedule,
    Step,
    Throttle,
    WorldStep,
    fault_type,
    generate,
)
from reconciler.testbed.campaign.world import ENTRIES, HEALTH_CHECKED, TWINS, CampaignWorld, Key

CONVERGE_BOUND: Final = 45.0
"""Seconds from the end of the faults to the desired state, at most.

The sum of what may still be pending when faults end: a watch backoff at its
30 s cap (client-go's), a lease left by a killed leader (2 s) and one removal
grace (1 s), plus request retries.
"""
REPLICAS: Final = 2
SETUP_WITHIN: Final = 30.0
QUIET_WITHIN: Final = 20.0


@dataclass(slots=True)
class ScheduleResult:
    seed: int
    faults: Counter[str]
    world_steps: int
    converged: bool
    converge_seconds: float
    violations: list[str]
    writes: int
    changes: int
    conflicts: int = 0
    """Controller writes the server answered with 409 (a colleague's write came first)."""
    remaining: list[str] = field(default_factory=list)
    """What still differed from the desired state when the bound ran out."""
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.converged and not self.violations


async def run_schedule(
    schedule: Schedule, *, converge_within: float = CONVERGE_BOUND
) -> ScheduleResult:
    """One schedule against a fresh simulated cluster; see the module docstring."""
    started = time.monotonic()
    sim = simulated_cluster(seed=schedule.seed)
    await sim.start()
    api = sim.api_client()
    with tempfile.TemporaryDirectory(prefix="campaign-") as directory:
        fleet = Fleet(sim.write_kubeconfig(Path(directory) / "kubeconfig"))
        try:
            result = await _run(schedule, sim, api, fleet, converge_within=converge_within)
        finally:
            await fleet.stop()
            await api.close()
            await sim.stop()
    result.seconds = time.monotonic() - started
    return result


async def _run(
    schedule: Schedule, sim: Simulator, api: Any, fleet: Fleet, *, converge_within: float
) -> ScheduleResult:
    world = CampaignWorld(api)
    await world.seed()
    world.remember_foreign(sim.store)
    await fleet.settle(REPLICAS)
    await fleet.wait_leader(within=SETUP_WITHIN)
    if not await converge(world, sim.store, within=SETUP_WITHIN):
        raise RuntimeError(f"seed {schedule.seed}: the seeded drift was never repaired")
    mark = len(sim.store.write_log)
    injected: Counter[str] = Counter()
    world_steps = 0
    lifts: list[asyncio.TimerHandle] = []
    for timed in schedule.steps:
        if isinstance(timed.step, WorldStep):
            world_steps += await world.apply(timed.step)
        elif await _inject(timed.step, sim, fleet, lifts):
            injected[fault_type(timed.step)] += 1
        if timed.then_wait:
            await asyncio.sleep(timed.then_wait)
    for lift in lifts:
        lift.cancel()
    sim.faults.clear()
    calm = time.monotonic()
    await fleet.settle(REPLICAS)
    converged = await converge(world, sim.store, within=converge_within)
    converge_seconds = time.monotonic() - calm
    violations = [*fleet.crashes]
    if converged:
        violations += [str(v) for v in await _quiet(sim, fleet)]
    changes = _changes(world)
    violations += [
        str(v)
        for v in invariants.check(
            sim.store.write_log,
            managed=world.managed(),
            timeline=world.truth.timeline,
            grace=REMOVAL_GRACE,
            changes=changes,
            since=mark,
        )
    ]
    during = sim.store.write_log[mark:]
    writes = sum(invariants.count_writes(during).values())
    conflicts = sum(1 for _, write in invariants.controller_writes(during) if write.code == 409)
    return ScheduleResult(
        seed=schedule.seed,
        faults=injected,
        world_steps=world_steps,
        converged=converged,
        converge_seconds=converge_seconds,
        violations=violations,
        writes=writes,
        changes=sum(world.truth.changes.values()) + sum(world.truth.edits.values()),
        conflicts=conflicts,
        remaining=[] if converged else world.differences(sim.store),
    )


async def _inject(
    step: Step, sim: Simulator, fleet: Fleet, lifts: list[asyncio.TimerHandle]
) -> bool:
    """Start one fault; False when there was nothing to act on (no leader to kill)."""
    faults = sim.faults
    loop = asyncio.get_running_loop()
    if isinstance(step, CutWatches):
        faults.drop_watches_after(
            step.after_events, resource=step.resource, times=step.times, agent=AGENT_PREFIX
        )
        sim.cut_watches(resource=step.resource, agent=AGENT_PREFIX)
    elif isinstance(step, ExpireWatch):
        faults.expire_next_watch(step.resource, agent=AGENT_PREFIX)
        sim.cut_watches(resource=step.resource, agent=AGENT_PREFIX)
    elif isinstance(step, Compact):
        faults.compact(step.resource)
    elif isinstance(step, ErrorBurst):
        rule = faults.fail(step.code, verb=step.verb, rate=step.rate, agent=AGENT_PREFIX)
        lifts.append(loop.call_later(step.seconds, faults.lift, rule))
    elif isinstance(step, Throttle):
        rule = faults.fail(429, rate=step.rate, retry_after=step.retry_after, agent=AGENT_PREFIX)
        lifts.append(loop.call_later(step.seconds, faults.lift, rule))
    elif isinstance(step, Latency):
        rule = faults.delay(step.delay, verb=step.verb, agent=AGENT_PREFIX)
        lifts.append(loop.call_later(step.seconds, faults.lift, rule))
    elif isinstance(step, RestartServer):
        await faults.restart(step.pause)
    elif isinstance(step, KillReplica):
        live = fleet.live
        if not live:
            return False
        await fleet.kill(live[step.index % len(live)], restart_after=step.down)
    elif isinstance(step, KillLeader):
        leader = fleet.leader()
        if leader is None:
            return False
        await fleet.kill(leader, restart_after=step.down)
    return True


async def converge(world: CampaignWorld, store: Store, *, within: float) -> bool:
    """Until the stored state is the desired state (True), or ``within`` seconds pass (False)."""
    subscription = store.subscribe()
    deadline = time.monotonic() + within
    try:
        while world.differences(store):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(subscription.get(), remaining)
            except TimeoutError:
                return False
        return True
    finally:
        subscription.close()


async def _quiet(sim: Simulator, fleet: Fleet) -> list[Violation]:
    """Once the leader watches everything again, it re-plans every key: nothing is written.

    Two rounds: the first lets a leader finish what convergence left in flight
    (the watch event of its own last write, a first pass after taking over),
    the second must not write any object. An Event in it is allowed only if it
    says something new: the same Event on the same object again is a loop.
    Relists under faults happened during the schedule; forcing one more here
    would mostly measure watch backoff (up to 30 s, as client-go's).
    """
    async with asyncio.timeout(QUIET_WITHIN):
        leader = await fleet.wait_leader(within=QUIET_WITHIN)
        await sim.wait_for_open_watches(len(WATCHED), agent=leader.user_agent)
        await _replan_everything(leader)
        mark = len(sim.store.write_log)
        await _replan_everything(leader)
    said = {
        invariants.event_said(write)
        for _, write in invariants.controller_writes(sim.store.write_log[:mark])
    }
    return [
        Violation(
            "quiet",
            f"{identity} sent {write.verb} {invariants.target_of(write)}"
            f"{invariants.reason_of(write)}",
        )
        for identity, write in invariants.controller_writes(sim.store.write_log[mark:])
        if write.resource != invariants.LEASES
        and (write.resource not in invariants.EVENTS or invariants.event_said(write) in said)
    ]


async def _replan_everything(leader: Replica) -> None:
    keys = {k for k in leader.controller.cache.primary_keys() if k.kind in PLANNED_KINDS}
    after = len(leader.results)
    for key in keys:
        leader.controller.queue.add(key)
    await leader.wait_reconciled(keys, after=after)


def _changes(world: CampaignWorld) -> dict[Key, int]:
    """Real changes per managed object: its set's world steps, and colleagues' edits of it."""
    truth = world.truth
    changes: dict[Key, int] = {}
    for entry in ENTRIES:
        changes[entry.key] = truth.changes.get(entry.set, 0) + truth.edits.get(entry.key, 0)
    namespace, name, set_name, _ = HEALTH_CHECKED
    changes[("workloadentries", namespace, name)] = truth.changes.get(set_name, 0)
    for namespace, twin in TWINS.values():
        changes[("services", namespace, twin)] = 0
    return changes


# -- many schedules -------------------------------------------------------------------------------


@dataclass(slots=True)
class Summary:
    results: list[ScheduleResult]

    @property
    def failed(self) -> list[ScheduleResult]:
        return [result for result in self.results if not result.passed]

    def as_json(self) -> dict[str, Any]:
        times = sorted(result.converge_seconds for result in self.results if result.converged)
        faults: Counter[str] = Counter()
        for result in self.results:
            faults.update(result.faults)
        writes = sum(result.writes for result in self.results)
        changes = sum(result.changes for result in self.results)
        return {
            "schedules": len(self.results),
            "seeds": [self.results[0].seed, self.results[-1].seed] if self.results else [],
            "faults_injected": dict(sorted(faults.items())),
            "faults_total": sum(faults.values()),
            "world_changes": changes,
            "converged": sum(result.converged for result in self.results),
            "converge_bound_seconds": CONVERGE_BOUND,
            "converge_seconds_max": round(times[-1], 3) if times else None,
            "converge_seconds_p99": round(_percentile(times, 0.99), 3) if times else None,
            "converge_seconds_median": round(_percentile(times, 0.5), 3) if times else None,
            "invariant_violations": sum(len(result.violations) for result in self.results),
            "writes": writes,
            "conflicts_met": sum(result.conflicts for result in self.results),
            "writes_per_real_change": round(writes / changes, 3) if changes else None,
            "failed_seeds": {
                str(result.seed): result.violations + result.remaining for result in self.failed
            },
            "wall_seconds": round(sum(result.seconds for result in self.results), 1),
        }


def _percentile(ordered: Sequence[float], share: float) -> float:
    index = min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))
    return ordered[index]


async def run_campaign(
    seeds: Iterable[int], *, on_result: Callable[[ScheduleResult], None] | None = None
) -> Summary:
    """Every seed's schedule, one after the other."""
    results: list[ScheduleResult] = []
    for seed in seeds:
        result = await run_schedule(generate(seed))
        results.append(result)
        if on_result is not None:
            on_result(result)
    return Summary(results)
