"""Corpus, objects that go away or change name under the controller (issue 9).

A write planned from the cache can meet an object that is already gone; a
Service can be replaced by one of another name; a whole namespace can be
deleted with everything in it. None of this is an error: the controller
takes the 404 calmly (no crash, no re-creation, no retry loop), follows the
new name, and forgets what was deleted. "No retry loop" is shown with a
short resync period: a healthy key keeps being reconciled while the gone
ones are not, and nothing is reported as an error (the corpus conftest also
fails a test on any error logged).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest
from corpus_world import RawWorld
from kubernetes_asyncio.client import ApiClient, CoreV1Api
from kubernetes_asyncio.client.exceptions import ApiException

from reconciler.api.client import USER_AGENT
from reconciler.applying.applier import Outcome
from reconciler.models.refs import Kind, ObjectKey
from reconciler.planning.references import (
    GRPC_SERVICE_ANNOTATION,
    POD_ANNOTATION,
    SERVICE_ANNOTATION,
)
from reconciler.testbed.manifests import headless_service_manifest
from reconciler.testbed.statefulsets import StatefulPodSet
from reconciler.testbed.waiting import wait_for_namespace_gone, wait_for_ready_addresses

if TYPE_CHECKING:
    from reconciler.runtime.cache import ClusterCache
    from reconciler.simulator.faults import RequestRecord
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
ASKS_FOR_TWIN = {GRPC_SERVICE_ANNOTATION: "true"}
MERGE_PATCH = "application/merge-patch+json"
STALE = "10.244.250.250"
"""An address no pod of these tests ever gets."""
QUIET_ROUNDS = 5
"""Resync rounds of a healthy key over which a gone key must not come back."""
WAIT = 10.0


def by_the_controller(verb: str, resource: str, name: str | None = None) -> Any:
    def matches(request: RequestRecord) -> bool:
        return (
            request.verb == verb
            and request.resource == resource
            and request.user_agent == USER_AGENT
            and (name is None or request.name == name)
        )

    return matches


async def sentinel_entry(istio: Istio, name: str = "sentinel") -> ObjectKey:
    """An unmanaged entry: every resync reconciles it (a no-op), which marks time passing."""
    await istio.create_service_entry(name, endpoints=[{"address": STALE}])
    return istio.service_entry_key(name)


def cached_in(cache: ClusterCache, namespace: str) -> dict[str, int]:
    """How many objects of the namespace each of the controller's stores still holds."""
    counts = {
        "namespace": int(cache.namespace(namespace) is not None),
        "services": len(cache.services.in_namespace(namespace)),
        "endpointslices": len(cache.endpoint_slices.in_namespace(namespace)),
        "serviceentries": len(cache.service_entries.in_namespace(namespace)),
        "workloadentries": len(cache.workload_entries.in_namespace(namespace)),
    }
    return {store: count for store, count in counts.items() if count}


async def test_entry_deleted_while_its_patch_is_in_flight_is_a_calm_404_never_recreated(
    cluster: Cluster,
    statefulset: StatefulSetStarter,
    istio: Istio,
    raw: RawWorld,
    written_by: ControllerWrites,
    start_controller: ControllerStarter,
) -> None:
    sim = cluster.require_simulator()
    pods = await statefulset(2)
    sentinel = await sentinel_entry(istio)
    running = await start_controller(resync_seconds=0.05)
    hold = sim.faults.hold(by_the_controller("patch", "serviceentries", "doomed"))
    key = istio.service_entry_key("doomed")
    await istio.create_service_entry(
        "doomed", endpoints=[istio.endpoint_of(pods, 0), {"address": STALE}], annotations=MANAGED
    )
    await hold.wait_arrived()

    await raw.delete_custom("serviceentries", "doomed")
    mark = running.reconciles.mark()
    hold.release()

    applied = await running.reconciles.wait_for(key, after=mark)
    assert (applied.outcome, applied.message) == (Outcome.NOOP, "the object was deleted meanwhile")
    quiet = running.reconciles.mark()
    await running.reconciles.wait_for_rounds([sentinel], rounds=QUIET_ROUNDS, after=quiet)
    assert len(running.reconciles.outcomes(key, after=mark)) <= 2, "looked at once more, at most"
    assert set(running.reconciles.outcomes(key)) <= {Outcome.NOOP}
    writes = written_by(name="doomed")
    assert [(write.verb, write.code) for write in writes] == [("patch", 404)]
    with pytest.raises(ApiException) as gone:
        await istio.get_service_entry("doomed")
    assert gone.value.status == 404


