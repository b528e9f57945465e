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
"""

from __future__ import annotations

from reconciler.models.projections import Condition
from reconciler.planning.references import (
    HEALTH_CHECKS_ANNOTATION,
    POD_ANNOTATION,
    SERVICE_ANNOTATION,
)

from .world import World, endpoint

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
