"""A departed pod's address, now another workload's, never reaches the pod's entries.

The danger SPEC section 1 names: a pod of workload ``web`` is deleted, the
cluster hands its IP to a pod of another workload (``db``), and an entry that
still lists the IP sends ``web``'s mesh traffic to ``db``. Here the
controller is made to reconcile while that happens: its writes to ``web``'s
entries are held while ``web-1`` goes and ``db-0`` takes its address, then
let through, so it plans from a world where the address already belongs to
``db``. Every write the controller made (the simulator's write log, not only
the final state) is checked: none puts the recycled address into
``web``'s ServiceEntries or WorkloadEntries. The WorkloadEntry that opted into
Istio's health checks is marked ``Healthy=False`` (istiod stops sending it
traffic) and only marked healthy again once its address is the new pod's.

A WorkloadEntry without health checks keeps its address while its pod has
none (SPEC section 3: there is nothing valid to write); that it then points
at ``db`` is what ``headless-reconciler audit`` reports, and is listed in
docs/security.md.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import pytest
from kubernetes_asyncio.client import ApiClient, CustomObjectsApi

from reconciler.api.client import USER_AGENT
from reconciler.applying.applier import Outcome
from reconciler.planning.health import HEALTHY
from reconciler.planning.references import (
    HEALTH_CHECKS_ANNOTATION,
    POD_ANNOTATION,
    SERVICE_ANNOTATION,
)
from reconciler.simulator.store import WriteRecord
from reconciler.testbed.addresses import PodIpAllocator
from reconciler.testbed.statefulsets import StatefulPodSet
from reconciler.testbed.waiting import wait_for_ready_addresses, watch_until

if TYPE_CHECKING:
    from tests.conftest import Cluster
    from tests.e2e.conftest import (
        ControllerStarter,
        ControllerWrites,
        Istio,
        StatefulSetStarter,
    )

pytestmark = pytest.mark.e2e

WAIT = 10.0
ENTRIES = ("serviceentries", "workloadentries")
WEB_ENTRIES = ("web-all", "web-1-direct", "web-1", "web-1-plain")

JsonObject = dict[str, Any]


def healthy_status(write: WriteRecord) -> str | None:
    """The ``Healthy`` condition status a status write sets, if it sets one."""
    conditions = (write.body or {}).get("status", {}).get("conditions") or []
    return next((c["status"] for c in conditions if c["type"] == HEALTHY), None)


def addresses_written(write: WriteRecord) -> set[str]:
    """Every address a write to a ServiceEntry or WorkloadEntry puts in place."""
    spec = (write.body or {}).get("spec") or {}
    found = {endpoint.get("address") for endpoint in spec.get("endpoints") or []}
    found.add(spec.get("address"))
    return found - {None}


async def test_a_recycled_address_never_reaches_the_entries_of_the_pod_that_left_it(
    cluster: Cluster,
    api: ApiClient,
    namespace: str,
    statefulset: StatefulSetStarter,
    istio: Istio,
    controller_writes: ControllerWrites,
    start_controller: ControllerStarter,
) -> None:
    sim = cluster.require_simulator()
    ips = PodIpAllocator()
    web = await statefulset(2, allocator=ips)
    db = StatefulPodSet(api, name="db", namespace=namespace, allocator=ips, wait_within=WAIT)
    await db.create(1)
    recycled = web.pod(1).addresses[0]
    web_0 = web.pod(0).addresses[0]
    await istio.create_service_entry(
        "web-all",
        endpoints=[istio.endpoint_of(web, 0), istio.endpoint_of(web, 1)],
        annotations={SERVICE_ANNOTATION: "web"},
    )
    await istio.create_service_entry(
        "web-1-direct",
        hosts=[istio.host("web", pod="web-1")],
        endpoints=[istio.endpoint_of(web, 1)],
        annotations={POD_ANNOTATION: "web-1"},
    )
    await istio.create_workload_entry(
        "web-1",
        address=recycled,
        annotations={POD_ANNOTATION: "web-1", HEALTH_CHECKS_ANNOTATION: "true"},
    )
    await istio.create_workload_entry(
        "web-1-plain", address=recycled, annotations={POD_ANNOTATION: "web-1"}
    )
    running_controller = await start_controller()
    await running_controller.reconciles.wait_for(istio.workload_entry_key("web-1"), Outcome.UPDATED)
    hold = sim.faults.hold(
        lambda request: (
            request.user_agent == USER_AGENT
            and request.verb == "patch"
            and request.resource in ENTRIES
            and request.name in WEB_ENTRIES
        )
    )
    mark = controller_writes.mark()

    await web.scale(1)
    await hold.wait_arrived()
    await db.restart(0, reuse_ip_of="web-1")
    await wait_for_ready_addresses(
        api, namespace=namespace, service="db", expected={recycled}, within=WAIT
    )
    hold.release()

    await istio.wait_for_endpoints("web-all", [web_0])
    await istio.wait_for_endpoints("web-1-direct", [])
    unhealthy = await wait_for_health(api, namespace, "web-1", "False")
    await web.scale(2)
    returned = web.pod(1).addresses[0]
    await istio.wait_for_endpoints("web-all", [web_0, returned])
    await istio.wait_for_endpoints("web-1-direct", [returned])
    healthy_again = await wait_for_health(api, namespace, "web-1", "True")

    assert returned != recycled
    assert unhealthy["spec"]["address"] == recycled, "nothing valid to write: address kept"
    assert healthy_again["spec"]["address"] == returned
    writes = controller_writes(after=mark)
    to_web = [
        w for w in writes if w.name in WEB_ENTRIES and set(w.resource.split("/")) & {*ENTRIES}
    ]
    assert to_web, "the controller wrote nothing: the test proves nothing"
    for write in to_web:
        assert recycled not in addresses_written(write), write
    health = [(index, healthy_status(w)) for index, w in enumerate(to_web) if w.name == "web-1"]
    assert [status for _, status in health if status is not None] == ["False", "True"]
    (address_write,) = [
        index
        for index, w in enumerate(to_web)
        if w.name == "web-1" and returned in addresses_written(w)
    ]
    (healthy_write,) = [index for index, status in health if status == "True"]
    assert address_write < healthy_write, "healthy again only at the returned pod's address"
    assert all(not _names_db(w) for w in writes)


def _health(entry: JsonObject) -> str | None:
    conditions = (entry.get("status") or {}).get("conditions") or []
    return next((c["status"] for c in conditions if c["type"] == HEALTHY), None)


async def wait_for_health(api: ApiClient, namespace: str, name: str, status: str) -> JsonObject:
    """The WorkloadEntry once its ``Healthy`` condition has ``status``."""
    custom: Any = CustomObjectsApi(api)
    found = await watch_until(
        functools.partial(
            custom.list_namespaced_custom_object,
            "networking.istio.io",
            "v1",
            namespace,
            "workloadentries",
        ),
        lambda entries: any(_health(entry) == status for entry in entries),
        within=WAIT,
        what=f"WorkloadEntry {namespace}/{name} Healthy={status}",
        field_selector=f"metadata.name={name}",
    )
    (entry,) = found
    return entry


def _names_db(write: WriteRecord) -> bool:
    return "db-0" in str(write.body)


async def test_a_removal_is_not_held_once_another_workload_holds_the_address(
    api: ApiClient,
    namespace: str,
    statefulset: StatefulSetStarter,
    istio: Istio,
    start_controller: ControllerStarter,
) -> None:
    ips = PodIpAllocator()
    web = await statefulset(2, allocator=ips)
    db = StatefulPodSet(api, name="db", namespace=namespace, allocator=ips, wait_within=WAIT)
    await db.create(1)
    recycled = web.pod(1).addresses[0]
    await istio.create_service_entry(
        "web-1-direct",
        hosts=[istio.host("web", pod="web-1")],
        endpoints=[istio.endpoint_of(web, 1)],
        annotations={POD_ANNOTATION: "web-1"},
    )
    running_controller = await start_controller(removal_grace_seconds=30)
    key = istio.service_entry_key("web-1-direct")
    await running_controller.reconciles.wait_for(key, Outcome.NOOP)
    await web.scale(1)
    await running_controller.reconciles.wait_for(key, Outcome.HELD)
    await db.restart(0, reuse_ip_of="web-1")
    await wait_for_ready_addresses(
        api, namespace=namespace, service="db", expected={recycled}, within=WAIT
    )
    mark = running_controller.reconciles.mark()

    await istio.patch_service_entry(
        "web-1-direct", {"metadata": {"labels": {"touched": "to-replan"}}}
    )

    replanned = await running_controller.reconciles.wait_for(key, after=mark)
    assert replanned.outcome is Outcome.UPDATED, replanned
