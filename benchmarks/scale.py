"""Scenarios 2 to 4 on one threshold-scale world: cold start, diff, convergence, steady state.

The simulator runs in this process (its store seeded directly, see
:mod:`benchmarks.world`); the controller and ``diff`` run as child processes
(:mod:`benchmarks.agent`), so their peak RSS is their own and the two sides
get a core each.

Convergence is timed from the moment the simulator's store emits the
EndpointSlice change (the watch feeds are fed synchronously from there) to the
moment the controller has the answer to its ServiceEntry patch, both read on
the shared monotonic clock. Restarts run one at a time, each as the two slice
updates kube-controller-manager writes (the old pod's endpoint leaves; the new
pod's, with a new IP and uid, arrives), while a background task rewrites other
slices at a fixed rate, changing what kube-controller-manager changes on a
resync (generation, trigger time) so each churn event is decoded, mapped and
planned, and writes nothing.

The controller runs with ``--qps 500 --burst 1000`` here: with the default 20
requests per second, one restart (a patch and an Event per slice update) every
few milliseconds would measure the token bucket, not the pipeline.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.processes import Child, JsonObject
from benchmarks.world import ServiceModel, World, WorldSize
from reconciler.api.client import USER_AGENT
from reconciler.simulator import resources
from reconciler.simulator.simulator import Simulator

AGENT = "benchmarks.agent"
CONTROLLER_QPS = "500"
CONTROLLER_BURST = "1000"
WAIT = 30.0


@dataclass(frozen=True, slots=True)
class ScaleSettings:
    world: WorldSize
    restarts: int = 500
    churn_per_second: float = 100.0
    rolling_pod_start: float = 0.05
    """Seconds between a rolling-restarted pod's deletion and its replacement being ready."""
    quiet_seconds: float = 60.0


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def latency_summary(seconds: list[float]) -> dict[str, float | int]:
    millis = [s * 1000 for s in seconds]
    return {
        "count": len(millis),
        "p50_ms": round(percentile(millis, 0.50), 2),
        "p90_ms": round(percentile(millis, 0.90), 2),
        "p99_ms": round(percentile(millis, 0.99), 2),
        "max_ms": round(max(millis), 2) if millis else float("nan"),
        "mean_ms": round(statistics.fmean(millis), 2) if millis else float("nan"),
    }


def controller_writes(simulator: Simulator) -> int:
    return sum(1 for record in simulator.store.write_log if record.user_agent == USER_AGENT)


class Churn:
    """Rewrites random slices at a fixed rate until stopped."""

    def __init__(self, world: World, services: list[ServiceModel], *, per_second: float) -> None:
        self._world = world
        self._services = services
        self._interval = 1.0 / per_second
        self._random = random.Random(100)
        self.emitted = 0
        self.elapsed = 0.0
        self.busy: ServiceModel | None = None
        """A Service being restarted: left alone, so its patches are the restarts' own."""

    async def run(self) -> None:
        started = time.monotonic()
        try:
            while True:
                due = started + self.emitted * self._interval
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                service = self._random.choice(self._services)
                if service is not self.busy:
                    self._world.touch_slice(service, self._random.choice(service.slices))
                self.emitted += 1
        finally:
            self.elapsed = time.monotonic() - started

    @property
    def rate(self) -> float:
        return self.emitted / self.elapsed if self.elapsed else 0.0


def _is_update_of(service: ServiceModel, since: float) -> Any:
    def matches(event: JsonObject) -> bool:
        return (
            event.get("event") == "result"
            and event["kind"] == "ServiceEntry"
            and event["namespace"] == service.namespace
            and event["name"] == service.name
            and event["outcome"] == "updated"
            and event["t"] >= since
        )

    return matches


async def _timed_change(
    agent: Child, service: ServiceModel, change: Any
) -> tuple[float, float | None]:
    """Apply ``change`` (a store write) and wait for the entry's patch: (latency, delivery)."""
    mark = len(agent.events)
    emitted = time.monotonic()
    change()
    result = await agent.wait_for(_is_update_of(service, emitted), after=mark, within=WAIT)
    observed = result.get("observed_at")
    delivery = observed - emitted if isinstance(observed, float) else None
    return result["t"] - emitted, delivery


async def convergence(
    world: World, agent: Child, *, restarts: int, churn_per_second: float
) -> JsonObject:
    managed = world.services[: world.size.service_entries]
    chooser = random.Random(7)
    churn = Churn(world, managed, per_second=churn_per_second)
    churning = asyncio.create_task(churn.run())
    removed: list[float] = []
    added: list[float] = []
    delivery: list[float] = []
    try:
        for _ in range(restarts):
            service = chooser.choice(managed)
            _, pod = chooser.choice(list(service.pods()))
            churn.busy = service
            latency, seen = await _timed_change(
                agent, service, lambda s=service, p=pod: world.remove_pod(s, p)
            )
            removed.append(latency)
            delivery += [seen] if seen is not None else []
            latency, seen = await _timed_change(
                agent, service, lambda s=service, n=pod.name: world.add_pod(s, n)
            )
            added.append(latency)
            delivery += [seen] if seen is not None else []
    finally:
        churning.cancel()
        await asyncio.gather(churning, return_exceptions=True)
    return {
        "restarts": restarts,
        "slice_events_timed": len(removed) + len(added),
        "churn_target_per_second": churn_per_second,
        "churn_achieved_per_second": round(churn.rate, 1),
        "churn_events": churn.emitted,
        "event_to_patch_acknowledged": latency_summary(removed + added),
        "pod_removed_to_patch": latency_summary(removed),
        "pod_ready_to_patch": latency_summary(added),
        "event_to_controller_observed": latency_summary(delivery),
    }


