"""The world helpers drive kube-controller-manager's reaction through the API alone.

Against the simulator (with its EndpointSlice controller, garbage collector and
namespace controller) by default; against a real control plane without kubelet
when ``HEADLESS_RECONCILER_E2E_KUBECONFIG`` names its kubeconfig.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes_asyncio import config
from kubernetes_asyncio.client import ApiClient, CoreV1Api
from kubernetes_asyncio.client.exceptions import ApiException

from reconciler.simulator.controllers import DEFAULT_CONTROLLERS
from reconciler.simulator.simulator import Simulator
from reconciler.testbed import (
    PodIpAllocator,
    StatefulPodSet,
    ensure_namespace,
    ready_addresses,
    wait_for_namespace_gone,
    wait_for_ready_addresses,
    wait_for_slices,
)

JsonObject = dict[str, Any]
E2E_KUBECONFIG = os.environ.get("HEADLESS_RECONCILER_E2E_KUBECONFIG")
simulator_only = pytest.mark.skipif(
    E2E_KUBECONFIG is not None,
    reason="needs what only the simulator offers (pods removed without a kubelet, dual stack)",
)


@pytest.fixture
async def cluster() -> AsyncIterator[ApiClient]:
    if E2E_KUBECONFIG is not None:
        client = await config.new_client_from_config(config_file=E2E_KUBECONFIG)
        async with client:
            yield client
        return
    async with Simulator(controllers=DEFAULT_CONTROLLERS) as sim, sim.api_client() as client:
        yield client


@pytest.fixture
async def namespace(cluster: ApiClient) -> AsyncIterator[str]:
    name = f"testbed-{secrets.token_hex(3)}"
    await ensure_namespace(cluster, name)
    yield name
    core = CoreV1Api(cluster)
    try:
        await core.delete_collection_namespaced_pod(name, grace_period_seconds=0)
        await core.delete_namespace(name)
    except ApiException as error:
        if error.status != 404:
            raise


def endpoints_by_pod(slices: list[JsonObject]) -> dict[str, JsonObject]:
    return {e["targetRef"]["name"]: e for s in slices for e in s.get("endpoints") or []}


async def settled(
    pods: StatefulPodSet, api: ApiClient, *, address_type: str = "IPv4", within: float = 10.0
) -> list[JsonObject]:
    """The set's slices once they show exactly the addresses that should be ready."""
    return await wait_for_ready_addresses(
        api,
        namespace=pods.namespace,
        service=pods.service_name,
        expected=pods.ready_addresses(address_type=address_type),
        address_type=address_type,
        within=within,
    )


async def test_three_pods_are_one_slice_of_ready_endpoints(
    cluster: ApiClient, namespace: str
) -> None:
    web = StatefulPodSet(cluster, name="web", namespace=namespace)
    await web.create(3)
    slices = await settled(web, cluster)
    assert len(slices) == 1
    endpoints = endpoints_by_pod(slices)
    for pod in web.pods:
        endpoint = endpoints[pod.name]
        assert endpoint["addresses"] == list(pod.addresses)
        assert endpoint["hostname"] == pod.name
        assert endpoint["targetRef"]["uid"] == pod.uid
        assert endpoint["conditions"] == {"ready": True, "serving": True, "terminating": False}
        assert endpoint["zone"] == "zone-a"
    assert slices[0]["ports"] == [
        {"name": "http", "protocol": "TCP", "port": 8080},
        {"name": "grpc", "protocol": "TCP", "port": 9090, "appProtocol": "grpc"},
    ]


async def test_a_restarted_pod_comes_back_with_a_new_ip_and_uid(
    cluster: ApiClient, namespace: str
) -> None:
    web = StatefulPodSet(cluster, name="web", namespace=namespace)
    await web.create(3)
    await settled(web, cluster)
    before = web.pod(1)
    after = await web.restart(1)
    slices = await settled(web, cluster)
    assert after.uid != before.uid
    assert after.addresses != before.addresses
    endpoint = endpoints_by_pod(slices)["web-1"]
    assert endpoint["addresses"] == list(after.addresses)
    assert endpoint["targetRef"]["uid"] == after.uid


