"""No one in namespace A can make the controller act on namespace B by writing an annotation.

The controller reads every namespace in its scope and writes into several,
so it is a deputy with more reach than each of its users: the confused-deputy
question is whether a user of namespace A, who may only write objects in A,
can make it copy B's pod addresses into A (learning them, or steering A's
traffic at B's pods) or write anything in B (SPEC section 2,
"Cross-namespace"). Every way an object names another namespace is tried:
the ``service`` and ``pod`` annotations on ServiceEntries and WorkloadEntries,
the hosts of an entry in a namespace managed by label, and the paired-Service
annotation. Each is refused (Event, metric, log line) and writes nothing
but the Event, unless ``--allow-cross-namespace A=B`` allows exactly that
pair in exactly that direction.

The controller's scope always includes B, so a refusal here is the
cross-namespace rule at work, not B being out of scope. Pods of all
namespaces draw from one address pool, so an address found in A can only
have come from B.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import pytest
from kubernetes_asyncio.client import ApiClient, CoreV1Api, CustomObjectsApi

from reconciler import running
from reconciler.api.client import USER_AGENT, load_configuration
from reconciler.applying.applier import Applied, Outcome
from reconciler.config import RunSettings
from reconciler.models.refs import Kind, ObjectKey
from reconciler.planning.references import (
    GRPC_SERVICE_ANNOTATION,
    MANAGED_NAMESPACE_LABEL,
    MANAGED_NAMESPACE_VALUE,
    POD_ANNOTATION,
    SERVICE_ANNOTATION,
)
from reconciler.testbed.addresses import PodIpAllocator
from reconciler.testbed.manifests import headless_service_manifest
from reconciler.testbed.statefulsets import StatefulPodSet
from reconciler.testbed.waiting import wait_for_namespace_gone, wait_for_ready_addresses

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
STALE_ADDRESS = "10.244.250.250"
ISTIO = ("networking.istio.io", "v1")

JsonObject = dict[str, Any]
NamespaceMaker = Callable[[str], Awaitable[str]]


# -- the world -----------------------------------------------------------------------------------


@pytest.fixture
def ips() -> PodIpAllocator:
    """One address pool for the pods of every namespace of a test."""
    return PodIpAllocator()


@pytest.fixture
async def other_namespace(api: ApiClient) -> AsyncIterator[NamespaceMaker]:
    """Make more namespaces (``<prefix>-<random>``); deleted, and waited for, at teardown."""
    core = CoreV1Api(api)
    made: list[str] = []

    async def make(prefix: str) -> str:
        name = f"{prefix}-{secrets.token_hex(4)}"
        await core.create_namespace({"metadata": {"name": name}})
        made.append(name)
        return name

    yield make
    for name in made:
        await core.delete_namespace(name)
    for name in made:
        await wait_for_namespace_gone(api, name=name)


async def pods_in(api: ApiClient, namespace: str, ips: PodIpAllocator) -> StatefulPodSet:
    """Pods web-0 and web-1 behind headless Service ``web`` of ``namespace``."""
    pods = StatefulPodSet(api, name="web", namespace=namespace, allocator=ips, wait_within=WAIT)
    await pods.create(2)
    await wait_for_ready_addresses(
        api, namespace=namespace, service="web", expected=pods.ready_addresses(), within=WAIT
    )
    return pods


def host(service: str, namespace: str, *, pod: str | None = None) -> str:
    return ".".join([*([pod] if pod else []), service, namespace, "svc", "cluster", "local"])


def in_namespace(istio: Istio, api: ApiClient, namespace: str) -> Istio:
    """The same helper for another namespace of the test."""
    return type(istio)(api, namespace)


async def everything_in(api: ApiClient, namespace: str) -> str:
    """Every ServiceEntry, WorkloadEntry, Service and Event of ``namespace``, as JSON text."""
    custom: Any = CustomObjectsApi(api)
    core = CoreV1Api(api)
    found = [
        await custom.list_namespaced_custom_object(*ISTIO, namespace, "serviceentries"),
        await custom.list_namespaced_custom_object(*ISTIO, namespace, "workloadentries"),
    ]
    for listed in (
        await core.list_namespaced_service(namespace, _preload_content=False),
        await core.list_namespaced_event(namespace, _preload_content=False),
    ):
        found.append(json.loads(await listed.read()))
    return json.dumps(found)


def assert_no_address_of(pods: StatefulPodSet, text: str, *, where: str) -> None:
    for pod in pods.pods:
        for address in pod.addresses:
            assert address not in text, f"{pod.name}'s address {address} found in {where}"


# -- the whole process, for its metrics ----------------------------------------------------------


async def _stop(process: running.Process, task: asyncio.Task[None]) -> None:
    process.controller.stop()
    await asyncio.wait_for(task, WAIT)


@contextlib.asynccontextmanager
async def controller_process(
    cluster: Cluster, namespaces: tuple[str, ...], **overrides: Any
) -> AsyncIterator[tuple[running.Process, list[Applied]]]:
    """``run`` as it assembles itself (metrics included), caches synced, and its results."""
    settings = RunSettings(
        kubeconfig=cluster.kubeconfig,
        namespaces=namespaces,
        metrics_address="127.0.0.1:0",
        **overrides,
    )
    configuration = await load_configuration(kubeconfig=str(cluster.kubeconfig))
    results: list[Applied] = []
    async with running.controller_process(
        settings, configuration, on_result=lambda applied, _: results.append(applied)
    ) as process:
        task = asyncio.create_task(process.controller.run())
        try:
            async with asyncio.timeout(WAIT):
                await process.controller.cache.synced.wait()
            yield process, results
        finally:
            await _stop(process, task)


def counted(process: running.Process, *, kind: str, result: str) -> float:
    value = process.metrics.registry.get_sample_value(
        "headless_reconciler_reconcile_total", {"kind": kind, "result": result}
    )
    return value or 0.0


# -- refused -------------------------------------------------------------------------------------


async def test_annotations_naming_another_namespace_are_refused_reported_and_never_written(
    cluster: Cluster,
    api: ApiClient,
    namespace: str,
    other_namespace: NamespaceMaker,
    ips: PodIpAllocator,
    istio: Istio,
    caplog: pytest.LogCaptureFixture,
) -> None:
    other = await other_namespace("b")
    theirs = await pods_in(api, other, ips)
    stale = [{"address": STALE_ADDRESS}]
    asks = {
        "by-service": {SERVICE_ANNOTATION: f"{other}/web"},
        "by-pod": {POD_ANNOTATION: f"{other}/web-0"},
        "by-pod-and-host": {POD_ANNOTATION: "web-0"},
        "by-service-and-pod": {SERVICE_ANNOTATION: f"{other}/web", POD_ANNOTATION: "web-0"},
    }
    created = {
        name: await istio.create_service_entry(
            name, endpoints=stale, hosts=[host("web", other, pod="web-0")], annotations=annotations
        )
        for name, annotations in asks.items()
    }
    created["workload"] = await istio.create_workload_entry(
        "workload", address=STALE_ADDRESS, annotations={POD_ANNOTATION: f"{other}/web-0"}
    )
    keys = [istio.service_entry_key(name) for name in asks] + [istio.workload_entry_key("workload")]
    write_log = cluster.simulator.store.write_log if cluster.simulator is not None else []
    written_before = len(write_log)

    with caplog.at_level(logging.INFO, logger="reconciler.runtime.controller"):
        async with controller_process(cluster, (namespace, other)) as (process, results):
            events = {
                name: await istio.wait_for_event(about=name, reason="Refused") for name in created
            }
            outcomes = {applied.key: applied.outcome for applied in results}
            refused_entries = counted(process, kind="ServiceEntry", result="refused")
            refused_workloads = counted(process, kind="WorkloadEntry", result="refused")

    assert {key: outcomes.get(key) for key in keys} == dict.fromkeys(keys, Outcome.REFUSED)
    for event in events.values():
        assert event["type"] == "Warning"
        assert f"--allow-cross-namespace {namespace}={other}" in event["message"], event
    assert refused_entries >= 4
    assert refused_workloads >= 1
    logged = {
        getattr(r, "key", None) for r in caplog.records if getattr(r, "outcome", "") == "refused"
    }
    assert {str(key) for key in keys} <= logged
    for name, before in created.items():
        plural = "workloadentries" if name == "workload" else "serviceentries"
        after = await CustomObjectsApi(api).get_namespaced_custom_object(
            *ISTIO, namespace, plural, name
        )
        assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert_no_address_of(theirs, await everything_in(api, namespace), where=namespace)
    ours = [w for w in write_log[written_before:] if w.user_agent == USER_AGENT]
    assert ours or cluster.simulator is None, "the simulator logged no Event written"
    assert {w.resource.rsplit("/", 1)[-1] for w in ours} <= {"events"}
    assert {w.namespace for w in ours} <= {namespace}
    assert_no_address_of(theirs, json.dumps([w.body for w in ours], default=str), where="writes")


@pytest.mark.parametrize("allowed", [False, True], ids=["no allowance", "A=B allowed"])
async def test_a_managed_namespace_does_not_manage_entries_whose_hosts_name_another_namespace(
    api: ApiClient,
    namespace: str,
    other_namespace: NamespaceMaker,
    ips: PodIpAllocator,
    istio: Istio,
    start_controller: ControllerStarter,
    allowed: bool,
) -> None:
    """Hosts are not a request across namespaces: SPEC manages hosts of the label's namespace.

    An entry in a labelled namespace whose hosts name B's Service is passed over (not
    refused: hosts like ``api.example`` would otherwise all be "refused references to
    namespace example"), with or without an allowance, and B's addresses stay out of A.
    """
    other = await other_namespace("b")
    theirs = await pods_in(api, other, ips)
    await CoreV1Api(api).patch_namespace(
        namespace, {"metadata": {"labels": {MANAGED_NAMESPACE_LABEL: MANAGED_NAMESPACE_VALUE}}}
    )
    created = await istio.create_service_entry(
        "by-host",
        endpoints=[{"address": STALE_ADDRESS}],
        hosts=[host("web", other), f"web.{other}", f"web.{other}.svc"],
    )
    allowance = (f"{namespace}={other}",) if allowed else ()
    running_controller = await start_controller(
        namespaces=(namespace, other), allow_cross_namespace=allowance
    )

    await running_controller.reconciles.wait_for(istio.service_entry_key("by-host"), Outcome.NOOP)

    after = await istio.get_service_entry("by-host")
    assert after["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert istio.addresses(after) == [STALE_ADDRESS]
    assert_no_address_of(theirs, await everything_in(api, namespace), where=namespace)


# -- allowed, for one pair in one direction ------------------------------------------------------


async def test_allowing_a_to_b_lets_a_follow_b_and_nothing_else(
    api: ApiClient,
    namespace: str,
    other_namespace: NamespaceMaker,
    ips: PodIpAllocator,
    statefulset: StatefulSetStarter,
    istio: Istio,
    start_controller: ControllerStarter,
) -> None:
    b, c = await other_namespace("b"), await other_namespace("c")
    ours = await statefulset(2, allocator=ips)
    in_b, in_c = await pods_in(api, b, ips), await pods_in(api, c, ips)
    stale = [{"address": STALE_ADDRESS}]
    await istio.create_service_entry(
        "to-b", endpoints=stale, annotations={SERVICE_ANNOTATION: f"{b}/web"}
    )
    await istio.create_workload_entry(
        "to-b-web-0", address=STALE_ADDRESS, annotations={POD_ANNOTATION: f"{b}/web-0"}
    )
    to_c = await istio.create_service_entry(
        "to-c", endpoints=stale, annotations={SERVICE_ANNOTATION: f"{c}/web"}
    )
    istio_b = in_namespace(istio, api, b)
    to_a = await istio_b.create_service_entry(
        "to-a", endpoints=stale, annotations={SERVICE_ANNOTATION: f"{namespace}/web"}
    )
    running_controller = await start_controller(
        namespaces=(namespace, b, c), allow_cross_namespace=(f"{namespace}={b}",)
    )

    await istio.wait_for_endpoints("to-b", [pod.addresses[0] for pod in in_b.pods])
    await istio.wait_for_address("to-b-web-0", in_b.pod(0).addresses[0])
    reconciles = running_controller.reconciles
    await reconciles.wait_for(istio.service_entry_key("to-c"), Outcome.REFUSED)
    await reconciles.wait_for(istio_b.service_entry_key("to-a"), Outcome.REFUSED)
    refused_c = await istio.wait_for_event(about="to-c", reason="Refused")
    refused_a = await istio_b.wait_for_event(about="to-a", reason="Refused")

    assert f"--allow-cross-namespace {namespace}={c}" in refused_c["message"]
    assert f"--allow-cross-namespace {b}={namespace}" in refused_a["message"]
    for entry, istio_of, before in ((to_c, istio, "to-c"), (to_a, istio_b, "to-a")):
        after = await istio_of.get_service_entry(before)
        assert after["metadata"]["resourceVersion"] == entry["metadata"]["resourceVersion"]
    assert_no_address_of(in_c, await everything_in(api, namespace), where=namespace)
    assert_no_address_of(ours, await everything_in(api, b), where=b)


# -- paired Services -----------------------------------------------------------------------------


async def test_a_paired_service_request_naming_another_namespace_writes_nothing_anywhere(
    api: ApiClient,
    namespace: str,
    other_namespace: NamespaceMaker,
    istio: Istio,
    controller_writes: ControllerWrites,
    start_controller: ControllerStarter,
) -> None:
    other = await other_namespace("b")
    core = CoreV1Api(api)
    existing = await core.create_namespaced_service(
        other,
        {
            "metadata": {"name": "x"},
            "spec": {"selector": {"app": "x"}, "ports": [{"name": "grpc", "port": 9090}]},
        },
    )
    asks = {"asks-slash": f"{other}/x", "asks-dots": "../x", "asks-other": f"{other}/asks-other"}
    for name, value in asks.items():
        manifest = headless_service_manifest(name, namespace=namespace, selector={"app": name})
        manifest["metadata"]["annotations"] = {GRPC_SERVICE_ANNOTATION: value}
        await core.create_namespaced_service(namespace, manifest)
    mark = controller_writes.mark()
    running_controller = await start_controller(
        namespaces=(namespace, other), allow_cross_namespace=(f"{namespace}={other}",)
    )

    for name in asks:
        key = ObjectKey(Kind.SERVICE, namespace, name)
        await running_controller.reconciles.wait_for(key, Outcome.REFUSED)
        event = await istio.wait_for_event(about=name, reason="Refused")
        assert "another namespace" in event["message"] or "not a Service name" in event["message"]

    assert [w for w in controller_writes(after=mark) if w.resource != "events"] == []
    theirs = (await core.list_namespaced_service(other)).items
    assert [service.metadata.name for service in theirs] == ["x"]
    assert theirs[0].metadata.resource_version == existing.metadata.resource_version
    names = sorted(
        service.metadata.name for service in (await core.list_namespaced_service(namespace)).items
    )
    assert names == sorted(asks)
