"""The controller keeps ServiceEntries and WorkloadEntries on the live pod IPs (SPEC 2 to 4).

Each test starts the real controller against the ``cluster`` fixture and
changes the world only through the API: pods and their status (the
simulator's EndpointSlice controller, or kube-controller-manager, derives the
slices), ServiceEntries and WorkloadEntries. Tests that count writes read the
simulator's write log and are skipped on a real cluster.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
from kubernetes_asyncio.client import ApiClient, CoreV1Api, DiscoveryV1Api

from reconciler.api.client import USER_AGENT
from reconciler.applying.applier import Outcome
from reconciler.planning.references import (
    IP_FAMILY_ANNOTATION,
    MANAGED_NAMESPACE_LABEL,
    MANAGED_NAMESPACE_VALUE,
    POD_ANNOTATION,
    POD_NAME_LABEL,
    SERVICE_ANNOTATION,
)
from reconciler.testbed.addresses import PodIpAllocator
from reconciler.testbed.statefulsets import StatefulPodSet
from reconciler.testbed.waiting import wait_for_slices

if TYPE_CHECKING:
    from tests.conftest import Cluster
    from tests.e2e.conftest import (
        ControllerStarter,
        ControllerWrites,
        Istio,
        RunningController,
        StatefulSetStarter,
    )

pytestmark = pytest.mark.e2e

MANAGED = {SERVICE_ANNOTATION: "web"}
STALE_ADDRESS = "10.244.250.250"
"""An address no pod of these tests ever gets."""


def _ready_addresses_in_order(pods: StatefulPodSet, *, family: int = 0) -> list[str]:
    """The pods' addresses in natural pod-name order (the order the controller writes)."""
    return [pod.addresses[family] for pod in pods.pods if pod.ready and not pod.terminating]


async def test_pod_restart_corrects_service_level_pod_level_and_workload_entries(
    statefulset: StatefulSetStarter, istio: Istio, controller: RunningController
) -> None:
    pods = await statefulset(3)
    web0 = istio.endpoint_of(pods, 0, labels={"version": "v1"}, weight=10, ports={"http": 18080})
    web2 = istio.endpoint_of(pods, 2, labels={"version": "v2"}, locality="eu/a", network="n1")
    await istio.create_service_entry(
        "web-all",
        endpoints=[web0, istio.endpoint_of(pods, 1, weight=20), web2],
        annotations=MANAGED,
    )
    await istio.create_service_entry(
        "web-1-direct",
        hosts=[istio.host("web", pod="web-1")],
        endpoints=[istio.endpoint_of(pods, 1)],
        annotations={POD_ANNOTATION: "web-1"},
    )
    old_address = pods.pod(1).addresses[0]
    await istio.create_workload_entry(
        "web-1", address=old_address, annotations={POD_ANNOTATION: "web-1"}
    )

    new_address = (await pods.restart(1)).addresses[0]

    assert new_address != old_address
    service_level = await istio.wait_for_endpoints(
        "web-all", [web0["address"], new_address, web2["address"]]
    )
    pod_level = await istio.wait_for_endpoints("web-1-direct", [new_address])
    workload = await istio.wait_for_address("web-1", new_address)
    kept = istio.endpoints_by_pod(service_level)
    assert kept["web-0"] == web0
    assert kept["web-2"] == web2
    assert kept["web-1"]["labels"][POD_NAME_LABEL] == "web-1"
    assert kept["web-1"]["weight"] == 20, "the restarted pod's own fields come back with it"
    assert pod_level["spec"]["endpoints"][0]["labels"] == {POD_NAME_LABEL: "web-1"}
    assert workload["spec"]["labels"] == {"app": "web", "track": "stable"}
    assert workload["spec"]["weight"] == 3


async def test_scaling_to_five_and_back_to_two_follows_the_pods(
    statefulset: StatefulSetStarter, istio: Istio, controller: RunningController
) -> None:
    pods = await statefulset(3)
    endpoints = [istio.endpoint_of(pods, index) for index in range(3)]
    await istio.create_service_entry("web-all", endpoints=endpoints, annotations=MANAGED)

    await pods.scale(5)
    await istio.wait_for_endpoints("web-all", _ready_addresses_in_order(pods))
    await pods.scale(2)
    entry = await istio.wait_for_endpoints("web-all", _ready_addresses_in_order(pods))

    assert [endpoint["labels"][POD_NAME_LABEL] for endpoint in entry["spec"]["endpoints"]] == [
        "web-0",
        "web-1",
    ]