async def test_headless_service_deleted_while_its_twin_is_created_leaves_no_twin_behind(
    cluster: Cluster,
    namespace: str,
    raw: RawWorld,
    written_by: ControllerWrites,
    controller: RunningController,
) -> None:
    sim = cluster.require_simulator()
    hold = sim.faults.hold(by_the_controller("create", "services"))
    await raw.create_service("web", selector={"app": "web"}, annotations=ASKS_FOR_TWIN)
    await hold.wait_arrived()

    await raw.delete_service("web")
    hold.release()

    twin = ObjectKey(Kind.SERVICE, namespace, "web-grpc")
    created = await controller.reconciles.wait_for(twin, Outcome.UPDATED)
    assert created.message.startswith("created paired Service web-grpc"), "an owner may be gone"
    await raw.wait_for_service("web-grpc", present=False)
    assert [(w.verb, w.name) for w in written_by(resource="services")] == [("create", "web-grpc")]
    assert Outcome.ERROR not in controller.reconciles.outcomes(
        ObjectKey(Kind.SERVICE, namespace, "web")
    )


async def test_renamed_service_moves_its_entry_and_the_old_twin_is_garbage_collected(
    api: ApiClient,
    namespace: str,
    statefulset: StatefulSetStarter,
    istio: Istio,
    raw: RawWorld,
    written_by: ControllerWrites,
    controller: RunningController,
) -> None:
    core: Any = CoreV1Api(api)
    pods = await statefulset(2)
    await core.patch_namespaced_service(
        "web", namespace, {"metadata": {"annotations": ASKS_FOR_TWIN}}, _content_type=MERGE_PATCH
    )
    endpoints = [istio.endpoint_of(pods, index) for index in range(2)]
    await istio.create_service_entry("web-all", endpoints=endpoints, annotations=MANAGED)
    await raw.wait_for_service("web-grpc", present=True)

    await raw.delete_service("web")
    renamed = headless_service_manifest("web2", namespace=namespace, selector=pods.selector)
    renamed["metadata"]["annotations"] = ASKS_FOR_TWIN
    web2 = await core.create_namespaced_service(namespace, renamed)
    await istio.patch_service_entry(
        "web-all", {"metadata": {"annotations": {SERVICE_ANNOTATION: "web2"}}}
    )

    await raw.wait_for_service("web-grpc", present=False)
    (twin,) = await raw.wait_for_service("web2-grpc", present=True)
    assert [owner["uid"] for owner in twin["metadata"]["ownerReferences"]] == [web2.metadata.uid]
    await wait_for_ready_addresses(
        api, namespace=namespace, service="web2", expected=pods.ready_addresses(), within=WAIT
    )
    restarted = await pods.restart(1)
    await istio.wait_for_endpoints("web-all", [endpoints[0]["address"], restarted.addresses[0]])
    for write in written_by(resource="serviceentries", name="web-all"):
        assert write.body["spec"]["endpoints"], "the entry is never emptied by the rename"


async def test_deleted_namespace_leaves_the_caches_and_the_controller_quiet(
    api: ApiClient,
    namespace: str,
    other_namespace: str,
    istio: Istio,
    start_controller: ControllerStarter,
) -> None:
    core: Any = CoreV1Api(api)
    theirs = StatefulPodSet(api, name="web", namespace=other_namespace, wait_within=WAIT)
    await theirs.create(2)
    await core.patch_namespaced_service(
        "web",
        other_namespace,
        {"metadata": {"annotations": ASKS_FOR_TWIN}},
        _content_type=MERGE_PATCH,
    )
    their_istio = type(istio)(api, other_namespace)  # the same helper, for their namespace
    await their_istio.create_service_entry(
        "web-all",
        endpoints=[{"address": STALE}],
        hosts=[their_istio.host("web")],
        annotations=MANAGED,
    )
    await their_istio.create_workload_entry(
        "web-0", address=STALE, annotations={POD_ANNOTATION: "web-0"}
    )
    sentinel = await sentinel_entry(istio)
    running = await start_controller(namespaces=(namespace, other_namespace), resync_seconds=0.05)
    theirs_keys = [
        their_istio.service_entry_key("web-all"),
        their_istio.workload_entry_key("web-0"),
    ]
    for key in theirs_keys:
        await running.reconciles.wait_for(key, Outcome.UPDATED)
    await their_istio.wait_for_endpoints("web-all", [pod.addresses[0] for pod in theirs.pods])
    await RawWorld(api, other_namespace).wait_for_service("web-grpc", present=True)

    await core.delete_namespace(other_namespace)
    await wait_for_namespace_gone(api, name=other_namespace, within=WAIT)

    cache = running.controller.cache
    async with asyncio.timeout(WAIT):
        while cached_in(cache, other_namespace):
            await running.reconciles.wait_for(sentinel, after=running.reconciles.mark())
    quiet = running.reconciles.mark()
    await running.reconciles.wait_for_rounds([sentinel], rounds=QUIET_ROUNDS, after=quiet)
    assert cached_in(cache, other_namespace) == {}
    assert [key for key in cache.primary_keys() if key.namespace == other_namespace] == []
    late = [
        applied
        for applied in running.reconciles.results[quiet:]
        if applied.key.namespace == other_namespace
    ]
    assert late == [], "nothing of the deleted namespace is looked at again"
    errors = [applied for applied in running.reconciles.results if applied.outcome is Outcome.ERROR]
    assert errors == []
