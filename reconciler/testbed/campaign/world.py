"""The campaign's world: what exists, what the truth is, and what the controller must make of it.

One small cluster holds every kind of object the controller may meet: a
service-level and a pod-level ServiceEntry, a WorkloadEntry with health
checks, a namespace managed by label, two paired Services, and objects it must
never write (an unannotated entry, a DNS entry, an auto-registered
WorkloadEntry, a cross-namespace reference, a Service squatting on a twin's
name). Every managed endpoint starts stale and carries user fields (weight,
locality, a label, ports) that must survive whatever happens.

The world keeps its own truth (which pods exist, at which address, ready or
not; which user fields each endpoint must carry) and a timeline of how many
endpoints each entry should have, so the oracle and the invariants never ask
the controller's own planner what is right.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from kubernetes_asyncio.client import ApiClient, CoreV1Api, CustomObjectsApi
from kubernetes_asyncio.client.exceptions import ApiException

from reconciler.planning.ordering import natural_key
from reconciler.planning.pairing import MANAGED_BY_LABEL, MANAGED_BY_VALUE
from reconciler.planning.references import (
    AUTO_REGISTRATION_ANNOTATION,
    GRPC_SERVICE_ANNOTATION,
    HEALTH_CHECKS_ANNOTATION,
    MANAGED_NAMESPACE_LABEL,
    MANAGED_NAMESPACE_VALUE,
    POD_ANNOTATION,
    POD_NAME_LABEL,
    SERVICE_ANNOTATION,
    SOURCE_ANNOTATION,
)
from reconciler.simulator.resources import (
    SERVICE_ENTRIES,
    SERVICES,
    WORKLOAD_ENTRIES,
    ResourceKind,
)
from reconciler.simulator.store import Store
from reconciler.testbed.addresses import PodIpAllocator
from reconciler.testbed.campaign.schedules import (
    EditWeight,
    LabelEntry,
    RestartPod,
    Scale,
    SetReady,
    WorldStep,
)
from reconciler.testbed.statefulsets import PodState, StatefulPodSet, ensure_namespace
from reconciler.testbed.waiting import wait_for_ready_addresses

APP: Final = "camp-a"
"""Opted in object by object, by annotation."""
LABELLED: Final = "camp-b"
"""Opted in as a whole, by namespace label."""
OUTSIDER: Final = "camp-c"
"""Holds a cross-namespace reference into ``APP``: always refused."""
LEASE_NAMESPACE: Final = "camp-system"
ISTIO: Final = ("networking.istio.io", "v1")
MERGE_PATCH: Final = "application/merge-patch+json"
STALE_PREFIX: Final = "10.250.0."
"""Seeded entries point here: addresses no pod ever gets."""
INITIAL_REPLICAS: Final = {"web": 4, "db": 3}
SET_NAMESPACE: Final = {"web": APP, "db": LABELLED}
EDIT_ATTEMPTS: Final = 8

Key = tuple[str, str, str]
"""(resource plural, namespace, name)."""


@dataclass(frozen=True, slots=True)
class ManagedEntry:
    """A ServiceEntry the controller manages, and which pods it should list."""

    namespace: str
    name: str
    set: str
    only_pod: int | None = None
    """Pod-level entries list this pod alone."""

    @property
    def key(self) -> Key:
        return ("serviceentries", self.namespace, self.name)


ENTRIES: Final = (
    ManagedEntry(APP, "web-all", "web"),
    ManagedEntry(APP, "web-0-pod", "web", only_pod=0),
    ManagedEntry(LABELLED, "db-hosts", "db"),
)
HEALTH_CHECKED: Final = (APP, "web-1-we", "web", 1)
"""The WorkloadEntry: namespace, name, set, pod index."""
TWINS: Final = {"web": (APP, "web-grpc"), "db": (LABELLED, "db-grpc")}
FOREIGN: Final = (
    ("serviceentries", APP, "legacy"),
    ("serviceentries", APP, "web-dns"),
    ("workloadentries", APP, "auto-web-2"),
    ("services", APP, "api-grpc"),
    ("serviceentries", LABELLED, "other"),
    ("serviceentries", OUTSIDER, "borrowed"),
)
"""Objects the controller must never write: their resourceVersion must never move."""

_KINDS: Final[Mapping[str, ResourceKind]] = {
    "serviceentries": SERVICE_ENTRIES,
    "workloadentries": WORKLOAD_ENTRIES,
    "services": SERVICES,
}


def entry_of(set_name: str) -> ManagedEntry:
    """The set's service-level entry (the one colleagues edit)."""
    return next(e for e in ENTRIES if e.set == set_name and e.only_pod is None)


