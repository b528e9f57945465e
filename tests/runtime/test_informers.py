"""Informers against an API server: the cache matches it, and every change is reported.

The world is changed only through the API (pods by ``StatefulPodSet``, the
EndpointSlices by the cluster's own controller), so the first test also runs
against a real cluster; the relist test needs the simulator's fault injection.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import pytest
from kubernetes_asyncio.client import ApiClient, CoreV1Api

from reconciler.api.client import KubeClient, PatchType, load_configuration
from reconciler.api.resources import BY_KIND, SERVICE_ENTRIES, WORKLOAD_ENTRIES
from reconciler.models.refs import Kind, ObjectKey
from reconciler.runtime.cache import ClusterCache
from reconciler.runtime.informers import Informers
from reconciler.runtime.mapping import keys_for_change
from reconciler.runtime.stores import Store
from reconciler.simulator.faults import RequestRecord
from reconciler.testbed import StatefulPodSet, wait_for_ready_addresses
from reconciler.watching import Restart, RestartReason, list_all

if TYPE_CHECKING:
    from tests.conftest import Cluster

pytestmark = pytest.mark.e2e


def service_entry(name: str, *, service: str) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "ServiceEntry",
        "metadata": {"name": name, "annotations": {"headless-reconciler.io/service": service}},
        "spec": {
            "hosts": [f"{name}.example.com"],
            "resolution": "STATIC",
            "ports": [{"name": "http", "number": 8080, "protocol": "HTTP"}],
            "endpoints": [{"address": "10.250.0.1"}],
        },
    }


def workload_entry(name: str, *, pod: str) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "WorkloadEntry",
        "metadata": {"name": name, "annotations": {"headless-reconciler.io/pod": pod}},
        "spec": {"address": "10.250.0.2"},
    }


def store_of(cache: ClusterCache, kind: Kind) -> Store[Any]:
    stores: dict[Kind, Store[Any]] = {
        Kind.NAMESPACE: cache.namespaces,
        Kind.SERVICE: cache.services,
        Kind.ENDPOINT_SLICE: cache.endpoint_slices,
        Kind.SERVICE_ENTRY: cache.service_entries,
        Kind.WORKLOAD_ENTRY: cache.workload_entries,
    }
    return stores[kind]


class Changes:
    """The ``on_change`` callback: records changes and the keys they map to."""

    def __init__(self, cache: ClusterCache) -> None:
        self.cache = cache
        self.seen: list[tuple[Kind, Any, Any]] = []
        self.keys: set[ObjectKey] = set()
        self.read_stale: list[tuple[Kind, Any, Any]] = []
        self.restarts: list[Restart] = []
        self._arrived = asyncio.Event()

    def __call__(self, kind: Kind, old: Any, new: Any) -> None:
        state = new if new is not None else old
        cached = store_of(self.cache, kind).get(state.metadata.namespace, state.metadata.name)
        if cached is not new:
            self.read_stale.append((kind, old, new))
        self.seen.append((kind, old, new))
        self.keys |= keys_for_change(kind, old, new, links=self.cache)
        self._arrived.set()

    def clear(self) -> None:
        self.seen.clear()
        self.keys.clear()

    def of(self, kind: Kind, name: str) -> list[tuple[Any, Any]]:
        return [
            (old, new)
            for seen_kind, old, new in self.seen
            if seen_kind is kind and (new if new is not None else old).metadata.name == name
        ]

    async def until(self, condition: Callable[[], bool], *, within: float = 10.0) -> None:
        async with asyncio.timeout(within):
            while not condition():
                self._arrived.clear()
                await self._arrived.wait()


@pytest.fixture
async def kube(cluster: Cluster) -> AsyncIterator[KubeClient]:
    configuration = await load_configuration(kubeconfig=str(cluster.kubeconfig), environ={})
    async with KubeClient(configuration) as client:
        yield client


@asynccontextmanager
async def informing(kube: KubeClient) -> AsyncIterator[tuple[ClusterCache, Changes]]:
    cache = ClusterCache()
    changes = Changes(cache)
    informers = Informers(kube, cache, on_change=changes, on_restart=changes.restarts.append)
    task = asyncio.create_task(informers.run())
    try:
        await asyncio.wait_for(cache.synced.wait(), timeout=10)
        yield cache, changes
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def settled_world(api: ApiClient, kube: KubeClient, namespace: str) -> StatefulPodSet:
    """Three ``web`` pods behind their headless Service, one ServiceEntry, one WorkloadEntry."""
    pods = StatefulPodSet(api, name="web", namespace=namespace)
    await pods.create(3)
    await wait_for_ready_addresses(
        api, namespace=namespace, service="web", expected=pods.ready_addresses()
    )
    await kube.create(SERVICE_ENTRIES, namespace, service_entry("se-web", service="web"))
    await kube.create(WORKLOAD_ENTRIES, namespace, workload_entry("we-web-1", pod="web-1"))
    return pods


async def test_informers_fill_the_cache_and_report_every_change(
    api: ApiClient, kube: KubeClient, namespace: str
) -> None:
    pods = await settled_world(api, kube, namespace)
    se_key = ObjectKey(Kind.SERVICE_ENTRY, namespace, "se-web")
    we_key = ObjectKey(Kind.WORKLOAD_ENTRY, namespace, "we-web-1")

    async with informing(kube) as (cache, changes):
        for kind, resource in BY_KIND.items():
            if not resource.namespaced:
                continue
            listing = await list_all(kube, resource, namespace=namespace)
            on_server = {(o.metadata.name, o.metadata.resource_version) for o in listing.items}
            cached = store_of(cache, kind).in_namespace(namespace)
            assert {(o.metadata.name, o.metadata.resource_version) for o in cached} == on_server
        assert cache.namespace(namespace) is not None
        assert (None, cache.service_entry(namespace, "se-web")) in changes.of(
            Kind.SERVICE_ENTRY, "se-web"
        ), "the first list reports every object as added"

        slices = cache.slices_of(namespace, "web")
        assert {a for s in slices for e in s.endpoints or () for a in e.addresses} == (
            pods.ready_addresses()
        )
        assert [s.metadata.name for s in cache.slices_with_pod(namespace, "web-1")] == [
            s.metadata.name for s in slices if any(e.hostname == "web-1" for e in s.endpoints or ())
        ]
        assert [key.name for key in cache.service_entries_of_service(namespace, "web")] == [
            "se-web"
        ]
        assert [key.name for key in cache.workload_entries_of_pod(namespace, "web-1")] == [
            "we-web-1"
        ]

        changes.clear()
        restarted = await pods.restart(1)
        await changes.until(lambda: {se_key, we_key} <= changes.keys)
        await changes.until(
            lambda: any(
                restarted.addresses == e.addresses
                for s in cache.slices_with_pod(namespace, "web-1")
                for e in s.endpoints or ()
            )
        )

        changes.clear()
        core = CoreV1Api(api)
        labels = {"metadata": {"labels": {"headless-reconciler.io/managed": "enabled"}}}
        await core.patch_namespace(namespace, labels)
        web_key = ObjectKey(Kind.SERVICE, namespace, "web")
        await changes.until(lambda: {se_key, we_key, web_key} <= changes.keys)
        assert cache.namespace_managed(namespace)

        changes.clear()
        await kube.delete(WORKLOAD_ENTRIES, namespace, "we-web-1")
        await changes.until(lambda: bool(changes.of(Kind.WORKLOAD_ENTRY, "we-web-1")))
        ((old, new),) = changes.of(Kind.WORKLOAD_ENTRY, "we-web-1")
        assert (old.metadata.name, new) == ("we-web-1", None)
        assert cache.workload_entries_of_pod(namespace, "web-1") == ()

    assert changes.read_stale == [], "the callback runs after the cache holds the change"


async def test_a_relist_reports_what_changed_while_no_watch_was_open(
    cluster: Cluster, api: ApiClient, kube: KubeClient, namespace: str
) -> None:
    sim = cluster.require_simulator()
    await settled_world(api, kube, namespace)

    def workload_entry_watch(request: RequestRecord) -> bool:
        return request.verb == "watch" and request.resource == "workloadentries"

    async with informing(kube) as (cache, changes):
        changes.clear()
        held = sim.faults.hold(workload_entry_watch)
        try:
            await sim.faults.restart(0)
            await asyncio.wait_for(held.wait_arrived(), timeout=5)
            await kube.delete(WORKLOAD_ENTRIES, namespace, "we-web-1")
            await kube.create(WORKLOAD_ENTRIES, namespace, workload_entry("we-web-2", pod="web-2"))
            await kube.patch(
                SERVICE_ENTRIES,
                namespace,
                "se-web",
                {"metadata": {"annotations": {"headless-reconciler.io/service": "db"}}},
                content_type=PatchType.MERGE,
            )
            sim.faults.compact("workloadentries")
        finally:
            held.release()
        await changes.until(
            lambda: (
                {
                    ObjectKey(Kind.WORKLOAD_ENTRY, namespace, "we-web-1"),
                    ObjectKey(Kind.WORKLOAD_ENTRY, namespace, "we-web-2"),
                    ObjectKey(Kind.SERVICE_ENTRY, namespace, "se-web"),
                }
                <= changes.keys
            )
        )
        relists = [(r.resource, r.reason) for r in changes.restarts if r.relist]
        assert relists == [("workloadentries", RestartReason.EXPIRED)]
        ((gone_old, gone_new),) = changes.of(Kind.WORKLOAD_ENTRY, "we-web-1")
        ((added_old, added_new),) = changes.of(Kind.WORKLOAD_ENTRY, "we-web-2")
        assert (gone_old is not None, gone_new, added_old) == (True, None, None)
        assert added_new.metadata.name == "we-web-2"
        assert [key.name for key in cache.workload_entries_of_pod(namespace, "web-2")] == [
            "we-web-2"
        ]
        assert [key.name for key in cache.service_entries_of_service(namespace, "db")] == ["se-web"]
        assert cache.service_entries_of_service(namespace, "web") == ()
