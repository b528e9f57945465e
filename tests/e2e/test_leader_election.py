"""Two replicas against one simulated API server: only the Lease holder writes (SPEC 5).

Each replica is the real pipeline (``running.build_controller``) with its own
client, user agent and identity, and short election timings (lease 2s, renew
deadline 1s, retry 0.2s), so "who wrote what" is read from the simulator's
request log by user agent, as an API server's audit log would show it.
Stopping a replica by cancelling its task is a crash (no release, like
SIGKILL); ``controller.stop()`` is the graceful path SIGTERM takes.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
from kubernetes_asyncio.client import ApiClient, CoordinationV1Api

from reconciler import running
from reconciler.api.client import USER_AGENT, KubeClient, load_configuration
from reconciler.applying.applier import Applied
from reconciler.config import RunSettings
from reconciler.leadership.microtime import parse_micro_time
from reconciler.leadership.role import Leadership
from reconciler.leadership.sharding import Shard, shard_of
from reconciler.models.refs import NamespacedName
from reconciler.planning.references import SERVICE_ANNOTATION
from reconciler.runtime.controller import Controller
from reconciler.simulator.faults import RequestRecord
from reconciler.simulator.simulator import Simulator

if TYPE_CHECKING:
    from tests.conftest import Cluster
    from tests.e2e.conftest import Istio, StatefulSetStarter

pytestmark = pytest.mark.e2e

LEASE_DURATION = 2
RENEW_DEADLINE = 1.0
RETRY_PERIOD = 0.2
JITTER = 0.2
TAKEOVER_BOUND = LEASE_DURATION + RETRY_PERIOD * (1 + JITTER)
"""After a crash: the lease runs out, then a standby's next (jittered) try."""
SCHEDULING_SLACK = 0.5
"""Seconds of event-loop and HTTP latency allowed on top of a computed bound."""
WAIT = 10.0
FAST_REMOVAL_GRACE = 0.5
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
STALE_ADDRESS = "10.244.250.250"


@dataclass
class Replica:
    """One controller process, in-process: its identity, its task and its leadership history."""

    identity: str
    controller: Controller
    task: asyncio.Task[None]
    results: list[Applied]
    """Every reconcile result the replica reported."""
    changes: list[tuple[float, bool, int]] = field(default_factory=list)
    """(monotonic time, leading, length of the simulator's request log) at each change."""
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def user_agent(self) -> str:
        return f"{USER_AGENT} ({self.identity})"

    @property
    def leadership(self) -> Leadership:
        leadership = self.controller.leadership
        assert isinstance(leadership, Leadership)
        return leadership

    @property
    def leading(self) -> bool:
        return self.leadership.leading

    def record(self, leading: bool, requests: int) -> None:
        self.changes.append((time.monotonic(), leading, requests))
        self._changed.set()

    async def wait_leading(self, leading: bool = True, *, within: float = WAIT) -> float:
        """The monotonic time this replica's leadership last changed to ``leading``."""
        async with asyncio.timeout(within):
            while not (self.changes and self.changes[-1][1] == leading):
                self._changed.clear()
                await self._changed.wait()
        return self.changes[-1][0]

    async def crash(self) -> None:
        """What SIGKILL does: everything stops at once, the Lease is not released."""
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task

    async def stop(self) -> None:
        """What SIGTERM does: no new work, in-flight writes finish, the Lease is released."""
        self.controller.stop()
        await asyncio.wait_for(self.task, WAIT)


class Replicas:
    """Starts replicas sharing one Lease in the test's namespace; stops them at teardown."""

    def __init__(self, cluster: Cluster, namespace: str, stack: contextlib.AsyncExitStack) -> None:
        self.sim: Simulator = cluster.require_simulator()
        self._cluster = cluster
        self._namespace = namespace
        self._stack = stack

    async def start(self, identity: str, *, shard: Shard | None = None) -> Replica:
        shard = shard or Shard()
        settings = RunSettings(
            kubeconfig=self._cluster.kubeconfig,
            namespaces=(self._namespace,),
            removal_grace_seconds=FAST_REMOVAL_GRACE,
            leader_elect=True,
            leader_identity=identity,
            lease_namespace=self._namespace,
            lease_duration=LEASE_DURATION,
            renew_deadline=RENEW_DEADLINE,
            retry_period=RETRY_PERIOD,
            shard_index=shard.index,
            shard_count=shard.count,
        )
        configuration = await load_configuration(kubeconfig=str(self._cluster.kubeconfig))
        client = KubeClient(configuration, user_agent=f"{USER_AGENT} ({identity})")
        await self._stack.enter_async_context(client)
        results: list[Applied] = []
        controller = await running.build_controller(
            settings, client, on_result=lambda applied, _: results.append(applied)
        )
        task = asyncio.create_task(controller.run(), name=f"controller {identity}")
        replica = Replica(identity, controller, task, results)
        replica.leadership.subscribe(
            lambda leading: replica.record(leading, len(self.sim.requests))
        )
        self._stack.push_async_callback(_stop_quietly, replica)
        async with asyncio.timeout(WAIT):
            await controller.cache.synced.wait()
        return replica

    def writes_by(self, replica: Replica, *, since: int = 0) -> list[RequestRecord]:
        """Every write request the replica sent to anything but its Lease."""
        return [
            request
            for request in self.sim.requests[since:]
            if request.user_agent == replica.user_agent
            and request.verb in WRITE_VERBS
            and request.resource != "leases"
        ]

    def requests_by(self, replica: Replica) -> Iterator[RequestRecord]:
        return (r for r in self.sim.requests if r.user_agent == replica.user_agent)