async def test_removing_every_endpoint_is_held_for_the_removal_grace_then_written(
    statefulset: StatefulSetStarter, istio: Istio, start_controller: ControllerStarter
) -> None:
    grace = 1.5
    pods = await statefulset(2)
    endpoints = [istio.endpoint_of(pods, index) for index in range(2)]
    await istio.create_service_entry("web-all", endpoints=endpoints, annotations=MANAGED)
    running = await start_controller(removal_grace_seconds=grace)
    key = istio.service_entry_key("web-all")
    await running.reconciles.wait_for(key, Outcome.NOOP)
    mark = running.reconciles.mark()

    await pods.scale(0)

    await running.reconciles.wait_for(key, Outcome.HELD, after=mark)
    held_at, held_mark = asyncio.get_running_loop().time(), running.reconciles.mark()
    await istio.wait_for_event(about="web-all", reason="RemovalHeld")
    held = await istio.get_service_entry("web-all")
    assert istio.addresses(held) != []
    await running.reconciles.wait_for(key, Outcome.UPDATED, after=held_mark)
    released_after = asyncio.get_running_loop().time() - held_at
    assert istio.addresses(await istio.get_service_entry("web-all")) == []
    assert released_after > grace - 0.2


async def test_a_held_removal_waits_while_the_slice_watch_is_failing(
    statefulset: StatefulSetStarter,
    istio: Istio,
    start_controller: ControllerStarter,
    cluster: Cluster,
) -> None:
    """The grace counts only on fresh data: campaign seed 61 released a hold from a stale cache."""
    sim = cluster.require_simulator()
    grace = 0.5
    pods = await statefulset(1)
    await istio.create_service_entry(
        "web-all", endpoints=[istio.endpoint_of(pods, 0)], annotations=MANAGED
    )
    running = await start_controller(removal_grace_seconds=grace)
    key = istio.service_entry_key("web-all")
    await running.reconciles.wait_for(key, Outcome.NOOP)
    mark = running.reconciles.mark()

    await pods.scale(0)
    await running.reconciles.wait_for(key, Outcome.HELD, after=mark)
    outage = sim.faults.fail(503, verb="watch", resource="endpointslices")
    sim.cut_watches(resource="endpointslices")
    # Two grace periods pass, each ending in a look at the key: held every time.
    for _ in range(2):
        looked = running.reconciles.mark()
        await running.reconciles.wait_for(key, after=looked, within=grace * 4)
    assert set(running.reconciles.outcomes(key, after=mark)) == {Outcome.HELD}
    assert len(istio.addresses(await istio.get_service_entry("web-all"))) == 1

    sim.faults.lift(outage)
    await running.reconciles.wait_for(key, Outcome.UPDATED, after=mark, within=45)
    assert istio.addresses(await istio.get_service_entry("web-all")) == []


async def test_pod_not_ready_leaves_the_service_entry_and_comes_back_when_ready(
    statefulset: StatefulSetStarter, istio: Istio, controller: RunningController
) -> None:
    pods = await statefulset(3)
    endpoints = [istio.endpoint_of(pods, index, weight=index + 1) for index in range(3)]
    await istio.create_service_entry("web-all", endpoints=endpoints, annotations=MANAGED)
    everyone = [endpoint["address"] for endpoint in endpoints]

    await pods.set_ready(1, False)
    await istio.wait_for_endpoints("web-all", [everyone[0], everyone[2]])
    await pods.set_ready(1, True)
    entry = await istio.wait_for_endpoints("web-all", everyone)

    back = istio.endpoints_by_pod(entry)["web-1"]
    assert back["labels"] == {POD_NAME_LABEL: "web-1"}
    assert istio.endpoints_by_pod(entry)["web-2"] == endpoints[2]


async def test_250_pods_in_3_slices_are_listed_exactly_once_in_natural_order(
    api: ApiClient,
    namespace: str,
    statefulset: StatefulSetStarter,
    istio: Istio,
    controller: RunningController,
) -> None:
    pods = await statefulset(250)
    slices = await wait_for_slices(
        api, namespace=namespace, service="web", until=lambda found: len(found) == 3
    )
    assert sum(len(found["endpoints"]) for found in slices) == 250
    seeded = [istio.endpoint_of(pods, index) for index in (10, 2, 1)]

    await istio.create_service_entry("web-all", endpoints=seeded, annotations=MANAGED)

    entry = await istio.wait_for_endpoints("web-all", _ready_addresses_in_order(pods))
    names = [endpoint["labels"][POD_NAME_LABEL] for endpoint in entry["spec"]["endpoints"]]
    assert names == [f"web-{index}" for index in range(250)]
    assert names.index("web-2") < names.index("web-10")