def seeded_fields(index: int) -> dict[str, Any]:
    """The user fields a seeded endpoint carries; the controller must keep every one."""
    return {
        "weight": 10 + index,
        "locality": f"eu-west1/zone-{index}",
        "labels.tier": "gold",
        "ports": {"http": 8080},
    }


@dataclass(slots=True)
class Truth:
    """The world as it really is, and as it has been."""

    user_fields: dict[Key, dict[str, dict[str, Any]]] = field(default_factory=dict)
    """Per entry, per pod: the user fields its endpoint must carry."""
    timeline: list[tuple[float, dict[Key, int]]] = field(default_factory=list)
    """(monotonic time, wanted endpoint count per entry) from that moment on."""
    changes: dict[str, int] = field(default_factory=dict)
    """Real changes per set (world steps that did something), for the writes bound."""
    edits: dict[Key, int] = field(default_factory=dict)
    """Colleague edits that landed, per entry."""


class CampaignWorld:
    """Seeds the world through the API, changes it step by step, and knows what is right."""

    def __init__(self, api: ApiClient) -> None:
        self._api = api
        self._core = CoreV1Api(api)
        self._custom = CustomObjectsApi(api)
        self.sets: dict[str, StatefulPodSet] = {}
        self._addresses = PodIpAllocator()
        """One pod CIDR for every set, as on a cluster: no two pods share an address."""
        self.truth = Truth()
        self.foreign_versions: dict[Key, str] = {}
        self.uids: dict[str, str] = {}
        """Headless Service uid per set: the owner a twin must name."""

    # -- seeding -------------------------------------------------------------------------------

    async def seed(self) -> None:
        for namespace in (APP, OUTSIDER, LEASE_NAMESPACE):
            await ensure_namespace(self._api, namespace)
        await ensure_namespace(self._api, LABELLED)
        await self._core.patch_namespace(
            LABELLED, {"metadata": {"labels": {MANAGED_NAMESPACE_LABEL: MANAGED_NAMESPACE_VALUE}}}
        )
        for name, replicas in INITIAL_REPLICAS.items():
            pods = StatefulPodSet(
                self._api, name=name, namespace=SET_NAMESPACE[name], allocator=self._addresses
            )
            await pods.create(replicas)
            self.sets[name] = pods
            await wait_for_ready_addresses(
                self._api,
                namespace=pods.namespace,
                service=pods.service_name,
                expected=pods.ready_addresses(),
            )
            service = await self._core.read_namespaced_service(name, pods.namespace)
            self.uids[name] = service.metadata.uid
        await self._core.patch_namespaced_service(
            "web", APP, {"metadata": {"annotations": {GRPC_SERVICE_ANNOTATION: "true"}}}
        )
        await self._seed_entries()
        await self._seed_foreign()
        self.record_truth()

    async def _seed_entries(self) -> None:
        for entry in ENTRIES:
            pods = self.sets[entry.set].pods
            if entry.only_pod is not None:
                pods = [pods[entry.only_pod]]
            annotations = {}
            if entry.namespace == APP:
                annotations[SERVICE_ANNOTATION] = entry.set
            if entry.only_pod is not None:
                annotations[POD_ANNOTATION] = pods[0].name
            fields = {pod.name: seeded_fields(pod.index) for pod in pods}
            self.truth.user_fields[entry.key] = fields
            endpoints = [_seeded_endpoint(pod, fields[pod.name]) for pod in pods]
            await self._create_entry(entry.namespace, entry.name, entry.set, annotations, endpoints)
        namespace, name, set_name, index = HEALTH_CHECKED
        await self._create_workload_entry(
            namespace,
            name,
            annotations={
                POD_ANNOTATION: f"{set_name}-{index}",
                HEALTH_CHECKS_ANNOTATION: "true",
            },
        )

    async def _seed_foreign(self) -> None:
        stale = [{"address": f"{STALE_PREFIX}99"}]
        await self._create_entry(APP, "legacy", "web", {}, stale)
        await self._create_entry(
            APP, "web-dns", "web", {SERVICE_ANNOTATION: "web"}, [], resolution="DNS"
        )
        await self._create_workload_entry(
            APP,
            "auto-web-2",
            annotations={POD_ANNOTATION: "web-2", AUTO_REGISTRATION_ANNOTATION: "web-group"},
        )
        await self._create_entry(
            OUTSIDER, "borrowed", "web", {SERVICE_ANNOTATION: f"{APP}/web"}, stale
        )
        await self._create_entry(LABELLED, "other", "other", {}, stale)
        api = StatefulPodSet(self._api, name="api", namespace=APP, allocator=self._addresses)
        await api.create(2)
        await self._core.patch_namespaced_service(
            "api", APP, {"metadata": {"annotations": {GRPC_SERVICE_ANNOTATION: "true"}}}
        )
        await _untyped(
            self._core.create_namespaced_service,
            APP,
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "api-grpc"},
                "spec": {"selector": {"app": "api"}, "ports": [{"name": "grpc", "port": 9090}]},
            },
        )

    async def _create_entry(
        self,
        namespace: str,
        name: str,
        service: str,
        annotations: dict[str, str],
        endpoints: list[dict[str, Any]],
        *,
        resolution: str = "STATIC",
    ) -> None:
        spec: dict[str, Any] = {
            "hosts": [f"{service}.{namespace}.svc.cluster.local"],
            "location": "MESH_INTERNAL",
            "resolution": resolution,
            "ports": [
                {"number": 8080, "name": "http", "protocol": "HTTP"},
                {"number": 9090, "name": "grpc", "protocol": "GRPC"},
            ],
        }
        if resolution == "DNS":
            spec["hosts"] = [f"{name}.example.com"]
        if endpoints:
            spec["endpoints"] = endpoints
        await self._custom.create_namespaced_custom_object(
            *ISTIO,
            namespace,
            "serviceentries",
            {
                "apiVersion": "/".join(ISTIO),
                "kind": "ServiceEntry",
                "metadata": {"name": name, "annotations": annotations},
                "spec": spec,
            },
        )

    async def _create_workload_entry(
        self, namespace: str, name: str, *, annotations: dict[str, str]
    ) -> None:
        await self._custom.create_namespaced_custom_object(
            *ISTIO,
            namespace,
            "workloadentries",
            {
                "apiVersion": "/".join(ISTIO),
                "kind": "WorkloadEntry",
                "metadata": {"name": name, "annotations": annotations},
                "spec": {"address": f"{STALE_PREFIX}98", "labels": {"app": "web"}},
            },
        )

    def remember_foreign(self, store: Store) -> None:
        """Note every foreign object's resourceVersion: it must still be the same at the end."""
        for key in FOREIGN:
            stored = store.get(_KINDS[key[0]], key[1], key[2])
            assert stored is not None, f"seeding lost {key}"
            self.foreign_versions[key] = stored["metadata"]["resourceVersion"]

    # -- what the controller may write ---------------------------------------------------------

    @staticmethod
    def managed() -> frozenset[Key]:
        """Everything the controller may write, apart from Events and its Lease."""
        namespace, name, _, _ = HEALTH_CHECKED
        return frozenset(
            {entry.key for entry in ENTRIES}
            | {("workloadentries", namespace, name)}
            | {("services", ns, twin) for ns, twin in TWINS.values()}
        )

    # -- changing it ---------------------------------------------------------------------------

    async def apply(self, step: WorldStep) -> bool:
        """Carry out one step; False when it had nothing to act on."""
        pods = self.sets[step.set]
        current = pods.pods
        if isinstance(step, Scale):
            if step.replicas == len(current):
                return False
            removed = {pod.name for pod in current[step.replicas :]}
            self.record_truth(absent=removed)
            await pods.scale(step.replicas)
            return self._changed(step.set)
        if isinstance(step, LabelEntry):
            entry = entry_of(step.set)
            await _untyped(
                self._custom.patch_namespaced_custom_object,
                *ISTIO,
                entry.namespace,
                "serviceentries",
                entry.name,
                {"metadata": {"labels": {"team": step.value}}},
                _content_type=MERGE_PATCH,
            )
            return True
        pod = current[step.index % len(current)]
        if isinstance(step, RestartPod):
            self.record_truth(absent={pod.name})
            await pods.restart(pod.index)
            return self._changed(step.set)
        if isinstance(step, SetReady):
            if pod.ready == step.ready:
                return False
            self.record_truth(absent=set() if step.ready else {pod.name})
            await pods.set_ready(pod.index, step.ready)
            return self._changed(step.set)
        return await self._edit_weight(step, pod.name)

    def _changed(self, set_name: str) -> bool:
        self.truth.changes[set_name] = self.truth.changes.get(set_name, 0) + 1
        self.record_truth()
        return True

    async def _edit_weight(self, step: EditWeight, pod: str) -> bool:
        """Read, change one endpoint's weight, write with the resourceVersion; retry on 409."""
        entry = entry_of(step.set)
        for _ in range(EDIT_ATTEMPTS):
            current = await self._custom.get_namespaced_custom_object(
                *ISTIO, entry.namespace, "serviceentries", entry.name
            )
            endpoints = current["spec"].get("endpoints") or []
            mine = [e for e in endpoints if (e.get("labels") or {}).get(POD_NAME_LABEL) == pod]
            if not mine:
                return False
            for endpoint in mine:
                endpoint["weight"] = step.weight
            body = {
                "metadata": {"resourceVersion": current["metadata"]["resourceVersion"]},
                "spec": {"endpoints": endpoints},
            }
            try:
                await _untyped(
                    self._custom.patch_namespaced_custom_object,
                    *ISTIO,
                    entry.namespace,
                    "serviceentries",
                    entry.name,
                    body,
                    _content_type=MERGE_PATCH,
                )
            except ApiException as error:
                if error.status == 409:
                    continue
                raise
            self.truth.user_fields[entry.key].setdefault(pod, {})["weight"] = step.weight
            self.truth.edits[entry.key] = self.truth.edits.get(entry.key, 0) + 1
            return True
        return False

    # -- the truth -----------------------------------------------------------------------------

    def wanted_pods(self, entry: ManagedEntry) -> list[PodState]:
        """The pods the entry should list now, in natural order."""
        pods = [pod for pod in self.sets[entry.set].pods if pod.ready and not pod.terminating]
        if entry.only_pod is not None:
            pods = [pod for pod in pods if pod.index == entry.only_pod]
        return sorted(pods, key=lambda pod: natural_key(pod.name))

    def record_truth(self, *, absent: set[str] | frozenset[str] = frozenset()) -> None:
        """From now on, each entry wants this many endpoints (``absent`` pods not counted)."""
        counts = {
            entry.key: sum(1 for pod in self.wanted_pods(entry) if pod.name not in absent)
            for entry in ENTRIES
        }
        self.truth.timeline.append((time.monotonic(), counts))

    # -- the oracle ----------------------------------------------------------------------------

    def differences(self, store: Store) -> list[str]:
        """Every way the stored state differs from the desired state; empty when converged."""
        return [
            *self._entry_differences(store),
            *self._workload_entry_differences(store),
            *self._twin_differences(store),
            *self._foreign_differences(store),
        ]

    def _entry_differences(self, store: Store) -> Iterator[str]:
        for entry in ENTRIES:
            stored = store.get(SERVICE_ENTRIES, entry.namespace, entry.name)
            if stored is None:
                yield f"{entry.name}: gone"
                continue
            actual = stored["spec"].get("endpoints") or []
            wanted = self.wanted_pods(entry)
            shown = [(e.get("labels") or {}).get(POD_NAME_LABEL) for e in actual]
            if shown != [pod.name for pod in wanted]:
                yield f"{entry.name}: lists {shown}, wants {[pod.name for pod in wanted]}"
                continue
            fields = self.truth.user_fields[entry.key]
            for endpoint, pod in zip(actual, wanted, strict=True):
                if endpoint.get("address") != pod.addresses[0]:
                    yield f"{entry.name}/{pod.name}: address {endpoint.get('address')}"
                for name, value in fields.get(pod.name, {}).items():
                    if field_value(endpoint, name) != value:
                        yield f"{entry.name}/{pod.name}: {name} {field_value(endpoint, name)!r}"

    def _workload_entry_differences(self, store: Store) -> Iterator[str]:
        namespace, name, set_name, index = HEALTH_CHECKED
        stored = store.get(WORKLOAD_ENTRIES, namespace, name)
        if stored is None:
            yield f"{name}: gone"
            return
        pod = next((p for p in self.sets[set_name].pods if p.index == index), None)
        healthy = pod is not None and pod.ready and not pod.terminating
        conditions = (stored.get("status") or {}).get("conditions") or []
        status = next((c.get("status") for c in conditions if c.get("type") == "Healthy"), None)
        if status != ("True" if healthy else "False"):
            yield f"{name}: Healthy={status}, wants {healthy}"
        if healthy and pod is not None and stored["spec"].get("address") != pod.addresses[0]:
            yield f"{name}: address {stored['spec'].get('address')}, wants {pod.addresses[0]}"

    def _twin_differences(self, store: Store) -> Iterator[str]:
        for set_name, (namespace, name) in TWINS.items():
            twin = store.get(SERVICES, namespace, name)
            source = store.get(SERVICES, namespace, set_name)
            if twin is None or source is None:
                yield f"{name}: missing"
                continue
            meta = twin["metadata"]
            owners = meta.get("ownerReferences") or []
            marked = (
                (meta.get("labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE
                and (meta.get("annotations") or {}).get(SOURCE_ANNOTATION) == set_name
                and [(o.get("uid"), o.get("controller")) for o in owners]
                == [(self.uids[set_name], True)]
            )
            if not marked:
                yield f"{name}: marks {meta.get('labels')} {meta.get('annotations')} {owners}"
            if twin["spec"].get("selector") != source["spec"].get("selector"):
                yield f"{name}: selector {twin['spec'].get('selector')}"
            if _port_shapes(twin) != _port_shapes(source):
                yield f"{name}: ports {_port_shapes(twin)}"
            if twin["spec"].get("type") != "ClusterIP":
                yield f"{name}: type {twin['spec'].get('type')}"

    def _foreign_differences(self, store: Store) -> Iterator[str]:
        for key, version in self.foreign_versions.items():
            stored = store.get(_KINDS[key[0]], key[1], key[2])
            if stored is None or stored["metadata"]["resourceVersion"] != version:
                yield f"foreign {key} changed"


async def _untyped(call: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
    """The client's stubs want model bodies and know no ``_content_type``; it takes both."""
    return await call(*args, **kwargs)


def field_value(endpoint: Mapping[str, Any], name: str) -> Any:
    """A user field of an endpoint, ``labels.x`` naming one label."""
    if name.startswith("labels."):
        return (endpoint.get("labels") or {}).get(name.removeprefix("labels."))
    return endpoint.get(name)


def _port_shapes(service: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (p.get("name"), p.get("port"), p.get("targetPort"), p.get("protocol"), p.get("appProtocol"))
        for p in service["spec"].get("ports") or []
    ]


def _seeded_endpoint(pod: PodState, fields: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "address": f"{STALE_PREFIX}{10 + pod.index}",
        "labels": {POD_NAME_LABEL: pod.name, "tier": fields["labels.tier"]},
        "weight": fields["weight"],
        "locality": fields["locality"],
        "ports": fields["ports"],
    }
