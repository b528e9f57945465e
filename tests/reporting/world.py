"""Fixed worlds for report tests, built straight into a ``ClusterCache``.

Everything has a fixed name, uid, resourceVersion and address, so what a
report prints depends on nothing but the world: golden files stay
byte-stable. Builders default to the common case (namespace ``shop``, a
headless Service ``web`` with ports ``http`` 8080 and ``grpc`` 9090, ready
IPv4 pods) and each test states only what it is about. Paired Services are
built from the planner's own ``desired_paired_service``, as the API server
would hold them once created.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from reconciler.models.projections import (
    Condition,
    Endpoint,
    EndpointConditions,
    EndpointPort,
    EndpointSlice,
    IstioStatus,
    Namespace,
    ObjectMeta,
    Service,
    ServiceEntry,
    ServiceEntryPort,
    ServiceEntrySpec,
    ServicePort,
    ServiceSpec,
    TargetRef,
    WorkloadEntry,
    WorkloadSelector,
    WorkloadSpec,
)
from reconciler.models.refs import Kind, ObjectKey
from reconciler.planning.pairing import desired_paired_service
from reconciler.planning.references import POD_NAME_LABEL
from reconciler.runtime.cache import ClusterCache
from reconciler.watching import Relisted

NS = "shop"
NOW_TIMESTAMP = "2026-01-01T00:00:00Z"
HTTP_PORT = ServicePort(name="http", port=8080, target_port="http")
GRPC_PORT = ServicePort(name="grpc", port=9090, target_port="grpc", app_protocol="grpc")


def endpoint(address: str, pod: str | None = None, **fields: Any) -> WorkloadSpec:
    """A ServiceEntry endpoint; ``pod`` sets the pod-name label."""
    labels = dict(fields.pop("labels", {}))
    if pod is not None:
        labels[POD_NAME_LABEL] = pod
    return WorkloadSpec(address=address, labels=labels or None, **fields)


@dataclass
class World:
    """Objects to be listed; :meth:`cache` lists them into a fresh ``ClusterCache``."""

    namespaces: list[Namespace] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    slices: list[EndpointSlice] = field(default_factory=list)
    service_entries: list[ServiceEntry] = field(default_factory=list)
    workload_entries: list[WorkloadEntry] = field(default_factory=list)

    def cache(self) -> ClusterCache:
        cache = ClusterCache()
        for kind, objects in (
            (Kind.NAMESPACE, self.namespaces),
            (Kind.SERVICE, self.services),
            (Kind.ENDPOINT_SLICE, self.slices),
            (Kind.SERVICE_ENTRY, self.service_entries),
            (Kind.WORKLOAD_ENTRY, self.workload_entries),
        ):
            cache.apply(kind, Relisted(list(objects), "100"))
        return cache

    def keys(self) -> list[ObjectKey]:
        return [
            *(
                ObjectKey(Kind.SERVICE, s.metadata.namespace, s.metadata.name)
                for s in self.services
            ),
            *(
                ObjectKey(Kind.SERVICE_ENTRY, e.metadata.namespace, e.metadata.name)
                for e in self.service_entries
            ),
            *(
                ObjectKey(Kind.WORKLOAD_ENTRY, e.metadata.namespace, e.metadata.name)
                for e in self.workload_entries
            ),
        ]

    def namespace(self, name: str = NS, *, labels: Mapping[str, str] | None = None) -> None:
        self.namespaces.append(
            Namespace(
                metadata=ObjectMeta(name=name, uid=f"uid-ns-{name}", labels=dict(labels or {}))
            )
        )

    def headless_service(
        self,
        name: str = "web",
        *,
        namespace: str = NS,
        pods: Mapping[str, str] | None = None,
        not_ready: Mapping[str, str] | None = None,
        headless: bool = True,
        selector: Mapping[str, str] | None = None,
    ) -> None:
        """The Service and one IPv4 slice listing ``pods`` ready and ``not_ready`` not ready."""
        self.services.append(
            Service(
                metadata=ObjectMeta(
                    name=name, namespace=namespace, uid=f"uid-svc-{name}", resource_version="10"
                ),
                spec=ServiceSpec(
                    cluster_ip="None" if headless else "10.96.0.20",
                    selector=dict(selector or {"app": name}),
                    ports=(HTTP_PORT, GRPC_PORT),
                    ip_families=("IPv4",),
                ),
            )
        )
        endpoints = [_endpoint(pod, address, ready=True) for pod, address in (pods or {}).items()]
        endpoints += [
            _endpoint(pod, address, ready=False) for pod, address in (not_ready or {}).items()
        ]
        self.slices.append(
            EndpointSlice(
                metadata=ObjectMeta(
                    name=f"{name}-abcde",
                    namespace=namespace,
                    uid=f"uid-slice-{name}",
                    resource_version="11",
                    labels={"kubernetes.io/service-name": name},
                ),
                address_type="IPv4",
                endpoints=tuple(endpoints) or None,
                ports=(
                    EndpointPort(name="http", port=8080, protocol="TCP"),
                    EndpointPort(name="grpc", port=9090, protocol="TCP", app_protocol="grpc"),
                ),
            )
        )

    def service(
        self,
        name: str,
        *,
        namespace: str = NS,
        annotations: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
        ports: Iterable[ServicePort] = (HTTP_PORT, GRPC_PORT),
        selector: Mapping[str, str] | None = None,
        cluster_ip: str = "None",
    ) -> Service:
        """A Service with no pods behind it (headless unless ``cluster_ip`` says otherwise)."""
        service = Service(
            metadata=ObjectMeta(
                name=name,
                namespace=namespace,
                uid=f"uid-svc-{name}",
                resource_version="12",
                labels=dict(labels or {"app": name}),
                annotations=dict(annotations or {}),
            ),
            spec=ServiceSpec(
                cluster_ip=cluster_ip,
                selector=dict(selector or {"app": name}),
                ports=tuple(ports),
                ip_families=("IPv4",),
                ip_family_policy="SingleStack",
                internal_traffic_policy="Cluster",
            ),
        )
        self.services.append(service)
        return service

    def paired_service(self, source: Service, name: str, *, cluster_ip: str) -> Service:
        """The paired Service the controller made of ``source``, as the API server holds it."""
        made = desired_paired_service(source, name=name)
        twin = msgspec.structs.replace(
            made,
            metadata=msgspec.structs.replace(
                made.metadata, uid=f"uid-svc-{name}", resource_version="13"
            ),
            spec=msgspec.structs.replace(made.spec, cluster_ip=cluster_ip),
        )
        self.services.append(twin)
        return twin

    def service_entry(
        self,
        name: str,
        *,
        namespace: str = NS,
        annotations: Mapping[str, str] | None = None,
        hosts: Sequence[str] = ("web.shop.svc.cluster.local",),
        endpoints: Sequence[WorkloadSpec] = (),
        resolution: str = "STATIC",
        location: str = "MESH_INTERNAL",
        workload_selector: Mapping[str, str] | None = None,
    ) -> None:
        self.service_entries.append(
            ServiceEntry(
                metadata=ObjectMeta(
                    name=name,
                    namespace=namespace,
                    uid=f"uid-se-{name}",
                    resource_version="41",
                    annotations=dict(annotations or {}),
                ),
                spec=ServiceEntrySpec(
                    hosts=tuple(hosts),
                    ports=(
                        ServiceEntryPort(number=8080, name="http", protocol="HTTP"),
                        ServiceEntryPort(number=9090, name="grpc", protocol="GRPC"),
                    ),
                    location=location,
                    resolution=resolution,
                    endpoints=tuple(endpoints) or None,
                    workload_selector=(
                        WorkloadSelector(labels=dict(workload_selector))
                        if workload_selector is not None
                        else None
                    ),
                ),
            )
        )

    def workload_entry(
        self,
        name: str,
        *,
        address: str,
        namespace: str = NS,
        annotations: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
        conditions: Sequence[Condition] | None = None,
    ) -> None:
        self.workload_entries.append(
            WorkloadEntry(
                metadata=ObjectMeta(
                    name=name,
                    namespace=namespace,
                    uid=f"uid-we-{name}",
                    resource_version="52",
                    annotations=dict(annotations or {}),
                ),
                spec=WorkloadSpec(address=address, labels=dict(labels or {"app": "web"}), weight=3),
                status=None if conditions is None else IstioStatus(conditions=tuple(conditions)),
            )
        )


def _endpoint(pod: str, address: str, *, ready: bool) -> Endpoint:
    return Endpoint(
        addresses=(address,),
        conditions=EndpointConditions(ready=ready, serving=ready, terminating=False),
        hostname=pod,
        target_ref=TargetRef(kind="Pod", name=pod, uid=f"uid-pod-{pod}"),
    )