async def _stop_quietly(replica: Replica) -> None:
    if not replica.task.done():
        await replica.stop()


@pytest.fixture
async def replicas(cluster: Cluster, namespace: str) -> AsyncIterator[Replicas]:
    async with contextlib.AsyncExitStack() as stack:
        yield Replicas(cluster, namespace, stack)


async def _lease(api: ApiClient, namespace: str) -> dict[str, Any]:
    """The Lease's spec exactly as the server serialises it (MicroTime strings untouched)."""
    response = await CoordinationV1Api(api).read_namespaced_lease(
        "headless-reconciler", namespace, _preload_content=False
    )
    spec: dict[str, Any] = (await response.json())["spec"]
    return spec


async def _leader_and_standby(replicas: Replicas) -> tuple[Replica, Replica]:
    leader = await replicas.start("replica-a")
    await leader.wait_leading()
    standby = await replicas.start("replica-b")
    return leader, standby


async def test_only_the_leader_writes_and_the_standby_stays_ready(
    replicas: Replicas, statefulset: StatefulSetStarter, istio: Istio, api: ApiClient
) -> None:
    leader, standby = await _leader_and_standby(replicas)
    pods = await statefulset(3)
    await istio.create_service_entry(
        "web-static",
        endpoints=[{"address": STALE_ADDRESS}],
        annotations={SERVICE_ANNOTATION: "web"},
    )
    await istio.wait_for_endpoints("web-static", [p.addresses[0] for p in pods.pods])
    restarted = (await pods.restart(1)).addresses[0]
    await istio.wait_for_endpoints(
        "web-static", [pods.pod(0).addresses[0], restarted, pods.pod(2).addresses[0]]
    )

    assert replicas.writes_by(leader), "the leader should have repaired the entry"
    assert replicas.writes_by(standby) == []
    assert {r.verb for r in replicas.requests_by(standby) if r.resource == "leases"} == {"get"}
    assert standby.controller.ready
    assert not standby.leading
    assert standby.results == [], "a standby plans nothing"
    lease = await _lease(api, istio.namespace)
    assert lease["holderIdentity"] == "replica-a"
    assert lease["leaseTransitions"] == 0
    for stamp in (lease["acquireTime"], lease["renewTime"]):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", stamp)


async def test_a_crashed_leader_is_replaced_within_the_lease_duration_plus_a_retry(
    replicas: Replicas, statefulset: StatefulSetStarter, istio: Istio, api: ApiClient
) -> None:
    leader, standby = await _leader_and_standby(replicas)
    pods = await statefulset(2)
    await istio.create_service_entry(
        "web-static",
        endpoints=[{"address": STALE_ADDRESS}],
        annotations={SERVICE_ANNOTATION: "web"},
    )
    await istio.wait_for_endpoints("web-static", [p.addresses[0] for p in pods.pods])

    crashed_at = time.monotonic()
    await leader.crash()
    last_renewal = parse_micro_time((await _lease(api, istio.namespace))["renewTime"])
    mark = len(replicas.sim.requests)
    await istio.patch_service_entry(
        "web-static", {"spec": {"endpoints": [{"address": STALE_ADDRESS}]}}
    )
    took_over_at = await standby.wait_leading()

    assert took_over_at - crashed_at <= TAKEOVER_BOUND + SCHEDULING_SLACK
    lease = await _lease(api, istio.namespace)
    assert lease["holderIdentity"] == "replica-b"
    assert lease["leaseTransitions"] == 1
    acquired = parse_micro_time(lease["acquireTime"])
    assert (acquired - last_renewal).total_seconds() >= LEASE_DURATION, "taken before expiry"
    # The drift came while nobody led: the new leader re-plans everything when it starts.
    await istio.wait_for_endpoints("web-static", [p.addresses[0] for p in pods.pods])
    assert replicas.writes_by(standby, since=mark)
    print(f"takeover after a crash: {took_over_at - crashed_at:.2f}s (bound {TAKEOVER_BOUND}s)")


