"""After a 410 Gone the watch layer relists and ends with exactly the server's objects.

EndpointSlices and ServiceEntries are listed and watched through the project's
watch layer and, for comparison, through the plain kubernetes-asyncio client
(list + ``Watch``). While the project's watches are cut off, the objects change
and the server's history is compacted, so resuming from the last seen
resourceVersion is answered with 410 Gone: the watch layer lists again and its
consumers end with stores identical to the server's, while the plain client's
``Watch`` can only raise the 410 to its caller.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from pathlib import Path
from typing import Any

import msgspec
import pytest
from kubernetes_asyncio.client import CustomObjectsApi, DiscoveryV1Api
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.watch import Watch

from reconciler.api.client import KubeClient, PatchType, load_configuration
from reconciler.api.resources import ENDPOINT_SLICES, NAMESPACES, SERVICE_ENTRIES, Resource
from reconciler.models.projections import EndpointSlice, ServiceEntry
from reconciler.simulator import resources as served
from reconciler.simulator.faults import RequestRecord
from reconciler.simulator.simulator import Simulator
from reconciler.watching import Backoff, Restart, RestartReason, Watcher

NAMESPACE = "relist"
ISTIO = ("networking.istio.io", "v1", "serviceentries")


def endpoint_slice(name: str, *addresses: str) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "labels": {"kubernetes.io/service-name": "web"},
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [a], "conditions": {"ready": True}} for a in addresses],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
    }


def service_entry(name: str, *addresses: str) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "ServiceEntry",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "hosts": [f"{name}.{NAMESPACE}.svc.cluster.local"],
            "location": "MESH_INTERNAL",
            "resolution": "STATIC",
            "ports": [{"name": "http", "number": 80, "protocol": "HTTP"}],
            "endpoints": [{"address": a} for a in addresses],
        },
    }


def server_state(
    sim: Simulator, kind: served.ResourceKind, projection: type[Any]
) -> dict[Any, Any]:
    """The simulator's stored objects of ``kind``, projected as the watch layer projects them."""
    objects, _ = sim.store.list(kind)
    return {
        (obj["metadata"]["namespace"], obj["metadata"]["name"]): msgspec.convert(obj, projection)
        for obj in objects
    }


class Consumer:
    """Feeds one watcher's events into a dict store and signals every change."""

    def __init__(
        self,
        new_store: Callable[[], Any],
        sim: Simulator,
        kind: served.ResourceKind,
        projection: type[Any],
    ) -> None:
        self.store = new_store()
        self.changed = asyncio.Event()
        self.restarts: list[Restart] = []
        self._server = lambda: server_state(sim, kind, projection)

    def in_sync(self) -> bool:
        return bool(self.store.objects == self._server())

    async def run(self, watcher: Watcher[Any]) -> None:
        async with aclosing(watcher.events()) as events:
            async for event in events:
                self.store.apply(event)
                self.changed.set()

    async def until(self, done: Callable[[], bool]) -> None:
        async with asyncio.timeout(5):
            while not done():
                self.changed.clear()
                await self.changed.wait()


async def yield_only(delay: float) -> None:
    await asyncio.sleep(0)


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator() as simulator:
        yield simulator


@pytest.fixture
async def kube(sim: Simulator, tmp_path: Path) -> AsyncIterator[KubeClient]:
    kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
    async with KubeClient(await load_configuration(kubeconfig=str(kubeconfig), environ={})) as kube:
        await kube.create(NAMESPACES, None, {"metadata": {"name": NAMESPACE}})
        yield kube


def watcher(kube: KubeClient, resource: Resource[Any], consumer: Consumer) -> Watcher[Any]:
    return Watcher(
        kube,
        resource,
        backoff=Backoff(random=lambda: 0.0),
        sleep=yield_only,
        on_restart=consumer.restarts.append,
    )


def ours(request: RequestRecord) -> bool:
    return request.verb == "watch" and request.user_agent.startswith("headless-reconciler/")


async def plain_watch_until(
    func: Any, *args: Any, resource_version: str, wanted: set[tuple[str, str]]
) -> str:
    """Watch with the plain client until ``wanted`` (type, name) pairs arrive; return its RV."""
    seen: set[tuple[str, str]] = set()
    async with Watch() as watch, asyncio.timeout(5):
        stream = watch.stream(func, *args, resource_version=resource_version, timeout_seconds=5)
        async for event in stream:
            raw = event["raw_object"]
            seen.add((event["type"], raw["metadata"]["name"]))
            if wanted <= seen:
                break
        assert wanted <= seen
        return str(watch.resource_version)


