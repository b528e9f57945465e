"""Per transcript: the state the recorder had built before it, and how to replay it.

The recording ran the transcripts in one cluster, interleaved in time
(``06`` set up its ConfigMaps first, ``12`` read what ``05a`` and ``07`` left,
``07``'s last exchanges came after ``13``'s status write, ...), with setup
requests it did not record (pods other than the first, the namespaces, the
Node, owners for the garbage collection cases). Each script rebuilds exactly
that, through the API, from manifests read off the recorded objects (their
``managedFields`` show which fields the recorder sent).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from reconciler.simulator.resources import SERVICES

from .replay import Replayer
from .runner import Overlap, Script
from .steps import Call, Do, Replay, Step, Until
from .transcripts import transcript

ZONE_LABEL = "topology.kubernetes.io/zone"
NODE = "fake-node-1"
NAMESPACES = ("fid-a", "fid-b", "fid-c", "fid-d", "fid-g", "fid-gone")
SLICES = "/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices"
SERVICE_ENTRIES = "/apis/networking.istio.io/v1/namespaces/{namespace}/serviceentries"
MERGE_PATCH = "application/merge-patch+json"
SLICE_READS = "labelSelector=kubernetes.io%2Fservice-name%3D{service}"


# -- manifests ------------------------------------------------------------------------------------


def _namespace(name: str) -> Call:
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    return Call("POST", "/api/v1/namespaces", body)


def _node() -> Call:
    body = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": NODE, "labels": {ZONE_LABEL: "zone-a"}},
    }
    return Call("POST", "/api/v1/nodes", body)


WORLD: tuple[Step, ...] = (*(_namespace(name) for name in NAMESPACES), _node())
"""The namespaces and the Node every transcript assumes."""


def _web_pod(name: str) -> Call:
    """A StatefulSet-style pod of ``web`` as ``03`` created ``web-0``."""
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "fid-a", "labels": {"app": "web"}},
        "spec": {
            "hostname": name,
            "subdomain": "web",
            "nodeName": NODE,
            "containers": [
                {
                    "name": "app",
                    "image": "registry.invalid/app:1",
                    "ports": [
                        {"name": "http", "containerPort": 8080},
                        {"name": "grpc", "containerPort": 9090},
                    ],
                }
            ],
        },
    }
    return Call("POST", "/api/v1/namespaces/fid-a/pods", body)


def _web_status(name: str, address: str, *, ready: bool = True, at: str = "05:07:15") -> Call:
    """The status ``03`` wrote through ``pods/status`` (Ready and ContainersReady as told)."""
    stamp = f"2026-11-29T{at}Z"
    flag = "True" if ready else "False"
    conditions = [
        {"type": "Initialized", "status": "True", "lastTransitionTime": stamp},
        {"type": "Ready", "status": flag, "lastTransitionTime": stamp},
        {"type": "ContainersReady", "status": flag, "lastTransitionTime": stamp},
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": stamp},
    ]
    body = {
        "status": {
            "phase": "Running",
            "hostIP": "192.0.2.250",
            "podIP": address,
            "podIPs": [{"ip": address}],
            "conditions": conditions,
        }
    }
    return Call("PATCH", f"/api/v1/namespaces/fid-a/pods/{name}/status", body, MERGE_PATCH)


def _plain_pod(namespace: str, name: str, labels: dict[str, str]) -> Call:
    """The bare pods of ``03b`` and ``04``: one container, no token, bound to the Node."""
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "automountServiceAccountToken": False,
            "nodeName": NODE,
            "containers": [{"name": "c", "image": "registry.invalid/c:1"}],
        },
    }
    return Call("POST", f"/api/v1/namespaces/{namespace}/pods", body)


def _plain_status(
    namespace: str, name: str, address: str, *, at: str, containers_ready: bool
) -> Call:
    stamp = f"2026-11-29T{at}Z"
    conditions = [{"type": "Ready", "status": "True", "lastTransitionTime": stamp}]
    if containers_ready:
        conditions.append(
            {"type": "ContainersReady", "status": "True", "lastTransitionTime": stamp}
        )
    body = {
        "status": {
            "phase": "Running",
            "conditions": conditions,
            "podIP": address,
            "podIPs": [{"ip": address}],
        }
    }
    path = f"/api/v1/namespaces/{namespace}/pods/{name}/status"
    return Call("PATCH", path, body, MERGE_PATCH)


def _headless(namespace: str, name: str, selector: dict[str, str], *, target: int = 80) -> Call:
    body = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "clusterIP": "None",
            "selector": selector,
            "ports": [{"name": "http", "port": 80, "targetPort": target}],
        },
    }
    return Call("POST", f"/api/v1/namespaces/{namespace}/services", body)


def _owned_service(name: str, owner: str) -> Call:
    """A ClusterIP twin owned by ``owner`` (``09``'s dependents), its uid read when sent."""

    def body(replayer: Replayer) -> Any:
        stored = replayer.sim.store.get(SERVICES, "fid-a", owner)
        assert stored is not None, f"owner {owner} is missing"
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": name,
                "namespace": "fid-a",
                "labels": {"headless-reconciler.io/paired-with": owner},
                "ownerReferences": [
                    {
                        "apiVersion": "v1",
                        "kind": "Service",
                        "name": owner,
                        "uid": stored["metadata"]["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": {
                "type": "ClusterIP",
                "selector": {"app": "web"},
                "ports": [
                    {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
                    {
                        "name": "grpc",
                        "port": 9090,
                        "targetPort": "grpc",
                        "protocol": "TCP",
                        "appProtocol": "grpc",
                    },
                ],
            },
        }

    return Call("POST", "/api/v1/namespaces/fid-a/services", body)


def _slices_show(service: str, description: str, check: Any) -> Until:
    return Until(
        description,
        SLICES.format(namespace="fid-a"),
        lambda body: _all_endpoints(body, check),
        query=SLICE_READS.format(service=service),
    )


def _all_endpoints(body: Any, check: Any) -> bool:
    items = body.get("items") or []
    return bool(items) and all(check(item.get("endpoints") or []) for item in items)


def _conditions(endpoints: Iterable[Any]) -> dict[str, dict[str, bool]]:
    return {e["targetRef"]["name"]: e["conditions"] for e in endpoints if e.get("targetRef")}


def _pod_is(name: str, **conditions: bool) -> Any:
    def check(endpoints: list[Any]) -> bool:
        found = _conditions(endpoints).get(name)
        return found is not None and all(found.get(k) == v for k, v in conditions.items())

    return check


def _endpoint_count(count: int) -> Any:
    return lambda endpoints: len(endpoints) == count


# -- shared worlds --------------------------------------------------------------------------------

MORE_WEB_PODS: tuple[Step, ...] = (
    _web_pod("web-1"),
    _web_status("web-1", "192.0.2.11"),
    _web_pod("web-2"),
    _web_status("web-2", "192.0.2.12"),
)
"""``web-1`` and ``web-2``, which ``03`` created like ``web-0`` without recording it."""

FID_A: tuple[Step, ...] = (
    *WORLD,
    Replay("02", 0),
    Replay("03", 0),
    _web_pod("web-0"),
    _web_status("web-0", "192.0.2.10"),
    _web_pod("web-1"),
    _web_status("web-1", "192.0.2.11"),
    _web_pod("web-2"),
    _web_status("web-2", "192.0.2.22", at="05:07:17"),
)
"""``fid-a`` after ``03``/``05a``: both headless Services, three ready pods, web-2 moved."""

WEB_STATIC: tuple[Step, ...] = (Replay("07", 0), Replay("07", 1), Replay("07", 4))
"""``fid-b``'s ServiceEntry ``web-static`` as ``07`` left it (generation 3)."""

WEB_APPLY: tuple[Step, ...] = (
    Replay("07", 14),
    Replay("07", 16),
    Replay("07", 19),
    Replay("07", 23),
)
"""``web-apply``, shared by the appliers ``a``, ``b`` and ``c`` as ``07`` left it."""


def _fid_d() -> tuple[Step, ...]:
    steps: list[Step] = []
    for i in range(5):
        steps.append(_headless("fid-d", f"svc-{i}", {"app": f"app-{i}"}))
        steps.append(_plain_pod("fid-d", f"p-{i}", {"app": f"app-{i}", "tier": "x"}))
        steps.append(
            _plain_status(
                "fid-d", f"p-{i}", f"192.0.2.{100 + i}", at="05:08:12", containers_ready=False
            )
        )
        body = {
            "apiVersion": "networking.istio.io/v1",
            "kind": "ServiceEntry",
            "metadata": {"name": f"se-{i}", "namespace": "fid-d"},
            "spec": {
                "hosts": [f"se-{i}.example.com"],
                "location": "MESH_EXTERNAL",
                "resolution": "DNS",
                "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}],
            },
        }
        steps.append(Call("POST", SERVICE_ENTRIES.format(namespace="fid-d"), body))
    steps.append(
        Until(
            "every fid-d Service has its slice with its pod",
            SLICES.format(namespace="fid-d"),
            lambda body: (
                len(body["items"]) == 5
                and all(len(item.get("endpoints") or []) == 1 for item in body["items"])
            ),
        )
    )
    return tuple(steps)


def _bulk_pods() -> tuple[Step, ...]:
    steps: list[Step] = []
    for i in range(150):
        steps.append(_plain_pod("fid-c", f"bulk-{i}", {"app": "bulk"}))
        steps.append(
            _plain_status(
                "fid-c", f"bulk-{i}", f"10.200.0.{i + 1}", at="05:07:42", containers_ready=True
            )
        )
    return tuple(steps)


async def _churn(replayer: Replayer) -> None:
    """``06``: 300 updates of ``cm-1`` (data ``n`` counting up) pushed ``422`` out of the cache."""
    for n in range(300):
        path = "/api/v1/namespaces/fid-gone/configmaps/cm-1"
        await Call("PATCH", path, {"data": {"n": str(n)}}, MERGE_PATCH).run(replayer)


async def _compact(replayer: Replayer) -> None:
    replayer.sim.store.compact()


def _root_ca(namespace: str) -> Call:
    """``kube-root-ca.crt``, which kube-controller-manager puts in every namespace."""

    def body(_: Replayer) -> Any:
        recorded = transcript("06").exchanges[7].response.body["items"][-1]
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": recorded["metadata"]["name"],
                "annotations": recorded["metadata"]["annotations"],
            },
            "data": recorded["data"],
        }

    path = f"/api/v1/namespaces/{namespace}/configmaps"
    return Call("POST", path, body, query="fieldManager=kube-controller-manager")


def _lease(name: str) -> Call:
    body = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "namespace": "fid-g"},
        "spec": {"holderIdentity": "x"},
    }
    return Call("POST", "/apis/coordination.k8s.io/v1/namespaces/fid-g/leases", body)


