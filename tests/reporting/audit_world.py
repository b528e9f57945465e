"""The fixed world of the audit golden files: one entry for each thing ``audit`` can say.

Namespace ``shop``: Service ``web`` with pods web-0..web-2 ready (web-1 was
restarted: it had 10.244.1.3, now 10.244.1.11). Namespace ``ledger``:
Service ``db``, whose pod db-1 got web-1's old address 10.244.1.3.

- ServiceEntry shop/legacy-static (not opted in) lists web-1 at its old
  address: recycled, now db-1's; could use workloadSelector.
- ServiceEntry shop/old-list (not opted in) lists an address nobody holds:
  stale; the one pod it lacks is web-1.
- ServiceEntry shop/web-static (opted in) holds the same stale address:
  managed, so no fix is offered.
- ServiceEntry shop/external names no Service of the cluster: not judged.
- ServiceEntry shop/all-right lists exactly web's pods: only advice.
- WorkloadEntry shop/web-1-copy (pod-name label web-1) holds 10.244.1.3: recycled.
- WorkloadEntry shop/vm-1 holds an address no pod has and names no pod: not judged.
"""

from __future__ import annotations

from reconciler.planning.references import SERVICE_ANNOTATION

from .world import World, endpoint

WEB_PODS = {"web-0": "10.244.1.10", "web-1": "10.244.1.11", "web-2": "10.244.1.12"}
RECYCLED = "10.244.1.3"


def audit_world() -> World:
    world = World()
    world.namespace("shop")
    world.namespace("ledger")
    world.headless_service("web", pods=WEB_PODS)
    world.headless_service("db", namespace="ledger", pods={"db-0": "10.244.2.20", "db-1": RECYCLED})
    world.service_entry(
        "legacy-static",
        endpoints=[
            endpoint("10.244.1.10", "web-0"),
            endpoint(RECYCLED, "web-1"),
            endpoint("10.244.1.12", "web-2"),
        ],
    )
    world.service_entry(
        "old-list",
        endpoints=[endpoint("10.244.1.10"), endpoint("10.244.1.12"), endpoint("10.244.9.9")],
    )
    world.service_entry(
        "web-static",
        annotations={SERVICE_ANNOTATION: "web"},
        endpoints=[endpoint("10.244.1.10", "web-0"), endpoint("10.244.9.9")],
    )
    world.service_entry("external", hosts=["api.example.com"], endpoints=[endpoint("203.0.113.7")])
    world.service_entry(
        "all-right", endpoints=[endpoint(address, pod) for pod, address in WEB_PODS.items()]
    )
    world.workload_entry(
        "web-1-copy",
        address=RECYCLED,
        labels={"app": "web", "statefulset.kubernetes.io/pod-name": "web-1"},
    )
    world.workload_entry("vm-1", address="192.168.5.5", labels={"app": "legacy"})
    return world