async def test_relist_after_gone_ends_with_the_servers_objects(
    sim: Simulator, kube: KubeClient, new_store: Callable[[], Any]
) -> None:
    for index in range(3):
        await kube.create(
            ENDPOINT_SLICES, NAMESPACE, endpoint_slice(f"web-{index}", f"10.1.0.{index}")
        )
    for index in range(2):
        await kube.create(SERVICE_ENTRIES, NAMESPACE, service_entry(f"se-{index}", "10.1.0.1"))

    async with sim.api_client() as api:
        discovery, custom = DiscoveryV1Api(api), CustomObjectsApi(api)
        plain_slices = await discovery.list_endpoint_slice_for_all_namespaces()
        plain_entries = await custom.list_cluster_custom_object(*ISTIO)
        assert {(s.metadata.namespace, s.metadata.name) for s in plain_slices.items} == set(
            server_state(sim, served.ENDPOINT_SLICES, EndpointSlice)
        )
        assert {
            (e["metadata"]["namespace"], e["metadata"]["name"]) for e in plain_entries["items"]
        } == set(server_state(sim, served.SERVICE_ENTRIES, ServiceEntry))

        slices = Consumer(new_store, sim, served.ENDPOINT_SLICES, EndpointSlice)
        entries = Consumer(new_store, sim, served.SERVICE_ENTRIES, ServiceEntry)
        tasks = [
            asyncio.create_task(slices.run(watcher(kube, ENDPOINT_SLICES, slices))),
            asyncio.create_task(entries.run(watcher(kube, SERVICE_ENTRIES, entries))),
        ]
        try:
            await slices.until(lambda: slices.store.relists == 1)
            await entries.until(lambda: entries.store.relists == 1)
            assert slices.in_sync()
            assert entries.in_sync()

            await kube.patch(
                ENDPOINT_SLICES,
                NAMESPACE,
                "web-0",
                {"endpoints": [{"addresses": ["10.1.9.9"], "conditions": {"ready": True}}]},
                content_type=PatchType.MERGE,
            )
            await kube.create(SERVICE_ENTRIES, NAMESPACE, service_entry("se-2", "10.1.0.2"))
            await slices.until(slices.in_sync)
            await entries.until(entries.in_sync)

            slices_rv = await plain_watch_until(
                discovery.list_endpoint_slice_for_all_namespaces,
                resource_version=plain_slices.metadata.resource_version,
                wanted={("MODIFIED", "web-0")},
            )
            entries_rv = await plain_watch_until(
                custom.list_cluster_custom_object,
                *ISTIO,
                resource_version=plain_entries["metadata"]["resourceVersion"],
                wanted={("ADDED", "se-2")},
            )

            held = sim.faults.hold(ours)
            await sim.faults.restart(0)
            await asyncio.wait_for(held.wait_arrived(2), timeout=5)
            await kube.delete(ENDPOINT_SLICES, NAMESPACE, "web-1")
            await kube.create(ENDPOINT_SLICES, NAMESPACE, endpoint_slice("web-3", "10.1.0.3"))
            await kube.patch(
                SERVICE_ENTRIES,
                NAMESPACE,
                "se-0",
                {"spec": {"endpoints": [{"address": "10.1.7.7"}]}},
                content_type=PatchType.MERGE,
            )
            await kube.delete(SERVICE_ENTRIES, NAMESPACE, "se-1")
            sim.faults.compact()
            assert not slices.in_sync()
            assert not entries.in_sync()
            held.release()

            await slices.until(slices.in_sync)
            await entries.until(entries.in_sync)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        for consumer in (slices, entries):
            assert consumer.store.relists == 2
            expired = [r for r in consumer.restarts if r.reason is RestartReason.EXPIRED]
            assert len(expired) == 1
            assert expired[0].relist
            assert expired[0].error is not None
            assert expired[0].error.code == 410
        assert sorted(name for _, name in slices.store.objects) == ["web-0", "web-2", "web-3"]
        assert sorted(name for _, name in entries.store.objects) == ["se-0", "se-2"]

        for func, args, resource_version in (
            (discovery.list_endpoint_slice_for_all_namespaces, (), slices_rv),
            (custom.list_cluster_custom_object, ISTIO, entries_rv),
        ):
            with pytest.raises(ApiException) as raised:
                await plain_watch_until(
                    func, *args, resource_version=resource_version, wanted={("ADDED", "never")}
                )
            assert raised.value.status == 410