async def test_a_released_lease_is_taken_over_within_three_seconds(
    replicas: Replicas, api: ApiClient, namespace: str
) -> None:
    leader, standby = await _leader_and_standby(replicas)

    stopped_at = time.monotonic()
    await leader.stop()
    took_over_at = await standby.wait_leading(within=3.0)

    assert took_over_at - stopped_at < 3.0
    assert took_over_at - stopped_at < LEASE_DURATION, "it did not wait for the lease to expire"
    lease = await _lease(api, namespace)
    assert lease["holderIdentity"] == "replica-b"
    assert lease["leaseTransitions"] == 1
    print(f"takeover after a release: {took_over_at - stopped_at:.2f}s")


async def test_a_leader_whose_lease_updates_hang_stops_writing_before_its_lease_expires(
    replicas: Replicas, statefulset: StatefulSetStarter, istio: Istio
) -> None:
    leader, standby = await _leader_and_standby(replicas)
    pods = await statefulset(2)
    wanted = [p.addresses[0] for p in pods.pods]
    await istio.create_service_entry(
        "web-static",
        endpoints=[{"address": STALE_ADDRESS}],
        annotations={SERVICE_ANNOTATION: "web"},
    )
    await istio.wait_for_endpoints("web-static", wanted)
    hold = replicas.sim.faults.hold(
        lambda r: (
            r.resource == "leases"
            and r.verb in ("update", "patch")
            and r.user_agent == leader.user_agent
        )
    )
    try:
        await asyncio.wait_for(hold.wait_arrived(), WAIT)
        held_from = len(replicas.sim.requests)
        drifting = asyncio.create_task(_keep_drifting(istio))
        try:
            lost_at = await leader.wait_leading(False)
            took_over_at = await standby.wait_leading()
        finally:
            drifting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drifting
        await istio.wait_for_endpoints("web-static", wanted)
    finally:
        hold.release()

    (_, _, lost_index), (_, _, took_over_index) = leader.changes[-1], standby.changes[-1]
    assert replicas.writes_by(leader, since=held_from), "it kept writing while its lease held"
    assert replicas.writes_by(leader, since=took_over_index) == []
    assert lost_index <= took_over_index
    assert took_over_at - lost_at >= LEASE_DURATION - RENEW_DEADLINE - SCHEDULING_SLACK
    assert replicas.writes_by(standby, since=took_over_index)
    print(f"stopped writing {took_over_at - lost_at:.2f}s before the standby took over")


async def _keep_drifting(istio: Istio) -> None:
    """Break the entry every 100 ms until the standby has taken over, so writes keep coming."""
    while True:
        with contextlib.suppress(Exception):
            await istio.patch_service_entry(
                "web-static", {"spec": {"endpoints": [{"address": STALE_ADDRESS}]}}
            )
        await asyncio.sleep(0.1)


async def test_two_shards_each_lead_their_own_lease_and_write_only_their_own_keys(
    replicas: Replicas, statefulset: StatefulSetStarter, istio: Istio, api: ApiClient
) -> None:
    shards = [await replicas.start(f"shard-{i}", shard=Shard(i, 2)) for i in range(2)]
    for replica in shards:
        await replica.wait_leading()
    names = [f"svc{i}" for i in range(6)]
    owner = {name: shard_of(NamespacedName(istio.namespace, name), 2) for name in names}
    assert set(owner.values()) == {0, 1}, "pick names that land in both shards"

    for name in names:
        pods = await statefulset(1, name=name)
        await istio.create_service_entry(
            f"{name}-entry",
            hosts=[istio.host(name)],
            endpoints=[{"address": STALE_ADDRESS}],
            annotations={SERVICE_ANNOTATION: name},
        )
        await istio.wait_for_endpoints(f"{name}-entry", [pods.pod(0).addresses[0]])

    for name in names:
        writers = {
            replica.identity
            for replica in shards
            for write in replicas.writes_by(replica)
            if write.resource == "serviceentries" and write.name == f"{name}-entry"
        }
        assert writers == {f"shard-{owner[name]}"}, name
    for index in range(2):
        lease = await CoordinationV1Api(api).read_namespaced_lease(
            f"headless-reconciler-shard-{index}-of-2", istio.namespace
        )
        assert lease.spec.holder_identity == f"shard-{index}"