async def test_a_recycled_ip_can_be_handed_to_another_workload(
    cluster: ApiClient, namespace: str
) -> None:
    shared = PodIpAllocator()
    web = StatefulPodSet(cluster, name="web", namespace=namespace, allocator=shared)
    other = StatefulPodSet(cluster, name="other", namespace=namespace, allocator=shared)
    await web.create(2)
    await other.create(1)
    old = web.pod(0).addresses
    await web.restart(0)
    recycled = await other.restart(0, reuse_ip_of="web-0")
    assert recycled.addresses == old
    other_slices = await settled(other, cluster)
    web_slices = await settled(web, cluster)
    assert ready_addresses(other_slices) == set(old)
    assert not ready_addresses(web_slices) & set(old)


async def test_a_pod_made_not_ready_is_neither_ready_nor_serving(
    cluster: ApiClient, namespace: str
) -> None:
    web = StatefulPodSet(cluster, name="web", namespace=namespace)
    await web.create(2)
    await settled(web, cluster)
    await web.set_ready(1, False)
    slices = await settled(web, cluster)
    assert endpoints_by_pod(slices)["web-1"]["conditions"] == {
        "ready": False,
        "serving": False,
        "terminating": False,
    }
    await web.set_ready(1, True)
    assert ready_addresses(await settled(web, cluster)) == web.ready_addresses()


async def test_a_terminating_pod_is_serving_but_not_ready(
    cluster: ApiClient, namespace: str
) -> None:
    web = StatefulPodSet(cluster, name="web", namespace=namespace)
    await web.create(2)
    await settled(web, cluster)
    await web.begin_termination(0)
    slices = await settled(web, cluster)
    assert endpoints_by_pod(slices)["web-0"]["conditions"] == {
        "ready": False,
        "serving": True,
        "terminating": True,
    }


async def test_150_pods_are_split_into_slices_of_100_and_50(
    cluster: ApiClient, namespace: str
) -> None:
    bulk = StatefulPodSet(cluster, name="bulk", namespace=namespace)
    await bulk.create(150)
    slices = await settled(bulk, cluster, within=20)
    assert sorted(len(s["endpoints"]) for s in slices) == [50, 100]
    await bulk.scale(0)
    emptied = await wait_for_slices(
        cluster,
        namespace=namespace,
        service="bulk",
        until=lambda found: len(found) == 1 and found[0]["endpoints"] is None,
    )
    assert emptied[0]["metadata"]["name"] in {s["metadata"]["name"] for s in slices}


async def test_deleting_the_service_garbage_collects_its_slices(
    cluster: ApiClient, namespace: str
) -> None:
    web = StatefulPodSet(cluster, name="web", namespace=namespace)
    await web.create(1)
    await settled(web, cluster)
    await CoreV1Api(cluster).delete_namespaced_service("web", namespace)
    await wait_for_slices(
        cluster, namespace=namespace, service="web", until=lambda found: not found
    )


@simulator_only
async def test_dual_stack_pods_appear_in_one_slice_per_family(
    cluster: ApiClient, namespace: str
) -> None:
    web = StatefulPodSet(cluster, name="web", namespace=namespace, family="DualStack")
    await web.create(2)
    ipv4 = await settled(web, cluster, address_type="IPv4")
    ipv6 = await settled(web, cluster, address_type="IPv6")
    assert {s["addressType"] for s in ipv4} == {"IPv4", "IPv6"}
    assert ready_addresses(ipv6, address_type="IPv6") == {
        address for pod in web.pods for address in pod.addresses if ":" in address
    }


@simulator_only
async def test_deleting_the_namespace_removes_everything_in_it(
    cluster: ApiClient, namespace: str
) -> None:
    web = StatefulPodSet(cluster, name="web", namespace=namespace)
    await web.create(3)
    await settled(web, cluster)
    await CoreV1Api(cluster).delete_namespace(namespace)
    await wait_for_namespace_gone(cluster, name=namespace)
    pods = await CoreV1Api(cluster).list_namespaced_pod(namespace)
    assert pods.items == []


async def test_a_wait_that_cannot_succeed_ends_at_its_deadline(
    cluster: ApiClient, namespace: str
) -> None:
    web = StatefulPodSet(cluster, name="web", namespace=namespace)
    await web.create(1)
    with pytest.raises(TimeoutError, match=r"EndpointSlices of testbed-\w+/web"):
        await wait_for_ready_addresses(
            cluster, namespace=namespace, service="web", expected={"203.0.113.1"}, within=0.5
        )