# -- the scripts ----------------------------------------------------------------------------------

SLICE_LISTS_03 = frozenset({3, 4, 7, 8, 11, 12, 14, 15, 17, 18})

SCRIPTS: dict[str, Script] = {
    "02": Script(prelude=WORLD),
    "03": Script(
        prelude=(*WORLD, Replay("02", 0)),
        before={
            3: MORE_WEB_PODS,
            16: (_web_pod("web-2"),),
        },
        eventual=SLICE_LISTS_03,
    ),
    "03b": Script(prelude=WORLD, before={1: _bulk_pods()}, eventual=frozenset({1, 3})),
    "04": Script(prelude=(*WORLD, *_fid_d())),
    "05a": Script(
        prelude=(*FID_A, Replay("03", 6)),
        before={
            2: (
                _slices_show("web", "web-1 is ready again", _pod_is("web-1", ready=True)),
                _slices_show("web-pnr", "web-1 serves again", _pod_is("web-1", serving=True)),
            ),
            3: (
                _slices_show("web", "web-0 is not ready", _pod_is("web-0", ready=False)),
                _slices_show("web-pnr", "web-0 does not serve", _pod_is("web-0", serving=False)),
            ),
            4: (_slices_show("watch-tmp", "watch-tmp has its slice", _endpoint_count(3)),),
            5: (
                Until(
                    "watch-tmp's slice is gone",
                    SLICES.format(namespace="fid-a"),
                    lambda body: not body["items"],
                    query=SLICE_READS.format(service="watch-tmp"),
                ),
            ),
            8: (
                _slices_show("web", "web-0 is ready again", _pod_is("web-0", ready=True)),
                _slices_show("web-pnr", "web-0 serves again", _pod_is("web-0", serving=True)),
            ),
        },
        timeouts=dict.fromkeys((6, 7, 8, 9), 2),
        overlaps=(Overlap(watches=(6, 7), start_before=1, end_before=2),),
    ),
    "05b": Script(prelude=WORLD, timeouts={5: 2, 6: 2}),
    "06": Script(
        prelude=(*WORLD, _root_ca("fid-gone")),
        before={
            9: (Do("300 updates of cm-1", _churn),),
            10: (Do("etcd compaction", _compact),),
            21: (_lease("l1"),),
        },
        timeouts=dict.fromkeys((9, 19, 20, 21, 22, 23, 26), 2),
        watch_cache_size=100,
    ),
    "07": Script(prelude=WORLD, before={24: (Replay("13", 11),)}),
    "08": Script(prelude=(*WORLD, *WEB_STATIC, *WEB_APPLY)),
    "09": Script(
        prelude=FID_A,
        before={
            21: (
                _headless("fid-a", "fg-owner", {"app": "web"}, target=8080),
                _owned_service("fg-dep", "fg-owner"),
            ),
            23: (
                _headless("fid-a", "or-owner", {"app": "web"}, target=8080),
                _owned_service("or-dep", "or-owner"),
            ),
        },
        eventual=frozenset({1, 4, 5, 19, 20, 24}),
    ),
    "10": Script(prelude=WORLD),
    "11": Script(prelude=(*WORLD, *WEB_STATIC)),
    "12": Script(
        prelude=(*FID_A, *WEB_STATIC, *WEB_APPLY),
        eventual=frozenset({7, 8, 9, 10, 26}),
        timeouts=dict.fromkeys(range(15), 2),
    ),
    "13": Script(
        prelude=(
            *WORLD,
            *WEB_STATIC,
            *WEB_APPLY,
            *(Replay("08", index) for index in (0, 5, 23, 25)),
            *(Replay("06", index) for index in range(5)),
        ),
        auth={0: "anonymous", 1: "bad-token"},
        eventual=frozenset({18}),
    ),
}


def script_for(name: str) -> Script:
    """The script of a transcript; one that needs nothing but the namespaces by default."""
    return SCRIPTS.get(name.split("-", 1)[0], Script(prelude=WORLD))