async def rolling_restart(world: World, agent: Child, *, pod_start: float) -> JsonObject:
    """Restart every pod of the rolling StatefulSet, highest ordinal first, as its controller does.

    Each pod's endpoint leaves its slice; ``pod_start`` seconds later the new
    pod is ready and its endpoint (new IP) arrives; then the next pod. The
    StatefulSet controller does not wait for the reconciler.
    """
    service = world.rolling
    if service is None:
        return {"skipped": "no rolling StatefulSet in this world"}
    store = world.store
    pods = sorted((pod for _, pod in service.pods()), key=lambda pod: pod.name)
    before = len(store.write_log)
    mark = len(agent.events)
    started = time.monotonic()
    for pod in sorted(pods, key=lambda pod: -int(pod.name.rpartition("-")[2])):
        world.remove_pod(service, pod)
        await asyncio.sleep(pod_start)
        world.add_pod(service, pod.name)
    events_done = time.monotonic()
    wanted = {pod.address for _, pod in service.pods()}

    def converged() -> bool:
        entry = store.get(resources.SERVICE_ENTRIES, service.namespace, service.name) or {}
        held = {e.get("address") for e in (entry.get("spec") or {}).get("endpoints") or []}
        return held == wanted

    async with asyncio.timeout(WAIT):
        while not converged():
            await agent.wait_for(_is_update_of(service, started), after=mark)
            mark = len(agent.events)
    converged_at = time.monotonic()
    patches = [
        record
        for record in store.write_log[before:]
        if record.user_agent == USER_AGENT
        and record.resource == resources.SERVICE_ENTRIES.key
        and record.name == service.name
        and record.applied
    ]
    return {
        "pods_restarted": len(pods),
        "pod_start_seconds": pod_start,
        "patches_to_service_entry": len(patches),
        "patches_per_pod": round(len(patches) / len(pods), 2),
        "restart_duration_s": round(events_done - started, 3),
        "converged_after_last_change_ms": round((converged_at - events_done) * 1000, 1),
        "time_to_converge_s": round(converged_at - started, 3),
    }


async def steady_state(simulator: Simulator, agent: Child, *, quiet_seconds: float) -> JsonObject:
    mark = len(agent.events)
    agent.send("stats")
    first = await agent.event("stats", after=mark)
    writes_before = controller_writes(simulator)
    await asyncio.sleep(quiet_seconds)
    mark = len(agent.events)
    agent.send("stats")
    last = await agent.event("stats", after=mark)
    writes = controller_writes(simulator) - writes_before
    mark = len(agent.events)
    agent.send("resync")
    resynced = await agent.event("resynced", after=mark, within=300.0)
    return {
        "quiet_seconds": quiet_seconds,
        "writes": writes,
        "cpu_seconds": round(last["cpu"] - first["cpu"], 3),
        "rss_mib": round(last["rss"] / 2**20, 1),
        "resync": {
            "keys": resynced["keys"],
            "wall_s": round(resynced["wall"], 3),
            "cpu_s": round(resynced["cpu"], 3),
            "us_per_key": round(resynced["wall"] / max(resynced["keys"], 1) * 1e6, 1),
        },
    }


async def run_scale(settings: ScaleSettings, *, workdir: Path) -> JsonObject:
    """Every scale scenario on one world; the result sections ``cold_start`` to ``steady_state``."""
    simulator = Simulator()
    world = World(simulator.store, settings.world)
    seeding = time.monotonic()
    world.seed()
    seeded = time.monotonic() - seeding
    async with simulator:
        settle_writes = await world.settle(simulator)
        kubeconfig = simulator.write_kubeconfig(workdir / "kubeconfig")
        result: JsonObject = {
            "world": {
                **settings.world.describe(),
                "stored": world.counts,
                "seed_seconds": round(seeded, 2),
                "settling_writes": settle_writes,
            }
        }
        writes_before = controller_writes(simulator)
        agent = await Child.spawn(
            AGENT, "run", "--kubeconfig", str(kubeconfig), "--qps", CONTROLLER_QPS,
            "--burst", CONTROLLER_BURST,
        )  # fmt: skip
        try:
            synced = await agent.event("synced", within=300.0)
            planned = await agent.event("planned", within=300.0)
            result["cold_start"] = {
                "to_caches_synced_s": round(synced["t"] - agent.started, 3),
                "to_first_full_plan_s": round(planned["t"] - agent.started, 3),
                "peak_rss_mib": round(planned["peak_rss"] / 2**20, 1),
                "cpu_seconds": round(planned["cpu"], 2),
                "keys_planned": synced["objects"],
                "outcomes": planned["outcomes"],
                "writes": controller_writes(simulator) - writes_before,
            }
            result["diff"] = await _diff(kubeconfig)
            result["convergence"] = await convergence(
                world, agent, restarts=settings.restarts, churn_per_second=settings.churn_per_second
            )
            result["rolling_restart"] = await rolling_restart(
                world, agent, pod_start=settings.rolling_pod_start
            )
            result["steady_state"] = await steady_state(
                simulator, agent, quiet_seconds=settings.quiet_seconds
            )
        finally:
            await agent.finish()
    return result


async def _diff(kubeconfig: Path) -> JsonObject:
    child = await Child.spawn(AGENT, "diff", "--kubeconfig", str(kubeconfig))
    try:
        done = await child.event("diffed", within=300.0)
    finally:
        await child.finish()
    return {
        "to_report_s": round(done["t"] - child.started, 3),
        "peak_rss_mib": round(done["peak_rss"] / 2**20, 1),
        "cpu_seconds": round(done["cpu"], 2),
        "exit_code": done["exit"],
        "drift_found": done["exit"] == 1,
        "output_bytes": done["output_bytes"],
        "error": done["error"],
    }
