"""Namespace deletion in the simulator ends as a real cluster's does (transcript 13).

A namespace is marked as a DELETE leaves it (``deletionTimestamp``, phase
Terminating, ``spec.finalizers: [kubernetes]``); the controllers then empty it
and remove it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from reconciler.simulator.controllers import DEFAULT_CONTROLLERS
from reconciler.simulator.resources import (
    ALL_KINDS,
    CORE_EVENTS,
    ENDPOINT_SLICES,
    LEASES,
    NAMESPACES,
    NODES,
    PODS,
    SERVICE_ENTRIES,
    SERVICES,
)
from reconciler.simulator.store import Store
from reconciler.testbed.manifests import (
    headless_service_manifest,
    namespace_manifest,
    node_manifest,
    pod_manifest,
    running_status,
)

JsonObject = dict[str, Any]
NAMESPACED = [kind for kind in ALL_KINDS if kind.namespaced]


@pytest.fixture
def store() -> Store:
    created = Store()
    created.create(NODES, node_manifest("sim-node-1", zone="zone-a"))
    for name in ("fid-g", "keep"):
        created.create(
            NAMESPACES, namespace_manifest(name) | {"spec": {"finalizers": ["kubernetes"]}}
        )
    return created


def populate(store: Store, namespace: str) -> None:
    store.create(
        SERVICES, headless_service_manifest("web", namespace=namespace, selector={"app": "web"})
    )
    pod = pod_manifest(
        "web-0", namespace=namespace, labels={"app": "web"}, node_name="sim-node-1", subdomain="web"
    )
    pod.update(
        running_status(
            ["10.244.0.2"],
            host_ip="192.0.2.250",
            ready=True,
            transition_time="2026-11-29T05:07:15Z",
        )
    )
    store.create(PODS, pod)
    store.create(LEASES, {"metadata": {"name": "leader", "namespace": namespace}, "spec": {}})
    store.create(CORE_EVENTS, {"metadata": {"name": "web.1", "namespace": namespace}})
    store.create(
        SERVICE_ENTRIES,
        {"metadata": {"name": "web-se", "namespace": namespace}, "spec": {"hosts": ["web"]}},
    )


def start_termination(store: Store, name: str) -> None:
    """What the API server's namespace DELETE does."""
    namespace = store.get(NAMESPACES, "", name)
    assert namespace is not None
    namespace["metadata"]["deletionTimestamp"] = "2026-11-29T05:16:26Z"
    namespace["status"] = {"phase": "Terminating"}
    store.update(NAMESPACES, namespace)


def content(store: Store, namespace: str) -> list[str]:
    return [
        f"{kind.plural}/{obj['metadata']['name']}"
        for kind in NAMESPACED
        for obj in store.list(kind, namespace)[0]
    ]


@contextlib.asynccontextmanager
async def running(store: Store) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(factory(store).run()) for factory in DEFAULT_CONTROLLERS]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def until(store: Store, check: Callable[[], Any], *, within: float = 3.0) -> Any:
    """``check()``'s first truthy value, re-evaluated after each store change."""
    feed = store.subscribe()
    try:
        async with asyncio.timeout(within):
            while not (result := check()):
                await feed.get()
            return result
    finally:
        feed.close()


def namespace_gone(store: Store, name: str) -> Callable[[], bool]:
    return lambda: store.get(NAMESPACES, "", name) is None


def condition(namespace: JsonObject, kind: str) -> JsonObject:
    return next(c for c in namespace["status"]["conditions"] if c["type"] == kind)


async def test_a_terminating_namespace_is_emptied_then_removed(store: Store) -> None:
    populate(store, "fid-g")
    populate(store, "keep")
    feed = store.subscribe(NAMESPACES)
    async with running(store):
        await until(store, lambda: store.list(ENDPOINT_SLICES, "fid-g")[0])
        start_termination(store, "fid-g")
        await until(store, namespace_gone(store, "fid-g"))
    assert content(store, "fid-g") == []
    assert "services/web" in content(store, "keep")
    assert store.get(NAMESPACES, "", "keep") is not None
    records = []
    while not feed.queue.empty():
        records.append(feed.queue.get_nowait())
    feed.close()
    last_state = [r for r in records if r is not None and r.type == "MODIFIED"][-1].object
    assert [(c["type"], c["status"], c["reason"]) for c in last_state["status"]["conditions"]] == [
        ("NamespaceDeletionDiscoveryFailure", "False", "ResourcesDiscovered"),
        ("NamespaceDeletionGroupVersionParsingFailure", "False", "ParsedGroupVersions"),
        ("NamespaceDeletionContentFailure", "False", "ContentDeleted"),
        ("NamespaceContentRemaining", "False", "ContentRemoved"),
        ("NamespaceFinalizersRemaining", "False", "ContentHasNoFinalizers"),
    ]


async def test_content_held_by_a_finalizer_keeps_the_namespace(store: Store) -> None:
    store.create(
        LEASES,
        {"metadata": {"name": "held", "namespace": "fid-g", "finalizers": ["example.com/hold"]}},
    )
    async with running(store):
        start_termination(store, "fid-g")
        waiting = await until(
            store,
            lambda: (
                (ns := store.get(NAMESPACES, "", "fid-g")) and ns["status"].get("conditions") and ns
            ),
        )
        held = store.get(LEASES, "fid-g", "held")
        assert held is not None
        assert held["metadata"]["deletionTimestamp"]
        held["metadata"]["finalizers"] = []
        store.update(LEASES, held)
        await until(store, namespace_gone(store, "fid-g"))
    assert condition(waiting, "NamespaceContentRemaining") | {"lastTransitionTime": "-"} == {
        "type": "NamespaceContentRemaining",
        "status": "True",
        "lastTransitionTime": "-",
        "reason": "SomeResourcesRemain",
        "message": (
            "Some resources are remaining: leases.coordination.k8s.io has 1 resource instances"
        ),
    }
    assert condition(waiting, "NamespaceFinalizersRemaining")["message"] == (
        "Some content in the namespace has finalizers remaining: "
        "example.com/hold in 1 resource instances"
    )


async def test_namespaces_already_terminating_at_start_are_finished(store: Store) -> None:
    populate(store, "fid-g")
    start_termination(store, "fid-g")
    async with running(store):
        await until(store, namespace_gone(store, "fid-g"))
    assert content(store, "fid-g") == []
