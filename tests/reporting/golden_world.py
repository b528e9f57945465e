"""The fixed world of the golden files: one object for each thing ``diff`` can say.

Namespace ``shop``: Service ``web`` with pods web-0..web-3 ready (web-1 was
restarted, web-3 is new). Namespace ``ledger``: Service ``db`` with only db-0
ready. Entries:

- ServiceEntry shop/web-static follows ``web``: web-1 stale, web-3 missing.
- ServiceEntry shop/in-sync follows ``web`` and is right: nothing to say.
- ServiceEntry shop/legacy-static is not opted in: nothing to say.
- ServiceEntry shop/dns-entry asks for ``web`` but resolves by DNS: not reconcilable.
- ServiceEntry shop/cross asks for ``ledger/db``: refused (cross-namespace).
- ServiceEntry ledger/db-all follows ``db``: would drop 2 of 3 endpoints, held.
- WorkloadEntry shop/web-1 follows pod web-1: stale address.
- WorkloadEntry shop/web-9 follows pod web-9, which has no ready address.
- WorkloadEntry shop/web-2 follows pod web-2 with health checks: marked unhealthy.

Paired Services (SPEC section 3):

- headless Service shop/orders asks for a twin (and exports it to its namespace):
  shop/orders-grpc is created.
- headless Service shop/payments asks for one, but a Service shop/payments-grpc
  made by hand stands there: a conflict.
- headless Service shop/search changed its selector and added a port since its
  twin shop/search-grpc was made: the twin is updated.
- headless Service shop/legacy no longer asks: its twin shop/legacy-grpc is deleted.
- headless Service ledger/accounts has its twin accounts-mesh, in line, but serves
  gRPC on a port named ``api`` (50051): a note, not drift.
"""

from __future__ import annotations

import msgspec

from reconciler.models.projections import Condition, ServicePort
from reconciler.planning.pairing import EXPORT_TO_ANNOTATION
from reconciler.planning.references import (
    GRPC_SERVICE_ANNOTATION,
    HEALTH_CHECKS_ANNOTATION,
    POD_ANNOTATION,
    SERVICE_ANNOTATION,
)

from .world import GRPC_PORT, World, endpoint

ASKS = {GRPC_SERVICE_ANNOTATION: "true"}
METRICS_PORT = ServicePort(name="http-metrics", port=8080, target_port="metrics")
API_PORT = ServicePort(name="api", port=50051, target_port=50051)

WEB_PODS = {
    "web-0": "10.244.1.10",
    "web-1": "10.244.1.11",
    "web-2": "10.244.1.12",
    "web-3": "10.244.1.13",
}


def golden_world() -> World:
    world = World()
    world.namespace("shop")
    world.namespace("ledger")
    world.headless_service("web", pods=WEB_PODS)
    world.headless_service("db", namespace="ledger", pods={"db-0": "10.244.2.20"})
    world.service_entry(
        "web-static",
        annotations={SERVICE_ANNOTATION: "web"},
        endpoints=[
            endpoint("10.244.1.10", "web-0"),
            endpoint("10.244.1.3", "web-1", labels={"version": "v2"}, weight=5),
            endpoint("10.244.1.12", "web-2"),
        ],
    )
    world.service_entry(
        "in-sync",
        annotations={SERVICE_ANNOTATION: "web"},
        endpoints=[endpoint(address, pod) for pod, address in WEB_PODS.items()],
    )
    world.service_entry(
        "legacy-static",
        hosts=["legacy.shop.internal"],
        endpoints=[endpoint("10.244.9.9")],
    )
    world.service_entry(
        "dns-entry",
        annotations={SERVICE_ANNOTATION: "web"},
        resolution="DNS",
    )
    world.service_entry(
        "cross",
        annotations={SERVICE_ANNOTATION: "ledger/db"},
        hosts=["db.ledger.svc.cluster.local"],
        endpoints=[endpoint("10.244.2.20", "db-0")],
    )
    world.service_entry(
        "db-all",
        namespace="ledger",
        annotations={SERVICE_ANNOTATION: "db"},
        hosts=["db.ledger.svc.cluster.local"],
        endpoints=[
            endpoint("10.244.2.20", "db-0"),
            endpoint("10.244.2.21", "db-1"),
            endpoint("10.244.2.22", "db-2"),
        ],
    )
    add_paired_services(world)
    world.workload_entry("web-1", address="10.244.1.3", annotations={POD_ANNOTATION: "web-1"})
    world.workload_entry("web-9", address="10.244.1.99", annotations={POD_ANNOTATION: "web-9"})
    world.workload_entry(
        "web-2",
        address="10.244.1.12",
        annotations={POD_ANNOTATION: "web-2", HEALTH_CHECKS_ANNOTATION: "true"},
        conditions=[
            Condition(
                type="Healthy",
                status="False",
                reason="PodNotReady",
                message="pod shop/web-2 has no ready address; the entry keeps 10.244.1.12",
                last_transition_time="2025-12-31T23:00:00Z",
            )
        ],
    )
    return world


def add_paired_services(world: World) -> None:
    world.service(
        "orders",
        annotations={**ASKS, EXPORT_TO_ANNOTATION: "."},
        ports=(GRPC_PORT, METRICS_PORT),
    )
    world.service("payments", annotations=ASKS, ports=(GRPC_PORT,))
    world.service("payments-grpc", cluster_ip="10.96.0.30", selector={"app": "payments"})
    search = world.service(
        "search", annotations=ASKS, ports=(GRPC_PORT, METRICS_PORT), selector={"app": "search-v2"}
    )
    search_before = msgspec.structs.replace(
        search,
        spec=msgspec.structs.replace(search.spec, selector={"app": "search"}, ports=(GRPC_PORT,)),
    )
    world.paired_service(search_before, "search-grpc", cluster_ip="10.96.0.31")
    legacy = world.service("legacy")
    world.paired_service(legacy, "legacy-grpc", cluster_ip="10.96.0.32")
    accounts = world.service(
        "accounts",
        namespace="ledger",
        annotations={GRPC_SERVICE_ANNOTATION: "accounts-mesh"},
        ports=(API_PORT,),
    )
    world.paired_service(accounts, "accounts-mesh", cluster_ip="10.96.0.33")