async def test_ipv6_service_entry_lists_the_ipv6_addresses_of_an_ipv6_service(
    statefulset: StatefulSetStarter, istio: Istio, controller: RunningController
) -> None:
    pods = await statefulset(2, name="web6", family="IPv6")

    await istio.create_service_entry(
        "web6-all",
        hosts=[istio.host("web6")],
        endpoints=[istio.endpoint_of(pods, 0)],
        annotations={SERVICE_ANNOTATION: "web6", IP_FAMILY_ANNOTATION: "IPv6"},
    )

    entry = await istio.wait_for_endpoints("web6-all", _ready_addresses_in_order(pods))
    assert all(":" in address for address in istio.addresses(entry))


async def test_dual_stack_service_entry_lists_ipv4_by_default_and_ipv6_when_asked(
    statefulset: StatefulSetStarter, istio: Istio, controller: RunningController
) -> None:
    pods = await statefulset(2, family="DualStack", allocator=PodIpAllocator())
    seeded = [istio.endpoint_of(pods, 0)]

    await istio.create_service_entry("web-v4", endpoints=seeded, annotations=MANAGED)
    await istio.create_service_entry(
        "web-v6", endpoints=seeded, annotations={**MANAGED, IP_FAMILY_ANNOTATION: "IPv6"}
    )

    await istio.wait_for_endpoints("web-v4", _ready_addresses_in_order(pods, family=0))
    await istio.wait_for_endpoints("web-v6", _ready_addresses_in_order(pods, family=1))


async def test_labelling_the_namespace_manages_entries_whose_hosts_name_a_headless_service(
    api: ApiClient,
    namespace: str,
    statefulset: StatefulSetStarter,
    istio: Istio,
    controller: RunningController,
) -> None:
    pods = await statefulset(2)
    stale = [istio.endpoint_of(pods, 0), {"address": STALE_ADDRESS}]
    created = await istio.create_service_entry("web-by-host", hosts=["web"], endpoints=stale)
    await controller.reconciles.wait_for(istio.service_entry_key("web-by-host"), Outcome.NOOP)
    assert istio.addresses(await istio.get_service_entry("web-by-host")) == istio.addresses(created)

    await CoreV1Api(api).patch_namespace(
        namespace, {"metadata": {"labels": {MANAGED_NAMESPACE_LABEL: MANAGED_NAMESPACE_VALUE}}}
    )

    await istio.wait_for_endpoints("web-by-host", _ready_addresses_in_order(pods))


async def test_unmanaged_static_service_entry_with_a_stale_address_is_left_untouched(
    statefulset: StatefulSetStarter,
    istio: Istio,
    controller_writes: ControllerWrites,
    start_controller: ControllerStarter,
) -> None:
    pods = await statefulset(2)
    stale = [istio.endpoint_of(pods, 0), {"address": STALE_ADDRESS}]
    unmanaged = await istio.create_service_entry("web-legacy", endpoints=stale)
    await istio.create_service_entry("web-managed", endpoints=stale, annotations=MANAGED)
    running = await start_controller()

    await istio.wait_for_endpoints("web-managed", _ready_addresses_in_order(pods))
    await running.reconciles.wait_for(istio.service_entry_key("web-legacy"))

    after = await istio.get_service_entry("web-legacy")
    assert after["metadata"]["resourceVersion"] == unmanaged["metadata"]["resourceVersion"]
    assert controller_writes(name="web-legacy") == []
    assert controller_writes(resource="serviceentries", name="web-managed") != []


