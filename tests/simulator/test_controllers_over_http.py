"""Garbage collection seen through the real client, as transcript 09 recorded it.

The DELETE handler starts a deletion (removing the object, or marking it with
``foregroundDeletion`` / ``orphan``); the collector running inside the
simulator finishes it.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes_asyncio.client import ApiClient, CoreV1Api

from reconciler.simulator.controllers import DEFAULT_CONTROLLERS
from reconciler.simulator.simulator import Simulator
from reconciler.testbed import ensure_namespace, wait_for_slices, watch_until

JsonObject = dict[str, Any]
NS = "fid-a"


@pytest.fixture
async def cluster() -> AsyncIterator[ApiClient]:
    async with Simulator(controllers=DEFAULT_CONTROLLERS) as sim, sim.api_client() as client:
        await ensure_namespace(client, NS)
        yield client


def service(name: str, *, owner: Any = None, uid: str | None = None) -> JsonObject:
    metadata: JsonObject = {"name": name, "namespace": NS}
    if owner is not None:
        metadata["ownerReferences"] = [
            {
                "apiVersion": "v1",
                "kind": "Service",
                "name": owner.metadata.name,
                "uid": uid or owner.metadata.uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata,
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80}]},
    }


async def gone(api: ApiClient, name: str) -> None:
    await watch_until(
        functools.partial(CoreV1Api(api).list_namespaced_service, NS),
        lambda found: not found,
        what=f"service {name} gone",
        field_selector=f"metadata.name={name}",
    )


async def test_deleting_a_service_collects_the_service_it_owns_and_their_slices(
    cluster: ApiClient,
) -> None:
    core = CoreV1Api(cluster)
    owner = await core.create_namespaced_service(NS, service("web"))
    await core.create_namespaced_service(NS, service("web-grpc", owner=owner))
    await wait_for_slices(cluster, namespace=NS, service="web-grpc", until=bool)
    await core.delete_namespaced_service("web", NS)
    await gone(cluster, "web-grpc")
    for name in ("web", "web-grpc"):
        await wait_for_slices(cluster, namespace=NS, service=name, until=lambda found: not found)


async def test_an_owner_reference_with_the_wrong_uid_is_dangling(cluster: ApiClient) -> None:
    core = CoreV1Api(cluster)
    owner = await core.create_namespaced_service(NS, service("web"))
    wrong = "00000000-0000-0000-0000-000000000000"
    await core.create_namespaced_service(NS, service("wrong-uid-dep", owner=owner, uid=wrong))
    await gone(cluster, "wrong-uid-dep")
    assert (await core.read_namespaced_service("web", NS)).metadata.uid == owner.metadata.uid


async def test_foreground_deletion_removes_the_dependent_then_the_owner(
    cluster: ApiClient,
) -> None:
    core = CoreV1Api(cluster)
    owner = await core.create_namespaced_service(NS, service("fg-owner"))
    await core.create_namespaced_service(NS, service("fg-dep", owner=owner))
    answer = await core.delete_namespaced_service("fg-owner", NS, propagation_policy="Foreground")
    assert answer.metadata.finalizers == ["foregroundDeletion"]
    await gone(cluster, "fg-owner")
    await gone(cluster, "fg-dep")


async def test_orphan_deletion_keeps_the_dependent_without_its_reference(
    cluster: ApiClient,
) -> None:
    core = CoreV1Api(cluster)
    owner = await core.create_namespaced_service(NS, service("or-owner"))
    await core.create_namespaced_service(NS, service("or-dep", owner=owner))
    await core.delete_namespaced_service("or-owner", NS, propagation_policy="Orphan")
    await gone(cluster, "or-owner")
    orphan = await core.read_namespaced_service("or-dep", NS)
    assert orphan.metadata.owner_references is None
    for entry in orphan.metadata.managed_fields:
        assert "f:ownerReferences" not in entry.fields_v1.get("f:metadata", {})
