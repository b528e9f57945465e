"""The simulator's garbage collector decides as the real one does (transcript 09, surprise 13).

Objects are put in the store as the API server stores them; deletions that a
DELETE request would start (``deletionTimestamp`` plus the ``foregroundDeletion``
or ``orphan`` finalizer) are written the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from reconciler.simulator.controllers import GarbageCollector
from reconciler.simulator.resources import LEASES, PODS, SERVICES, ResourceKind
from reconciler.simulator.store import Store, WatchRecord
from reconciler.testbed.manifests import pod_manifest

JsonObject = dict[str, Any]
NS = "fid-a"


@pytest.fixture
def store() -> Store:
    counter = itertools.count(1)
    created = Store()
    created.uid_factory = lambda: f"uid-{next(counter)}"
    return created


def reference(
    owner: JsonObject, *, block: bool = True, api_version: str = "v1", kind: str = "Service"
) -> JsonObject:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": block,
    }


def add(
    store: Store,
    name: str,
    *owners: JsonObject,
    kind: ResourceKind = SERVICES,
    finalizers: list[str] | None = None,
) -> JsonObject:
    meta: JsonObject = {"name": name, "namespace": NS}
    if owners:
        meta["ownerReferences"] = list(owners)
    if finalizers:
        meta["finalizers"] = finalizers
    return store.create(kind, {"metadata": meta, "spec": {}})


def start_deletion(store: Store, obj: JsonObject, finalizer: str) -> None:
    """What a DELETE with propagationPolicy Foreground or Orphan leaves behind."""
    current = store.get(SERVICES, NS, obj["metadata"]["name"])
    assert current is not None
    current["metadata"]["deletionTimestamp"] = "2026-11-29T05:13:43Z"
    current["metadata"]["deletionGracePeriodSeconds"] = 0
    current["metadata"]["finalizers"] = [finalizer]
    store.update(SERVICES, current)


def exists(store: Store, name: str, kind: ResourceKind = SERVICES) -> bool:
    return store.get(kind, NS, name) is not None


@contextlib.asynccontextmanager
async def running(store: Store) -> AsyncIterator[None]:
    task = asyncio.create_task(GarbageCollector(store).run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


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


async def barrier(store: Store) -> None:
    """Return once the collector has handled every change made before this call."""
    ghost = {"name": "ghost", "uid": "never-existed"}
    add(store, "zz-barrier", reference({"metadata": ghost}), kind=LEASES)
    await until(store, lambda: not exists(store, "zz-barrier", LEASES))


def recorder(store: Store) -> Callable[[], list[tuple[str, str]]]:
    """Every change from now on, as (event type, object name)."""
    feed = store.subscribe()
    seen: list[WatchRecord] = []

    def changes() -> list[tuple[str, str]]:
        while not feed.queue.empty():
            record = feed.queue.get_nowait()
            assert record is not None
            seen.append(record)
        return [(record.type, record.name) for record in seen]

    return changes


# -- background --------------------------------------------------------------------------------


async def test_a_dependent_goes_when_its_owner_is_deleted(store: Store) -> None:
    owner = add(store, "web")
    add(store, "web-grpc", reference(owner))
    async with running(store):
        await barrier(store)
        assert exists(store, "web-grpc")
        store.delete(SERVICES, NS, "web")
        await until(store, lambda: not exists(store, "web-grpc"))


async def test_an_owner_reference_with_the_wrong_uid_counts_as_dangling(store: Store) -> None:
    owner = add(store, "web")
    wrong = reference(owner) | {"uid": "00000000-0000-0000-0000-000000000000"}
    add(store, "wrong-uid-dep", wrong)
    async with running(store):
        await until(store, lambda: not exists(store, "wrong-uid-dep"))
    assert exists(store, "web")


async def test_with_another_owner_alive_only_the_dangling_reference_goes(store: Store) -> None:
    gone, alive = add(store, "gone"), add(store, "alive")
    dependent = add(store, "shared", reference(gone), reference(alive, block=False))
    dependent["metadata"]["managedFields"] = [
        {
            "manager": "fidelity-recorder",
            "operation": "Update",
            "apiVersion": "v1",
            "time": "2026-11-29T05:13:44Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": {
                    "f:ownerReferences": {
                        ".": {},
                        'k:{"uid":"uid-1"}': {},
                        'k:{"uid":"uid-2"}': {},
                    }
                }
            },
        }
    ]
    store.update(SERVICES, dependent)
    store.delete(SERVICES, NS, "gone")
    async with running(store):
        kept = await until(
            store,
            lambda: (
                (found := store.get(SERVICES, NS, "shared"))
                and len(found["metadata"]["ownerReferences"]) == 1
                and found
            ),
        )
    assert kept["metadata"]["ownerReferences"] == [reference(alive, block=False)]
    fields = kept["metadata"]["managedFields"][0]["fieldsV1"]
    assert fields == {"f:metadata": {"f:ownerReferences": {".": {}, 'k:{"uid":"uid-2"}': {}}}}


async def test_dangling_dependents_stored_before_the_collector_starts_are_collected(
    store: Store,
) -> None:
    owner = add(store, "web")
    add(store, "web-grpc", reference(owner))
    store.delete(SERVICES, NS, "web")
    async with running(store):
        await until(store, lambda: not exists(store, "web-grpc"))


async def test_a_bound_pod_collected_with_its_owner_stays_terminating(store: Store) -> None:
    owner = add(store, "web")
    pod = pod_manifest("web-0", namespace=NS, labels={}, node_name="n1", subdomain="web")
    pod["metadata"]["ownerReferences"] = [reference(owner)]
    store.create(PODS, pod)
    async with running(store):
        store.delete(SERVICES, NS, "web")
        terminating = await until(
            store,
            lambda: (
                (found := store.get(PODS, NS, "web-0"))
                and found["metadata"].get("deletionTimestamp")
                and found
            ),
        )
        await barrier(store)
    assert terminating["metadata"]["deletionGracePeriodSeconds"] == 30
    assert exists(store, "web-0", PODS)


# -- foreground and orphan ---------------------------------------------------------------------


async def test_foreground_deletion_removes_dependents_before_the_owner(store: Store) -> None:
    owner = add(store, "fg-owner")
    add(store, "fg-blocking", reference(owner))
    add(store, "fg-other", reference(owner, block=False))
    changes = recorder(store)
    async with running(store):
        start_deletion(store, owner, "foregroundDeletion")
        await until(store, lambda: not exists(store, "fg-owner"))
    deleted = [name for kind, name in changes() if kind == "DELETED"]
    assert set(deleted) == {"fg-blocking", "fg-other", "fg-owner"}
    assert deleted.index("fg-blocking") < deleted.index("fg-owner")


async def test_foreground_deletion_waits_for_a_blocking_dependent(store: Store) -> None:
    owner = add(store, "fg-owner")
    add(store, "held", reference(owner), finalizers=["example.com/hold"])
    async with running(store):
        start_deletion(store, owner, "foregroundDeletion")
        held = await until(
            store,
            lambda: (
                (found := store.get(SERVICES, NS, "held"))
                and found["metadata"].get("deletionTimestamp")
                and found
            ),
        )
        await barrier(store)
        assert exists(store, "fg-owner")
        held["metadata"]["finalizers"] = []
        store.update(SERVICES, held)
        await until(store, lambda: not exists(store, "fg-owner"))


async def test_foreground_deletion_cascades_through_dependents_with_dependents(
    store: Store,
) -> None:
    owner = add(store, "top")
    middle = add(store, "middle", reference(owner))
    add(store, "leaf", reference(middle))
    changes = recorder(store)
    async with running(store):
        start_deletion(store, owner, "foregroundDeletion")
        await until(store, lambda: not exists(store, "top"))
    seen = changes()
    deleted = [name for kind, name in seen if kind == "DELETED"]
    assert deleted == ["leaf", "middle", "top"]
    assert ("MODIFIED", "middle") in seen


async def test_orphan_deletion_keeps_dependents_without_the_reference(store: Store) -> None:
    owner = add(store, "or-owner")
    dependent = add(store, "or-dep", reference(owner))
    dependent["metadata"]["labels"] = {"headless-reconciler.io/paired-with": "or-owner"}
    dependent["metadata"]["managedFields"] = [
        {
            "manager": "fidelity-recorder",
            "operation": "Update",
            "apiVersion": "v1",
            "time": "2026-11-29T05:13:44Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": {
                    "f:labels": {".": {}, "f:headless-reconciler.io/paired-with": {}},
                    "f:ownerReferences": {".": {}, 'k:{"uid":"uid-1"}': {}},
                }
            },
        }
    ]
    store.update(SERVICES, dependent)
    async with running(store):
        start_deletion(store, owner, "orphan")
        await until(store, lambda: not exists(store, "or-owner"))
    orphan = store.get(SERVICES, NS, "or-dep")
    assert orphan is not None
    assert "ownerReferences" not in orphan["metadata"]
    assert orphan["metadata"]["managedFields"][0]["fieldsV1"] == {
        "f:metadata": {"f:labels": {".": {}, "f:headless-reconciler.io/paired-with": {}}}
    }


async def test_an_owner_that_cannot_be_resolved_keeps_its_dependent(store: Store) -> None:
    ghost = {"metadata": {"name": "web", "uid": "uid-404"}}
    add(store, "by-statefulset", reference(ghost, api_version="apps/v1", kind="StatefulSet"))
    add(store, "by-unserved-version", reference(ghost, api_version="v9"))
    async with running(store):
        await barrier(store)
    assert exists(store, "by-statefulset")
    assert exists(store, "by-unserved-version")


async def test_collection_touches_only_the_dependents_of_the_deleted_owner(
    store: Store,
) -> None:
    owners = [add(store, f"owner-{i}") for i in range(100)]
    for i, owner in enumerate(owners):
        for j in range(100):
            add(store, f"lease-{i}-{j}", reference(owner), kind=LEASES)
    async with running(store):
        await barrier(store)
        store.delete(SERVICES, NS, "owner-7")
        await until(
            store,
            lambda: not any(exists(store, f"lease-7-{j}", LEASES) for j in range(100)),
        )
        await barrier(store)
    assert store.count(LEASES) == 9900
