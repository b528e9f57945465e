"""The simulator's EndpointSlice controller writes what the real one wrote (03, 03b, 09).

Objects are put in the store as the API server stores them and the controller
runs as a task; every wait is on a store change, bounded by a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from reconciler.simulator.controllers import EndpointSliceController
from reconciler.simulator.resources import ENDPOINT_SLICES, NODES, PODS, SERVICES
from reconciler.simulator.store import Store
from reconciler.testbed.manifests import (
    NamedPort,
    headless_service_manifest,
    node_manifest,
    pod_manifest,
    running_status,
)

JsonObject = dict[str, Any]
NS = "fid-a"
READY_AT = "2026-11-29T05:07:15Z"
SERVICE_CREATED = "2026-11-29T05:06:57Z"


# -- the world, as stored ----------------------------------------------------------------------


@pytest.fixture
def store() -> Store:
    counter = itertools.count(1)
    created = Store()
    created.uid_factory = lambda: f"uid-{next(counter)}"
    created.create(NODES, node_manifest("fake-node-1", zone="zone-a"))
    return created


def add_service(
    store: Store,
    name: str = "web",
    *,
    labels: dict[str, str] | None = None,
    publish_not_ready: bool = False,
    family: Any = "IPv4",
    cluster_ip: str | None = None,
    selector: dict[str, str] | None = None,
) -> JsonObject:
    service = headless_service_manifest(
        name,
        namespace=NS,
        selector={"app": "web"} if selector is None else selector,
        labels=labels,
        publish_not_ready_addresses=publish_not_ready,
        family=family,
    )
    service["metadata"]["creationTimestamp"] = SERVICE_CREATED
    service["spec"]["ports"][0]["targetPort"] = 8080
    if cluster_ip is not None:
        service["spec"]["clusterIP"] = cluster_ip
    return store.create(SERVICES, service)


def pod_object(
    name: str,
    *ips: str,
    ready: bool = True,
    since: str = READY_AT,
    node: str = "fake-node-1",
    ports: tuple[NamedPort, ...] = (NamedPort("http", 8080), NamedPort("grpc", 9090)),
) -> JsonObject:
    pod = pod_manifest(
        name, namespace=NS, labels={"app": "web"}, node_name=node, subdomain="web", ports=ports
    )
    if ips:
        pod.update(running_status(ips, host_ip="192.0.2.250", ready=ready, transition_time=since))
    return pod


def add_pods(store: Store, count: int, *, first_ip: int = 10) -> list[JsonObject]:
    return [
        store.create(PODS, pod_object(f"web-{i}", f"192.0.2.{first_ip + i}")) for i in range(count)
    ]


def slices_of(store: Store, service: str) -> list[JsonObject]:
    return [
        s
        for s in store.list(ENDPOINT_SLICES, NS)[0]
        if s["metadata"]["labels"].get("kubernetes.io/service-name") == service
    ]


def endpoints_by_pod(slice_obj: JsonObject) -> dict[str, JsonObject]:
    return {e["targetRef"]["name"]: e for e in slice_obj.get("endpoints") or []}


@contextlib.asynccontextmanager
async def running(store: Store) -> AsyncIterator[None]:
    task = asyncio.create_task(EndpointSliceController(store).run())
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


def one_slice(
    store: Store, service: str, predicate: Callable[[JsonObject], bool]
) -> Callable[[], Any]:
    def check() -> JsonObject | None:
        found = slices_of(store, service)
        return found[0] if len(found) == 1 and predicate(found[0]) else None

    return check


def has_pods(*names: str) -> Callable[[JsonObject], bool]:
    return lambda s: sorted(endpoints_by_pod(s)) == sorted(names)


async def barrier(store: Store) -> None:
    """Return once the controller has handled every change made before this call."""
    add_service(store, "zz-barrier", selector={"barrier": "yes"})
    await until(store, lambda: slices_of(store, "zz-barrier"))


# -- transcript shapes -------------------------------------------------------------------------


def masked(slice_obj: JsonObject) -> JsonObject:
    """The slice with what varies between runs replaced, endpoints ordered by pod."""
    shown = copy.deepcopy(slice_obj)
    meta = shown["metadata"]
    for varying in ("name", "uid", "resourceVersion", "creationTimestamp", "generation"):
        meta[varying] = f"<{varying}>"
    for entry in meta["managedFields"]:
        entry["time"] = "<time>"
    if shown["endpoints"]:
        shown["endpoints"].sort(key=lambda e: e["targetRef"]["name"])
    return shown


def expected_web_endpoint(index: int, uid: str, *, hostname: bool = True) -> JsonObject:
    endpoint: JsonObject = {
        "addresses": [f"192.0.2.1{index}"],
        "conditions": {"ready": True, "serving": True, "terminating": False},
    }
    if hostname:
        endpoint["hostname"] = f"web-{index}"
    endpoint["targetRef"] = {"kind": "Pod", "namespace": NS, "name": f"web-{index}", "uid": uid}
    endpoint["nodeName"] = "fake-node-1"
    endpoint["zone"] = "zone-a"
    return endpoint


WEB_PORTS = [
    {"name": "http", "protocol": "TCP", "port": 8080},
    {"name": "grpc", "protocol": "TCP", "port": 9090, "appProtocol": "grpc"},
]


def expected_slice(
    service: JsonObject, endpoints: list[JsonObject] | None, *, trigger_time: str | None
) -> JsonObject:
    """Transcript 03 exchange 3 (and 09 exchange 4 for a placeholder), masked."""
    name, uid = service["metadata"]["name"], service["metadata"]["uid"]
    labels = dict(service["metadata"].get("labels") or {})
    labels.update(
        {
            "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
            "kubernetes.io/service-name": name,
            "service.kubernetes.io/headless": "",
        }
    )
    fields_meta: JsonObject = {}
    if trigger_time:
        fields_meta["f:annotations"] = {
            ".": {},
            "f:endpoints.kubernetes.io/last-change-trigger-time": {},
        }
    fields_meta["f:generateName"] = {}
    fields_meta["f:labels"] = {".": {}, **{f"f:{k}": {} for k in sorted(labels)}}
    fields_meta["f:ownerReferences"] = {".": {}, f'k:{{"uid":"{uid}"}}': {}}
    fields: JsonObject = {"f:addressType": {}}
    if endpoints:
        fields["f:endpoints"] = {}
    fields["f:metadata"] = fields_meta
    if endpoints:
        fields["f:ports"] = {}
    meta: JsonObject = {
        "name": "<name>",
        "generateName": f"{name}-",
        "namespace": NS,
        "uid": "<uid>",
        "resourceVersion": "<resourceVersion>",
        "generation": "<generation>",
        "creationTimestamp": "<creationTimestamp>",
        "labels": dict(sorted(labels.items())),
    }
    if trigger_time:
        meta["annotations"] = {"endpoints.kubernetes.io/last-change-trigger-time": trigger_time}
    meta["ownerReferences"] = [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "name": name,
            "uid": uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    meta["managedFields"] = [
        {
            "manager": "kube-controller-manager",
            "operation": "Update",
            "apiVersion": "discovery.k8s.io/v1",
            "time": "<time>",
            "fieldsType": "FieldsV1",
            "fieldsV1": fields,
        }
    ]
    return {
        "kind": "EndpointSlice",
        "apiVersion": "discovery.k8s.io/v1",
        "metadata": meta,
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": WEB_PORTS if endpoints else None,
    }


# -- slices as the real controller writes them -------------------------------------------------


async def test_ready_pods_of_a_headless_service_fill_one_slice_like_the_real_controller(
    store: Store,
) -> None:
    service = add_service(store, labels={"app": "web"})
    pods = add_pods(store, 3)
    async with running(store):
        found = await until(store, one_slice(store, "web", has_pods("web-0", "web-1", "web-2")))
    endpoints = [expected_web_endpoint(i, pod["metadata"]["uid"]) for i, pod in enumerate(pods)]
    assert masked(found) == expected_slice(service, endpoints, trigger_time=SERVICE_CREATED)


async def test_hostname_only_for_pods_whose_subdomain_is_the_service(store: Store) -> None:
    add_service(store, "web-pnr", publish_not_ready=True)
    add_pods(store, 2)
    async with running(store):
        found = await until(store, one_slice(store, "web-pnr", has_pods("web-0", "web-1")))
    assert all("hostname" not in e for e in found["endpoints"])


async def test_service_with_no_pods_gets_a_placeholder_slice(store: Store) -> None:
    service = add_service(store)
    async with running(store):
        found = await until(store, one_slice(store, "web", lambda s: True))
    assert masked(found) == expected_slice(service, None, trigger_time=SERVICE_CREATED)
    assert found["metadata"]["generation"] == 1


async def test_the_placeholder_is_filled_in_place_when_pods_appear(store: Store) -> None:
    add_service(store)
    async with running(store):
        placeholder = await until(store, one_slice(store, "web", lambda s: True))
        add_pods(store, 2)
        filled = await until(store, one_slice(store, "web", has_pods("web-0", "web-1")))
    assert filled["metadata"]["name"] == placeholder["metadata"]["name"]
    assert filled["metadata"]["generation"] == 2
    assert filled["ports"] == WEB_PORTS


async def test_not_ready_pod_stays_with_ready_and_serving_false(store: Store) -> None:
    add_service(store)
    add_service(store, "web-pnr", publish_not_ready=True)
    add_pods(store, 3)
    async with running(store):
        before = await until(store, one_slice(store, "web", has_pods("web-0", "web-1", "web-2")))
        set_ready(store, "web-1", ready=False)
        web = await until(
            store,
            one_slice(
                store, "web", lambda s: not endpoints_by_pod(s)["web-1"]["conditions"]["ready"]
            ),
        )
        pnr = await until(
            store,
            one_slice(
                store,
                "web-pnr",
                lambda s: not endpoints_by_pod(s)["web-1"]["conditions"]["serving"],
            ),
        )
    assert endpoints_by_pod(web)["web-1"]["conditions"] == {
        "ready": False,
        "serving": False,
        "terminating": False,
    }
    assert endpoints_by_pod(pnr)["web-1"]["conditions"] == {
        "ready": True,
        "serving": False,
        "terminating": False,
    }
    assert web["metadata"]["name"] == before["metadata"]["name"]
    assert web["metadata"]["generation"] == before["metadata"]["generation"] + 1
    # The Ready condition kept its lastTransitionTime, so there is no new trigger time.
    assert "annotations" not in web["metadata"]


def set_ready(store: Store, name: str, *, ready: bool) -> None:
    """Flip Ready and ContainersReady, keeping lastTransitionTime (as transcript 03 did)."""
    pod = store.get(PODS, NS, name)
    assert pod is not None
    for condition in pod["status"]["conditions"]:
        if condition["type"] in ("Ready", "ContainersReady"):
            condition["status"] = "True" if ready else "False"
    store.update(PODS, pod)


async def test_terminating_pod_is_serving_but_not_ready(store: Store) -> None:
    add_service(store)
    add_service(store, "web-pnr", publish_not_ready=True)
    add_pods(store, 3)
    async with running(store):
        await until(store, one_slice(store, "web", has_pods("web-0", "web-1", "web-2")))
        terminating = store.get(PODS, NS, "web-2")
        assert terminating is not None
        terminating["metadata"]["deletionTimestamp"] = "2026-11-29T05:07:46Z"
        terminating["metadata"]["finalizers"] = ["example.com/hold"]
        store.update(PODS, terminating)
        web = await until(
            store,
            one_slice(
                store, "web", lambda s: endpoints_by_pod(s)["web-2"]["conditions"]["terminating"]
            ),
        )
        pnr = await until(
            store,
            one_slice(
                store,
                "web-pnr",
                lambda s: endpoints_by_pod(s)["web-2"]["conditions"]["terminating"],
            ),
        )
    assert endpoints_by_pod(web)["web-2"]["conditions"] == {
        "ready": False,
        "serving": True,
        "terminating": True,
    }
    assert endpoints_by_pod(pnr)["web-2"]["conditions"] == {
        "ready": True,
        "serving": True,
        "terminating": True,
    }


async def test_recreated_pod_is_listed_with_its_new_ip_and_uid(store: Store) -> None:
    add_service(store)
    old = add_pods(store, 3)[2]
    async with running(store):
        before = await until(store, one_slice(store, "web", has_pods("web-0", "web-1", "web-2")))
        store.delete(PODS, NS, "web-2")
        await until(store, one_slice(store, "web", has_pods("web-0", "web-1")))
        new = store.create(PODS, pod_object("web-2", "192.0.2.22", since="2026-11-29T05:07:17Z"))
        after = await until(store, one_slice(store, "web", has_pods("web-0", "web-1", "web-2")))
    endpoint = endpoints_by_pod(after)["web-2"]
    assert endpoint["addresses"] == ["192.0.2.22"]
    assert endpoint["targetRef"]["uid"] == new["metadata"]["uid"] != old["metadata"]["uid"]
    assert [e["targetRef"]["name"] for e in after["endpoints"]][-1] == "web-2"
    assert after["metadata"]["name"] == before["metadata"]["name"]
    assert after["metadata"]["annotations"] == {
        "endpoints.kubernetes.io/last-change-trigger-time": "2026-11-29T05:07:17Z"
    }


async def test_a_placeholder_remains_after_the_last_pod_goes(store: Store) -> None:
    add_service(store)
    add_pods(store, 2)
    async with running(store):
        filled = await until(store, one_slice(store, "web", has_pods("web-0", "web-1")))
        store.delete(PODS, NS, "web-0")
        store.delete(PODS, NS, "web-1")
        emptied = await until(store, one_slice(store, "web", lambda s: s["endpoints"] is None))
    assert emptied["metadata"]["name"] == filled["metadata"]["name"]
    assert emptied["ports"] is None
    assert "annotations" not in emptied["metadata"]
    # As in transcript 03b: once written, endpoints and ports stay owned.
    fields = emptied["metadata"]["managedFields"][0]["fieldsV1"]
    assert "f:endpoints" in fields
    assert "f:ports" in fields


async def test_150_pods_are_split_100_and_50_then_leave_one_placeholder(store: Store) -> None:
    add_service(store)
    async with running(store):
        await until(store, lambda: slices_of(store, "web"))
        for i in range(150):
            store.create(PODS, pod_object(f"web-{i}", f"10.200.0.{i + 1}"))
        split = await until(
            store,
            lambda: (
                (found := slices_of(store, "web"))
                and sorted(len(s["endpoints"] or []) for s in found) == [50, 100]
                and found
            ),
        )
        for i in range(150):
            store.delete(PODS, NS, f"web-{i}")
        remaining = await until(
            store,
            lambda: (
                (found := slices_of(store, "web"))
                and len(found) == 1
                and found[0]["endpoints"] is None
                and found
            ),
        )
    pods_seen = {name for s in split for name in endpoints_by_pod(s)}
    assert pods_seen == {f"web-{i}" for i in range(150)}
    assert remaining[0]["metadata"]["name"] in {s["metadata"]["name"] for s in split}


# -- which pods are endpoints ------------------------------------------------------------------


async def test_pods_without_ip_finished_or_on_a_missing_node_are_left_out(store: Store) -> None:
    add_service(store)
    add_service(store, "web-pnr", publish_not_ready=True)
    store.create(PODS, pod_object("web-0", "192.0.2.10"))
    store.create(PODS, pod_object("web-1"))
    finished = pod_object("web-2", "192.0.2.12")
    finished["status"]["phase"] = "Succeeded"
    store.create(PODS, finished)
    store.create(PODS, pod_object("web-3", "192.0.2.13", node="node-not-there"))
    async with running(store):
        web = await until(store, one_slice(store, "web", has_pods("web-0")))
        pnr = await until(store, one_slice(store, "web-pnr", has_pods("web-0", "web-3")))
        store.create(NODES, node_manifest("node-not-there", zone="zone-b"))
        joined = await until(store, one_slice(store, "web", has_pods("web-0", "web-3")))
    assert "zone" not in endpoints_by_pod(pnr)["web-3"]
    assert endpoints_by_pod(joined)["web-3"]["zone"] == "zone-b"
    assert web["endpoints"][0]["addresses"] == ["192.0.2.10"]


async def test_services_without_selector_get_no_slices(store: Store) -> None:
    add_service(store, "manual", selector={})
    external = headless_service_manifest("external", namespace=NS, selector={"app": "web"})
    external["spec"] = {"type": "ExternalName", "externalName": "example.com"}
    store.create(SERVICES, external)
    add_pods(store, 1)
    async with running(store):
        await barrier(store)
    assert slices_of(store, "manual") == []
    assert slices_of(store, "external") == []


async def test_dual_stack_service_gets_one_slice_per_family(store: Store) -> None:
    add_service(store, family="DualStack")
    store.create(PODS, pod_object("web-0", "10.244.0.5", "fd00:10:244::5"))
    store.create(PODS, pod_object("web-1", "10.244.0.6"))
    async with running(store):
        found = await until(
            store,
            lambda: (
                len(by_family := {s["addressType"]: s for s in slices_of(store, "web")}) == 2
                and all(s["endpoints"] for s in by_family.values())
                and by_family
            ),
        )
    assert [e["addresses"] for e in found["IPv4"]["endpoints"]] == [["10.244.0.5"], ["10.244.0.6"]]
    assert [e["addresses"] for e in found["IPv6"]["endpoints"]] == [["fd00:10:244::5"]]


async def test_named_target_ports_are_resolved_per_pod(store: Store) -> None:
    add_service(store)
    store.create(PODS, pod_object("web-0", "192.0.2.10"))
    store.create(PODS, pod_object("web-1", "192.0.2.11", ports=(NamedPort("http", 8080),)))
    async with running(store):
        found = await until(
            store,
            lambda: (
                (slices := slices_of(store, "web"))
                and sorted(len(s["endpoints"] or []) for s in slices) == [1, 1]
                and slices
            ),
        )
    ports_of = {s["endpoints"][0]["targetRef"]["name"]: s["ports"] for s in found}
    assert ports_of == {"web-0": WEB_PORTS, "web-1": [WEB_PORTS[0]]}


# -- labels, ownership and no-ops --------------------------------------------------------------


async def test_service_labels_are_copied_and_follow_changes(store: Store) -> None:
    service = add_service(store, labels={"app": "web", "tier": "a"})
    add_service(store, "web-grpc", cluster_ip="10.96.0.20")
    async with running(store):
        await until(store, lambda: slices_of(store, "web-grpc"))
        first = await until(store, one_slice(store, "web", lambda s: True))
        service["metadata"]["labels"] = {"app": "web", "tier": "b"}
        store.update(SERVICES, service)
        relabelled = await until(
            store, one_slice(store, "web", lambda s: s["metadata"]["labels"].get("tier") == "b")
        )
    assert relabelled["metadata"]["name"] == first["metadata"]["name"]
    assert relabelled["metadata"]["labels"]["service.kubernetes.io/headless"] == ""
    twin_labels = slices_of(store, "web-grpc")[0]["metadata"]["labels"]
    assert "service.kubernetes.io/headless" not in twin_labels


async def test_a_change_that_does_not_matter_writes_nothing(store: Store) -> None:
    add_service(store)
    add_pods(store, 2)
    async with running(store):
        before = await until(store, one_slice(store, "web", has_pods("web-0", "web-1")))
        pod = store.get(PODS, NS, "web-0")
        assert pod is not None
        pod["metadata"]["annotations"] = {"touched": "yes"}
        store.update(PODS, pod)
        await barrier(store)
    assert slices_of(store, "web") == [before]


async def test_a_slice_deleted_by_someone_else_is_recreated(store: Store) -> None:
    add_service(store)
    add_pods(store, 1)
    async with running(store):
        first = await until(store, one_slice(store, "web", has_pods("web-0")))
        store.delete(ENDPOINT_SLICES, NS, first["metadata"]["name"])
        again = await until(
            store,
            one_slice(store, "web", lambda s: s["metadata"]["name"] != first["metadata"]["name"]),
        )
    assert endpoints_by_pod(again).keys() == {"web-0"}


async def test_resyncing_a_service_with_current_slices_writes_nothing(store: Store) -> None:
    service = add_service(store)
    add_service(store, "other", selector={"app": "nothing"})
    add_pods(store, 1)
    async with running(store):
        placeholder = await until(store, one_slice(store, "other", lambda s: True))
        filled = await until(store, one_slice(store, "web", has_pods("web-0")))
        for touched in (service, store.get(SERVICES, NS, "other")):
            assert touched is not None
            touched["metadata"]["annotations"] = {"touched": "yes"}
            store.update(SERVICES, touched)
        await barrier(store)
    assert slices_of(store, "other") == [placeholder]
    assert slices_of(store, "web") == [filled]
