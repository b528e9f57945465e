"""``headless-reconciler demo``: the problem, shown on the built-in simulated cluster.

A first-time user gets a real Kubernetes API (the simulator) with a StatefulSet
behind a headless Service and a STATIC ServiceEntry that holds its pod IPs. One
pod restarts, gets a new IP, and the demo shows what the EndpointSlice says
against what the ServiceEntry still says: the drift headless-reconciler exists
to repair. Everything goes through the real client over HTTP, as it would
against a cluster.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from kubernetes_asyncio.client import ApiClient, CustomObjectsApi

from reconciler.simulator.cluster import simulated_cluster
from reconciler.testbed.manifests import POD_NAME_LABEL
from reconciler.testbed.waiting import ready_addresses, wait_for_ready_addresses
from reconciler.testbed.worlds import (
    DEMO_NAMESPACE,
    DEMO_SERVICE_ENTRY,
    DEMO_STATEFULSET,
    seed_demo,
)

Say = Callable[[str], None]


def where(name: str) -> str:
    return f"{DEMO_NAMESPACE}/{name}"


async def _service_entry_addresses(api: ApiClient) -> dict[str, str]:
    entry = await CustomObjectsApi(api).get_namespaced_custom_object(
        "networking.istio.io", "v1", DEMO_NAMESPACE, "serviceentries", DEMO_SERVICE_ENTRY
    )
    return {
        endpoint.get("labels", {}).get(POD_NAME_LABEL, "?"): endpoint["address"]
        for endpoint in entry["spec"].get("endpoints", [])
    }


def _table(rows: list[tuple[str, str, str, str]]) -> str:
    header = ("POD", "SERVICEENTRY SAYS", "POD IP NOW", "STATE")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [header, *rows]
    ]
    return "\n".join("    " + line for line in lines)


async def run_demo(say: Say = print) -> int:
    """Play the story; return the process exit code."""
    started = time.monotonic()
    async with simulated_cluster() as sim, sim.api_client() as api:
        say(f"Started the simulated Kubernetes API server at {sim.url}")
        pods = await seed_demo(api)
        say(f"StatefulSet {where(DEMO_STATEFULSET)}: 3 ready pods behind a headless Service")
        say(f"ServiceEntry {where(DEMO_SERVICE_ENTRY)} (STATIC) lists those 3 pod IPs")

        old = pods.pod(1).addresses[0]
        restarted = await pods.restart(1)
        slices = await wait_for_ready_addresses(
            api, namespace=DEMO_NAMESPACE, service=DEMO_STATEFULSET, expected=pods.ready_addresses()
        )
        say(f"Pod {restarted.name} restarted: {old} -> {restarted.addresses[0]}")
        say(f"The EndpointSlice controller now reports {sorted(ready_addresses(slices))}")

        listed = await _service_entry_addresses(api)
        rows = []
        for pod in pods.pods:
            held = listed.get(pod.name, "-")
            rows.append(
                (pod.name, held, pod.addresses[0], "ok" if held == pod.addresses[0] else "STALE")
            )
        say("")
        say(_table(rows))
        say("")
        stale = [row[0] for row in rows if row[3] == "STALE"]
        say(
            f"Drift: {len(stale)} stale address(es) in ServiceEntry {where(DEMO_SERVICE_ENTRY)} "
            f"({', '.join(stale)}). Istio would keep sending {restarted.name}'s traffic to {old}."
        )
        say(
            "Repairing this is the job of `headless-reconciler run`, which is not built yet "
            "(README, Status)."
        )
        say(f"Done in {time.monotonic() - started:.1f}s.")
    return 0
