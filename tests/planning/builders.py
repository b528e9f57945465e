"""Terse builders for the projections planner tests are made of.

Defaults describe the common case: namespace ``prod``, headless Service
``web`` with an ``http`` port, pods ``web-N`` ready in IPv4 slices, a
ServiceEntry ``web-se`` opted in by annotation. Each test states only what its
rule is about.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

from reconciler.models.projections import (
    Condition,
    Endpoint,
    EndpointConditions,
    EndpointPort,
    EndpointSlice,
    IstioStatus,
    Namespace,
    ObjectMeta,
    OwnerReference,
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
from reconciler.models.refs import ObjectKey
from reconciler.planning.desired import SERVICE_NAME_LABEL
from reconciler.planning.guard import Hold
from reconciler.planning.planner import plan_service_entry, plan_workload_entry
from reconciler.planning.plans import Action
from reconciler.planning.references import (
    MANAGED_NAMESPACE_LABEL,
    POD_ANNOTATION,
    POD_NAME_LABEL,
    SERVICE_ANNOTATION,
)
from reconciler.planning.settings import PlanningSettings
from reconciler.planning.view import ClusterView

NS = "prod"
NOW = 1000.0
NOW_TIMESTAMP = "2026-01-01T00:00:00Z"

_slice_names = itertools.count()


def namespace(
    name: str = NS, *, managed: bool = False, annotations: Mapping[str, str] | None = None
) -> Namespace:
    labels = {MANAGED_NAMESPACE_LABEL: "enabled"} if managed else {}
    return Namespace(
        metadata=ObjectMeta(name=name, labels=labels, annotations=dict(annotations or {}))
    )


def service(
    name: str = "web",
    *,
    namespace: str = NS,
    headless: bool = True,
    ip_families: tuple[str, ...] = ("IPv4",),
    annotations: Mapping[str, str] | None = None,
) -> Service:
    return Service(
        metadata=ObjectMeta(name=name, namespace=namespace, annotations=dict(annotations or {})),
        spec=ServiceSpec(
            cluster_ip="None" if headless else "10.96.0.10",
            selector={"app": name},
            ports=(ServicePort(name="http", port=80),),
            ip_families=ip_families,
        ),
    )


def pod_endpoint(
    pod: str | None,
    address: str,
    *,
    ready: bool | None = True,
    terminating: bool | None = None,
    uid: str | None = None,
    hostname: str | None = None,
) -> Endpoint:
    """An endpoint of pod ``pod`` (targetRef), or with no targetRef when ``pod`` is None."""
    target = None if pod is None else TargetRef(kind="Pod", name=pod, uid=uid or f"uid-{pod}")
    return Endpoint(
        addresses=(address,),
        conditions=EndpointConditions(ready=ready, terminating=terminating),
        hostname=hostname,
        target_ref=target,
    )


def endpoint_slice(
    *endpoints: Endpoint,
    service: str = "web",
    namespace: str = NS,
    address_type: str = "IPv4",
    ports: Mapping[str, int] | None = None,
    labels: Mapping[str, str] | None = None,
) -> EndpointSlice:
    named_ports = {"http": 8080} if ports is None else ports
    return EndpointSlice(
        metadata=ObjectMeta(
            name=f"{service}-{next(_slice_names)}",
            namespace=namespace,
            labels={SERVICE_NAME_LABEL: service, **(labels or {})},
        ),
        address_type=address_type,
        endpoints=endpoints or None,
        ports=tuple(EndpointPort(name=n, port=p, protocol="TCP") for n, p in named_ports.items()),
    )


def ready_slice(
    pods: Mapping[str, str],
    *,
    service: str = "web",
    namespace: str = NS,
    address_type: str = "IPv4",
) -> EndpointSlice:
    """A slice listing each ``pod: address`` ready."""
    endpoints = [pod_endpoint(pod, address) for pod, address in pods.items()]
    return endpoint_slice(
        *endpoints, service=service, namespace=namespace, address_type=address_type
    )


def se_endpoint(
    address: str,
    pod: str | None = None,
    *,
    labels: Mapping[str, str] | None = None,
    ports: Mapping[str, int] | None = None,
    weight: int | None = None,
    locality: str | None = None,
    network: str | None = None,
    service_account: str | None = None,
) -> WorkloadSpec:
    """A ServiceEntry endpoint; ``pod`` sets the pod-name label."""
    all_labels = dict(labels or {})
    if pod is not None:
        all_labels[POD_NAME_LABEL] = pod
    return WorkloadSpec(
        address=address,
        labels=all_labels or None,
        ports=None if ports is None else dict(ports),
        weight=weight,
        locality=locality,
        network=network,
        service_account=service_account,
    )


def service_entry(
    name: str = "web-se",
    *,
    namespace: str = NS,
    annotations: Mapping[str, str] | None = None,
    hosts: tuple[str, ...] = ("web.example.internal",),
    resolution: str | None = "STATIC",
    endpoints: tuple[WorkloadSpec, ...] = (),
    ports: Mapping[str, int] | None = None,
    workload_selector: Mapping[str, str] | None = None,
    deleting: bool = False,
) -> ServiceEntry:
    named_ports = {"http": 80} if ports is None else ports
    return ServiceEntry(
        metadata=ObjectMeta(
            name=name,
            namespace=namespace,
            resource_version="7",
            annotations=dict(annotations or {}),
            deletion_timestamp="2026-01-01T00:00:00Z" if deleting else None,
        ),
        spec=ServiceEntrySpec(
            hosts=hosts,
            ports=tuple(ServiceEntryPort(number=n, name=p) for p, n in named_ports.items()),
            location="MESH_INTERNAL",
            resolution=resolution,
            endpoints=endpoints or None,
            workload_selector=(
                None if workload_selector is None else WorkloadSelector(dict(workload_selector))
            ),
        ),
    )


def annotated_entry(
    service: str = "web",
    *,
    name: str = "web-se",
    pod: str | None = None,
    namespace: str = NS,
    hosts: tuple[str, ...] = ("web.example.internal",),
    annotations: Mapping[str, str] | None = None,
    endpoints: tuple[WorkloadSpec, ...] = (),
    ports: Mapping[str, int] | None = None,
    resolution: str | None = "STATIC",
    workload_selector: Mapping[str, str] | None = None,
) -> ServiceEntry:
    """A ServiceEntry opted in by ``headless-reconciler.io/service`` (and ``.../pod``)."""
    all_annotations = {SERVICE_ANNOTATION: service, **(annotations or {})}
    if pod is not None:
        all_annotations[POD_ANNOTATION] = pod
    return service_entry(
        name,
        namespace=namespace,
        hosts=hosts,
        annotations=all_annotations,
        endpoints=endpoints,
        ports=ports,
        resolution=resolution,
        workload_selector=workload_selector,
    )


def workload_entry(
    name: str = "web-0",
    *,
    namespace: str = NS,
    pod: str | None = "web-0",
    address: str | None = "10.0.0.1",
    annotations: Mapping[str, str] | None = None,
    conditions: tuple[Condition, ...] | None = None,
    owners: tuple[OwnerReference, ...] = (),
) -> WorkloadEntry:
    all_annotations = dict(annotations or {})
    if pod is not None:
        all_annotations[POD_ANNOTATION] = pod
    return WorkloadEntry(
        metadata=ObjectMeta(
            name=name,
            namespace=namespace,
            resource_version="9",
            annotations=all_annotations,
            owner_references=owners,
        ),
        spec=WorkloadSpec(address=address, labels={"app": "web"}, ports={"http": 8080}),
        status=None if conditions is None else IstioStatus(conditions=conditions),
    )


def healthy(status: str, *, at: str = "2025-12-31T00:00:00Z") -> Condition:
    return Condition(type="Healthy", status=status, reason="Earlier", last_transition_time=at)


def plan_one(
    view: ClusterView,
    entry: ServiceEntry | WorkloadEntry,
    *,
    settings: PlanningSettings | None = None,
    now: float = NOW,
    held_since: Mapping[ObjectKey, float] | None = None,
) -> Action | None:
    """Plan one entry with the defaults a test does not care about.

    ``held_since``: the removal of any of the entry's current endpoints has been
    held since then.
    """
    if isinstance(entry, ServiceEntry):
        current = frozenset(e.address for e in entry.spec.endpoints or () if e.address)
        holds = {key: Hold(since, current) for key, since in (held_since or {}).items()}
        return plan_service_entry(
            entry,
            view=view,
            settings=settings or PlanningSettings(),
            now=now,
            holds=holds,
        )
    return plan_workload_entry(
        entry,
        view=view,
        settings=settings or PlanningSettings(),
        now=now,
        now_timestamp=NOW_TIMESTAMP,
        holds={},
    )
