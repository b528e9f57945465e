"""Builders for paired-Service planner tests: headless Services, their twins, foreign Services.

Defaults describe the common case: namespace ``prod``, headless Service
``web`` selecting ``app: web`` with an ``http`` port and a ``grpc`` port,
single-stack IPv4, and the twin the controller would have made of it. Each
test states only what its rule is about.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import msgspec

from reconciler.models.projections import (
    ObjectMeta,
    OwnerReference,
    Service,
    ServicePort,
    ServiceSpec,
)
from reconciler.models.refs import Kind, ObjectKey
from reconciler.planning.pairing import Pairing, desired_paired_service, plan_pairing
from reconciler.planning.references import GRPC_SERVICE_ANNOTATION
from reconciler.planning.settings import PlanningSettings

from .builders import NS
from .conftest import FakeView

HTTP = ServicePort(name="http", port=8080, target_port="http", protocol="TCP")
GRPC = ServicePort(name="grpc", port=9090, target_port="grpc", protocol="TCP", app_protocol="grpc")
ASKS = {GRPC_SERVICE_ANNOTATION: "true"}


def headless(
    name: str = "web",
    *,
    namespace: str = NS,
    annotations: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
    ports: Iterable[ServicePort] = (HTTP, GRPC),
    selector: Mapping[str, str] | None = None,
    no_selector: bool = False,
    families: tuple[str, ...] = ("IPv4",),
    policy: str | None = "SingleStack",
    internal_traffic_policy: str | None = "Cluster",
    cluster_ip: str = "None",
    uid: str | None = None,
    deleting: bool = False,
    publish_not_ready_addresses: bool = False,
) -> Service:
    """A headless Service as the API returns it; ``selector`` defaults to ``app: <name>``."""
    return Service(
        metadata=ObjectMeta(
            name=name,
            namespace=namespace,
            uid=uid or f"uid-{name}",
            resource_version="11",
            labels=dict(labels or {}),
            annotations=dict(annotations or {}),
            deletion_timestamp="2026-01-01T00:00:00Z" if deleting else None,
        ),
        spec=ServiceSpec(
            type="ClusterIP",
            cluster_ip=cluster_ip,
            selector=None if no_selector else dict(selector or {"app": name}),
            ports=tuple(ports),
            ip_families=families,
            ip_family_policy=policy,
            internal_traffic_policy=internal_traffic_policy,
            publish_not_ready_addresses=publish_not_ready_addresses,
        ),
    )


def twin_of(
    source: Service,
    name: str | None = None,
    *,
    uid: str | None = None,
    resource_version: str = "21",
    cluster_ip: str = "10.96.0.21",
) -> Service:
    """The paired Service as it stands once created: marks, copied fields, API-filled fields."""
    twin_name = name or f"{source.metadata.name}-grpc"
    desired = desired_paired_service(source, name=twin_name)
    return msgspec.structs.replace(
        desired,
        metadata=msgspec.structs.replace(
            desired.metadata, uid=uid or f"uid-{twin_name}", resource_version=resource_version
        ),
        spec=msgspec.structs.replace(desired.spec, cluster_ip=cluster_ip),
    )


def foreign(
    name: str = "web-grpc",
    *,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    owners: tuple[OwnerReference, ...] = (),
) -> Service:
    """A ClusterIP Service someone else made, with whatever marks it is given."""
    return Service(
        metadata=ObjectMeta(
            name=name,
            namespace=NS,
            uid=f"uid-{name}",
            resource_version="5",
            labels=dict(labels or {}),
            annotations=dict(annotations or {}),
            owner_references=owners,
        ),
        spec=ServiceSpec(cluster_ip="10.96.0.50", selector={"app": "other"}, ports=(HTTP,)),
    )


def with_meta(service: Service, **fields: object) -> Service:
    return msgspec.structs.replace(
        service, metadata=msgspec.structs.replace(service.metadata, **fields)
    )


def with_spec(service: Service, **fields: object) -> Service:
    return msgspec.structs.replace(service, spec=msgspec.structs.replace(service.spec, **fields))


def earlier_owner(name: str = "web") -> OwnerReference:
    """A controller reference to a Service of this name that has since been recreated."""
    return OwnerReference(
        api_version="v1",
        kind="Service",
        name=name,
        uid=f"uid-{name}-before",
        controller=True,
        block_owner_deletion=True,
    )


def service_key(name: str, namespace: str = NS) -> ObjectKey:
    return ObjectKey(Kind.SERVICE, namespace, name)


def pair(view: FakeView, name: str = "web", *, settings: PlanningSettings | None = None) -> Pairing:
    """Plan the pairing of Service ``name`` in ``view``."""
    service = view.service(NS, name)
    assert service is not None, f"no Service {name} in the view"
    return plan_pairing(service, view=view, settings=settings or PlanningSettings())