async def test_cross_namespace_annotation_is_refused_with_an_event_and_no_write(
    statefulset: StatefulSetStarter, istio: Istio, controller: RunningController
) -> None:
    pods = await statefulset(2)
    created = await istio.create_service_entry(
        "web-elsewhere",
        endpoints=[{"address": STALE_ADDRESS}],
        annotations={SERVICE_ANNOTATION: "other-ns/web"},
    )
    await istio.create_service_entry(
        "web-managed", endpoints=[istio.endpoint_of(pods, 0)], annotations=MANAGED
    )

    event = await istio.wait_for_event(about="web-elsewhere", reason="Refused")
    await controller.reconciles.wait_for(istio.service_entry_key("web-elsewhere"), Outcome.REFUSED)

    assert event["type"] == "Warning"
    assert event["involvedObject"]["kind"] == "ServiceEntry"
    assert "other-ns" in event["message"]
    after = await istio.get_service_entry("web-elsewhere")
    assert after["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    await istio.wait_for_endpoints("web-managed", _ready_addresses_in_order(pods))


async def test_refusal_is_reported_again_when_it_comes_back_after_being_resolved(
    istio: Istio, controller: RunningController
) -> None:
    refused = {SERVICE_ANNOTATION: "other-ns/web"}
    await istio.create_service_entry(
        "web-elsewhere", endpoints=[{"address": STALE_ADDRESS}], annotations=refused
    )
    key = istio.service_entry_key("web-elsewhere")
    await controller.reconciles.wait_for(key, Outcome.REFUSED)
    first = await istio.wait_for_events(about="web-elsewhere", reason="Refused", count=1)

    await istio.patch_service_entry(
        "web-elsewhere", {"metadata": {"annotations": {SERVICE_ANNOTATION: None}}}
    )
    await controller.reconciles.wait_for(key, Outcome.NOOP)
    await istio.patch_service_entry("web-elsewhere", {"metadata": {"annotations": refused}})

    events = await istio.wait_for_events(about="web-elsewhere", reason="Refused", count=2)
    assert first[0] in events
    assert len(events) == 2


async def test_endpoint_slice_deleted_and_recreated_within_the_grace_never_empties_the_entry(
    api: ApiClient,
    namespace: str,
    statefulset: StatefulSetStarter,
    istio: Istio,
    controller_writes: ControllerWrites,
    start_controller: ControllerStarter,
) -> None:
    pods = await statefulset(4)
    endpoints = [istio.endpoint_of(pods, index) for index in range(4)]
    await istio.create_service_entry("web-all", endpoints=endpoints, annotations=MANAGED)
    running = await start_controller(removal_grace_seconds=30)
    key = istio.service_entry_key("web-all")
    await running.reconciles.wait_for(key, Outcome.NOOP)
    (original,) = await wait_for_slices(
        api, namespace=namespace, service="web", until=lambda found: len(found) == 1
    )
    mark = running.reconciles.mark()

    await DiscoveryV1Api(api).delete_namespaced_endpoint_slice(
        original["metadata"]["name"], namespace
    )

    await wait_for_slices(
        api,
        namespace=namespace,
        service="web",
        until=lambda found: any(
            s["metadata"]["uid"] != original["metadata"]["uid"] and len(s["endpoints"] or []) == 4
            for s in found
        ),
    )
    await running.reconciles.wait_for(key, after=mark)
    await pods.restart(3)
    entry = await istio.wait_for_endpoints("web-all", _ready_addresses_in_order(pods))
    assert len(istio.addresses(entry)) == 4
    for write in controller_writes(resource="serviceentries", name="web-all"):
        assert len(write.body["spec"]["endpoints"]) >= 2, write


async def test_concurrent_change_gets_409_and_the_controller_still_converges(
    statefulset: StatefulSetStarter,
    istio: Istio,
    controller_writes: ControllerWrites,
    cluster: Cluster,
    controller: RunningController,
) -> None:
    sim = cluster.require_simulator()
    pods = await statefulset(3)
    endpoints = [istio.endpoint_of(pods, index) for index in range(3)]
    await istio.create_service_entry("web-all", endpoints=endpoints, annotations=MANAGED)
    await controller.reconciles.wait_for(istio.service_entry_key("web-all"), Outcome.NOOP)
    hold = sim.faults.hold(
        lambda request: (
            request.verb == "patch"
            and request.resource == "serviceentries"
            and request.user_agent == USER_AGENT
        )
    )

    await pods.set_ready(1, False)
    await hold.wait_arrived()
    user_change = {"labels": {POD_NAME_LABEL: "web-0", "canary": "true"}}
    await istio.patch_service_entry(
        "web-all", {"spec": {"endpoints": [{**endpoints[0], **user_change}, *endpoints[1:]]}}
    )
    hold.release()

    entry = await istio.wait_for_endpoints(
        "web-all", [endpoints[0]["address"], endpoints[2]["address"]]
    )
    assert istio.endpoints_by_pod(entry)["web-0"]["labels"]["canary"] == "true"
    codes = [write.code for write in controller_writes(resource="serviceentries")]
    assert 409 in codes
    assert codes[-1] == 200


async def test_steady_cluster_sees_no_writes_over_a_quiet_period_of_resyncs(
    statefulset: StatefulSetStarter,
    istio: Istio,
    controller_writes: ControllerWrites,
    start_controller: ControllerStarter,
) -> None:
    pods = await statefulset(3)
    endpoints = [
        istio.endpoint_of(pods, 0, labels={"version": "v1"}, weight=5, ports={"grpc": 19090}),
        {"address": STALE_ADDRESS, "labels": {POD_NAME_LABEL: "web-1"}},
        istio.endpoint_of(pods, 2, locality="eu/a"),
    ]
    await istio.create_service_entry("web-all", endpoints=endpoints, annotations=MANAGED)
    await istio.create_service_entry(
        "web-1-direct",
        hosts=[istio.host("web", pod="web-1")],
        endpoints=[istio.endpoint_of(pods, 1)],
        annotations={POD_ANNOTATION: "web-1"},
    )
    await istio.create_workload_entry(
        "web-2", address=STALE_ADDRESS, annotations={POD_ANNOTATION: "web-2"}
    )
    running = await start_controller(resync_seconds=0.05)
    await running.reconciles.wait_for(istio.service_entry_key("web-all"), Outcome.UPDATED)
    await running.reconciles.wait_for(istio.workload_entry_key("web-2"), Outcome.UPDATED)
    await istio.wait_for_endpoints("web-all", _ready_addresses_in_order(pods))
    await istio.wait_for_address("web-2", pods.pod(2).addresses[0])
    quiet_since = controller_writes.mark()
    reconciles_since = running.reconciles.mark()

    keys = [
        istio.service_entry_key("web-all"),
        istio.service_entry_key("web-1-direct"),
        istio.workload_entry_key("web-2"),
    ]
    await running.reconciles.wait_for_rounds(keys, rounds=5, after=reconciles_since)

    assert controller_writes(after=quiet_since) == []
    assert {
        outcome
        for key in keys
        for outcome in running.reconciles.outcomes(key, after=reconciles_since)
    } == {Outcome.NOOP}


async def test_dry_run_reports_drift_and_refusals_and_writes_nothing(
    written_by: ControllerWrites,
    statefulset: StatefulSetStarter,
    istio: Istio,
    start_controller: ControllerStarter,
) -> None:
    pods = await statefulset(2)
    stale = [istio.endpoint_of(pods, 0), {"address": STALE_ADDRESS}]
    created = await istio.create_service_entry("web-all", endpoints=stale, annotations=MANAGED)
    await istio.create_service_entry(
        "web-elsewhere", endpoints=stale, annotations={SERVICE_ANNOTATION: "other-ns/web"}
    )
    started_at = written_by.mark()
    running = await start_controller(dry_run=True)

    await running.reconciles.wait_for(istio.service_entry_key("web-all"), Outcome.DRY_RUN)
    await running.reconciles.wait_for(istio.service_entry_key("web-elsewhere"), Outcome.REFUSED)

    after = await istio.get_service_entry("web-all")
    assert after["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert written_by(after=started_at) == []


async def test_server_dry_run_sends_every_write_with_dry_run_all_and_persists_nothing(
    statefulset: StatefulSetStarter,
    istio: Istio,
    controller_writes: ControllerWrites,
    start_controller: ControllerStarter,
) -> None:
    pods = await statefulset(2)
    stale = [istio.endpoint_of(pods, 0), {"address": STALE_ADDRESS}]
    created = await istio.create_service_entry("web-all", endpoints=stale, annotations=MANAGED)
    await istio.create_service_entry(
        "web-elsewhere", endpoints=stale, annotations={SERVICE_ANNOTATION: "other-ns/web"}
    )
    running = await start_controller(server_dry_run=True)

    await running.reconciles.wait_for(istio.service_entry_key("web-all"), Outcome.DRY_RUN)
    await running.reconciles.wait_for(istio.service_entry_key("web-elsewhere"), Outcome.REFUSED)

    (patch,) = controller_writes(resource="serviceentries", name="web-all")
    assert (patch.code, patch.dry_run, patch.applied) == (200, True, False)
    (event,) = controller_writes(resource="events")
    assert (event.code, event.dry_run, event.applied) == (201, True, False)
    after = await istio.get_service_entry("web-all")
    assert after["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert istio.addresses(after) == [stale[0]["address"], STALE_ADDRESS]
