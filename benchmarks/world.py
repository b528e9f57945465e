"""A cluster at Kubernetes' published thresholds, seeded straight into the simulator's store.

Creating 100,000 pods through the API would benchmark the simulator's
EndpointSlice controller, not the reconciler, so the world is written into the
store directly, in the shape the real controllers store it
(:mod:`benchmarks.shapes`): headless Services, their EndpointSlices (packed
100 endpoints per slice, as kube-controller-manager packs them), one opted-in
STATIC ServiceEntry per Service holding its pods' IPs, WorkloadEntries
following single pods, and Services asking for a paired ClusterIP twin.

The world starts converged, because a benchmark of cold start or steady state
must not measure thousands of first writes behind a 20-QPS token bucket: after
seeding, the controller's own planner (through ``diff``'s :func:`diff_view`)
plans every object, and whatever it would write (the paired twins, and any
detail the hand-made entries got wrong) is sent through the API once, as
``run`` would send it. The number of such writes is recorded.

No EndpointSlice controller runs: pods exist only as endpoints, and a pod
restart is played as the slice updates kube-controller-manager would write
(:meth:`World.remove_pod`, :meth:`World.add_pod`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import msgspec

from benchmarks import shapes
from benchmarks.shapes import Identities, JsonObject, Pod
from reconciler.api.resources import BY_KIND
from reconciler.models.refs import Kind
from reconciler.planning.references import (
    GRPC_SERVICE_ANNOTATION,
    POD_ANNOTATION,
    SERVICE_ANNOTATION,
)
from reconciler.planning.settings import PlanningSettings
from reconciler.reporting.diff import diff_view, requests_of
from reconciler.reporting.scope import Scope
from reconciler.runtime.cache import ClusterCache
from reconciler.simulator import resources, serialization
from reconciler.simulator.simulator import Simulator
from reconciler.simulator.store import Store
from reconciler.watching import Relisted

MAX_ENDPOINTS_PER_SLICE = 100
BIG_SERVICE_PODS = 210
"""A few Services span three slices (100 + 100 + 10), as large StatefulSets do."""
ROLLING_NAMESPACE = "bench-rolling"
ROLLING_SERVICE = "rolling"

_SIM_KINDS = {
    Kind.NAMESPACE: resources.NAMESPACES,
    Kind.SERVICE: resources.SERVICES,
    Kind.ENDPOINT_SLICE: resources.ENDPOINT_SLICES,
    Kind.SERVICE_ENTRY: resources.SERVICE_ENTRIES,
    Kind.WORKLOAD_ENTRY: resources.WORKLOAD_ENTRIES,
}


@dataclass(frozen=True, slots=True)
class WorldSize:
    services: int
    endpoints: int
    service_entries: int
    workload_entries: int
    paired: int
    rolling_pods: int = 100
    """Pods of the extra StatefulSet used for the rolling restart (0: none)."""

    def describe(self) -> dict[str, int]:
        return {
            "headless_services": self.services,
            "endpoints": self.endpoints,
            "service_entries": self.service_entries,
            "workload_entries": self.workload_entries,
            "paired_services": self.paired,
            "rolling_statefulset_pods": self.rolling_pods,
        }


THRESHOLD = WorldSize(
    services=10_000, endpoints=100_000, service_entries=10_000, workload_entries=2_000, paired=1_000
)


@dataclass(slots=True)
class SliceModel:
    name: str
    uid: str
    pods: list[Pod]
    generation: int = 1


@dataclass(slots=True)
class ServiceModel:
    namespace: str
    name: str
    uid: str
    slices: list[SliceModel] = field(default_factory=list)

    def pods(self) -> Iterator[tuple[SliceModel, Pod]]:
        for endpoint_slice in self.slices:
            for pod in endpoint_slice.pods:
                yield endpoint_slice, pod


def pods_per_service(size: WorldSize) -> list[int]:
    """How many pods each Service has: a few big ones, the rest sharing what is left."""
    big = size.services // 200
    rest = max(size.services - big, 1)
    each = max(1, round((size.endpoints - big * BIG_SERVICE_PODS) / rest))
    return [BIG_SERVICE_PODS] * big + [each] * (size.services - big)


class World:
    """The seeded objects' model, and the pod-level changes the benchmarks play on it."""

    def __init__(self, store: Store, size: WorldSize, *, seed: int = 8) -> None:
        self.store = store
        self.size = size
        self.ids = Identities(seed)
        self.services: list[ServiceModel] = []
        self.rolling: ServiceModel | None = None
        self.settle_writes = 0
        self.counts: dict[str, int] = {}

    # -- building ----------------------------------------------------------------------------------

    def seed(self) -> None:
        """Write every object into the store (no API round trips)."""
        counts = pods_per_service(self.size)
        namespaces = [f"bench-{i:03d}" for i in range(max(1, self.size.services // 100))]
        if self.size.rolling_pods:
            namespaces.append(ROLLING_NAMESPACE)
        for namespace in namespaces:
            self._create(resources.NAMESPACES, _namespace(namespace))
        for index, pod_count in enumerate(counts):
            namespace = namespaces[index % max(1, self.size.services // 100)]
            paired = index < self.size.paired
            self.services.append(
                self._service(namespace, f"svc-{index:05d}", pod_count, paired=paired)
            )
        if self.size.rolling_pods:
            self.rolling = self._service(
                ROLLING_NAMESPACE, ROLLING_SERVICE, self.size.rolling_pods, paired=False
            )
        for service in self.services[: self.size.service_entries]:
            self._service_entry(service)
        if self.rolling is not None:
            self._service_entry(self.rolling)
        for service in self.services[: self.size.workload_entries]:
            _, pod = next(service.pods())
            self._create(
                resources.WORKLOAD_ENTRIES,
                shapes.workload_entry(
                    pod.name, namespace=service.namespace, pod=pod, annotation=POD_ANNOTATION
                ),
            )
        self.counts = {
            kind.key: store_count
            for kind in _SIM_KINDS.values()
            if (store_count := self.store.count(kind))
        }
        self.counts["endpoints"] = sum(
            len(s.pods) for service in self.all_services() for s in service.slices
        )

    def all_services(self) -> Iterator[ServiceModel]:
        yield from self.services
        if self.rolling is not None:
            yield self.rolling

    def _service(self, namespace: str, name: str, pod_count: int, *, paired: bool) -> ServiceModel:
        annotations = {GRPC_SERVICE_ANNOTATION: "true"} if paired else {}
        model = ServiceModel(namespace, name, self.ids.uid())
        self._create(
            resources.SERVICES,
            shapes.headless_service(
                name, namespace=namespace, uid=model.uid, annotations=annotations
            ),
        )
        pods = [Pod(f"{name}-{k}", self.ids.address(), self.ids.uid()) for k in range(pod_count)]
        for start in range(0, len(pods), MAX_ENDPOINTS_PER_SLICE):
            chunk = pods[start : start + MAX_ENDPOINTS_PER_SLICE]
            suffix = f"{model.uid[:4]}{start // MAX_ENDPOINTS_PER_SLICE}"
            model.slices.append(SliceModel(f"{name}-{suffix}", self.ids.uid(), chunk))
        for endpoint_slice in model.slices:
            self._create(resources.ENDPOINT_SLICES, self._slice_object(model, endpoint_slice))
        return model

    def _service_entry(self, service: ServiceModel) -> None:
        pods = sorted((pod for _, pod in service.pods()), key=lambda pod: _natural(pod.name))
        self._create(
            resources.SERVICE_ENTRIES,
            shapes.service_entry(
                service.name,
                namespace=service.namespace,
                service=service.name,
                pods=pods,
                annotation=SERVICE_ANNOTATION,
            ),
        )

    def _slice_object(self, service: ServiceModel, endpoint_slice: SliceModel) -> JsonObject:
        return shapes.endpoint_slice(
            name=endpoint_slice.name,
            namespace=service.namespace,
            service=service.name,
            service_uid=service.uid,
            uid=endpoint_slice.uid,
            pods=endpoint_slice.pods,
            generation=endpoint_slice.generation,
        )

    def _create(self, kind: resources.ResourceKind, obj: JsonObject) -> None:
        self.store.create(kind, serialization.to_storage(kind, obj))

    # -- converging --------------------------------------------------------------------------------

    async def settle(self, simulator: Simulator) -> int:
        """Send, through the API, every write the planner still wants; return how many."""
        cache = self.cache()
        report = diff_view(
            cache,
            cache.primary_keys(),
            settings=PlanningSettings(removal_grace=0.0),
            now_timestamp=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            scope=Scope(),
        )
        requests = [
            request
            for diff in report.objects
            if diff.write is not None
            for request in requests_of(diff.write)
        ]
        headers = {"Authorization": f"Bearer {simulator.token}"}
        limit = asyncio.Semaphore(16)
        async with aiohttp.ClientSession(simulator.url, headers=headers) as session:

            async def send(method: str, path: str, body: Any, content_type: str) -> None:
                async with limit:
                    payload = serialization.encode(body)
                    async with session.request(
                        method, path, data=payload, headers={"Content-Type": content_type}
                    ) as response:
                        if response.status >= 300:
                            text = await response.text()
                            raise RuntimeError(
                                f"settling {method} {path}: {response.status} {text}"
                            )

            await asyncio.gather(
                *(send(r.method, r.path, r.body, r.content_type) for r in requests)
            )
        self.settle_writes = len(requests)
        return len(requests)

    def cache(self) -> ClusterCache:
        """The controller's cache filled from the store, as a first list would fill it."""
        cache = ClusterCache()
        version = str(self.store.resource_version)
        for kind, sim_kind in _SIM_KINDS.items():
            projection = BY_KIND[kind].projection
            objects = [msgspec.convert(obj, projection) for obj in self.store.peek_all(sim_kind)]
            cache.apply(kind, Relisted(objects, version))
        return cache

    # -- pod changes, as the EndpointSlice controller writes them ---------------------------------

    def remove_pod(self, service: ServiceModel, pod: Pod) -> None:
        """The pod was deleted: its endpoint leaves its slice."""
        for endpoint_slice in service.slices:
            if pod in endpoint_slice.pods:
                endpoint_slice.pods.remove(pod)
                self._write_slice(service, endpoint_slice)
                return
        raise ValueError(f"{pod.name} is in no slice of {service.name}")

    def add_pod(self, service: ServiceModel, name: str) -> Pod:
        """The pod is back, ready, with a new IP and uid, in the slice with room."""
        pod = Pod(name, self.ids.address(), self.ids.uid())
        target = next(
            (s for s in service.slices if len(s.pods) < MAX_ENDPOINTS_PER_SLICE), service.slices[0]
        )
        target.pods.append(pod)
        self._write_slice(service, target)
        return pod

    def touch_slice(self, service: ServiceModel, endpoint_slice: SliceModel) -> None:
        """A rewrite that changes nothing the planner reads (a new trigger time and generation)."""
        self._write_slice(service, endpoint_slice)

    def _write_slice(self, service: ServiceModel, endpoint_slice: SliceModel) -> None:
        endpoint_slice.generation += 1
        obj = self._slice_object(service, endpoint_slice)
        obj["metadata"]["annotations"][shapes.TRIGGER_TIME] = datetime.now(UTC).strftime(
            "%Y-%m-%dT%H:%M:%S.%fZ"
        )
        current = self.store.get(resources.ENDPOINT_SLICES, service.namespace, endpoint_slice.name)
        if current is None:
            raise ValueError(f"slice {endpoint_slice.name} is not stored")
        obj["metadata"]["creationTimestamp"] = current["metadata"]["creationTimestamp"]
        self.store.update(
            resources.ENDPOINT_SLICES,
            serialization.to_storage(resources.ENDPOINT_SLICES, obj),
        )


def _namespace(name: str) -> JsonObject:
    return {
        "kind": "Namespace",
        "apiVersion": "v1",
        "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def _natural(name: str) -> tuple[str, int]:
    stem, _, number = name.rpartition("-")
    return (stem, int(number)) if number.isdigit() else (name, -1)
