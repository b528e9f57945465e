"""``headless-reconciler demo``: the problem and its repair, on the built-in simulated cluster.

A first-time user gets a real Kubernetes API (the simulator) with a StatefulSet
behind a headless Service, a STATIC ServiceEntry and a WorkloadEntry that follow
its pods, and an unmanaged ServiceEntry that must never be touched. The real
controller runs against it over HTTP. A pod restarts with a new IP; the demo
shows the drift, how fast the controller repaired it, and the final state.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubernetes_asyncio.client import ApiClient, CustomObjectsApi

from reconciler.api.client import KubeClient, load_configuration
from reconciler.config import RunSettings
from reconciler.running import build_controller
from reconciler.simulator.cluster import simulated_cluster
from reconciler.testbed.manifests import POD_NAME_LABEL
from reconciler.testbed.statefulsets import StatefulPodSet
from reconciler.testbed.waiting import watch_until
from reconciler.testbed.worlds import (
    DEMO_NAMESPACE,
    DEMO_SERVICE_ENTRY,
    DEMO_STATEFULSET,
    seed_demo,
)

Say = Callable[[str], None]
ISTIO = ("networking.istio.io", "v1")
UNMANAGED_ENTRY = "legacy-static"
WORKLOAD_ENTRY = "web-1"
CONTROLLER_AGENT = "headless-reconciler"


def _where(name: str) -> str:
    return f"{DEMO_NAMESPACE}/{name}"


def _unmanaged_entry(address: str) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "ServiceEntry",
        "metadata": {"name": UNMANAGED_ENTRY, "namespace": DEMO_NAMESPACE},
        "spec": {
            "hosts": ["legacy.shop.internal"],
            "location": "MESH_INTERNAL",
            "resolution": "STATIC",
            "ports": [{"number": 8080, "name": "http", "protocol": "HTTP"}],
            "endpoints": [{"address": address}],
        },
    }


def _workload_entry(address: str) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "WorkloadEntry",
        "metadata": {
            "name": WORKLOAD_ENTRY,
            "namespace": DEMO_NAMESPACE,
            "annotations": {"headless-reconciler.io/pod": "web-1"},
        },
        "spec": {"address": address, "labels": {"app": "web"}},
    }


async def _wait_for_entries(
    api: ApiClient, plural: str, until: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    list_call = functools.partial(
        CustomObjectsApi(api).list_namespaced_custom_object, *ISTIO, DEMO_NAMESPACE, plural
    )
    return await watch_until(list_call, until, within=20, what=plural)


def _addresses(entry: dict[str, Any]) -> dict[str, str]:
    return {
        endpoint.get("labels", {}).get(POD_NAME_LABEL, "?"): endpoint["address"]
        for endpoint in entry["spec"].get("endpoints") or []
    }


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "    " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


async def run_demo(say: Say = print) -> int:
    """Play the story; return the process exit code."""
    started = time.monotonic()
    logging.getLogger().setLevel(logging.WARNING)
    async with simulated_cluster() as sim, sim.api_client() as api:
        say(f"Simulated Kubernetes API server at {sim.url} (no cluster needed)")
        pods = await seed_demo(api)
        custom = CustomObjectsApi(api)
        await custom.create_namespaced_custom_object(
            *ISTIO, DEMO_NAMESPACE, "workloadentries", _workload_entry(pods.pod(1).addresses[0])
        )
        await custom.create_namespaced_custom_object(
            *ISTIO, DEMO_NAMESPACE, "serviceentries", _unmanaged_entry("10.244.9.9")
        )
        say(f"StatefulSet {_where(DEMO_STATEFULSET)}: 3 ready pods behind a headless Service")
        say(f"  ServiceEntry {_where(DEMO_SERVICE_ENTRY)}: STATIC, follows Service web")
        say(f"  WorkloadEntry {_where(WORKLOAD_ENTRY)}: follows pod web-1")
        say(f"  ServiceEntry {_where(UNMANAGED_ENTRY)}: not opted in, holds a stale 10.244.9.9")

        with tempfile.TemporaryDirectory() as scratch:
            kubeconfig = sim.write_kubeconfig(Path(scratch) / "kubeconfig")
            settings = RunSettings(kubeconfig=kubeconfig)
            configuration = await load_configuration(kubeconfig=str(kubeconfig))
            async with KubeClient(configuration) as client:
                controller = await build_controller(settings, client)
                running = asyncio.create_task(controller.run())
                try:
                    await asyncio.wait_for(controller.cache.synced.wait(), 10)
                    say("Controller started: caches synced, watching")
                    await _restart_and_show(api, pods, say)
                finally:
                    controller.stop()
                    with contextlib.suppress(asyncio.CancelledError):
                        await running

        await _final_state(api, pods, sim.store.write_log, say)
    say(f"Done in {time.monotonic() - started:.1f}s.")
    return 0


async def _restart_and_show(api: ApiClient, pods: StatefulPodSet, say: Say) -> None:
    old = pods.pod(1).addresses[0]
    restarted = await pods.restart(1)
    new = restarted.addresses[0]
    began = time.monotonic()
    say(f"\nPod web-1 restarted: {old} -> {new}. Istio would now send web-1's traffic to {old}.")
    await _wait_for_entries(
        api,
        "serviceentries",
        lambda entries: any(
            e["metadata"]["name"] == DEMO_SERVICE_ENTRY and _addresses(e).get("web-1") == new
            for e in entries
        ),
    )
    entry_ms = (time.monotonic() - began) * 1000
    await _wait_for_entries(
        api,
        "workloadentries",
        lambda entries: any(e["spec"].get("address") == new for e in entries),
    )
    workload_ms = (time.monotonic() - began) * 1000
    say(f"Repaired ServiceEntry {_where(DEMO_SERVICE_ENTRY)} in {entry_ms:.0f} ms")
    say(f"Repaired WorkloadEntry {_where(WORKLOAD_ENTRY)} in {workload_ms:.0f} ms")


async def _final_state(api: ApiClient, pods: StatefulPodSet, write_log: Any, say: Say) -> None:
    custom = CustomObjectsApi(api)
    managed = await custom.get_namespaced_custom_object(
        *ISTIO, DEMO_NAMESPACE, "serviceentries", DEMO_SERVICE_ENTRY
    )
    workload = await custom.get_namespaced_custom_object(
        *ISTIO, DEMO_NAMESPACE, "workloadentries", WORKLOAD_ENTRY
    )
    held = _addresses(managed)
    rows: list[tuple[str, ...]] = [("POD", "POD IP", "SERVICEENTRY", "WORKLOADENTRY")]
    for pod in pods.pods:
        ip = pod.addresses[0]
        workload_cell = workload["spec"]["address"] if pod.name == "web-1" else ""
        rows.append((pod.name, ip, held.get(pod.name, "-"), workload_cell))
    say("\nFinal state:")
    say(_table(rows))
    ours = [w for w in write_log if w.user_agent.startswith(CONTROLLER_AGENT) and w.applied]
    patches = Counter(
        f"{w.resource.rsplit('/', 1)[-1]}/{w.name}" for w in ours if w.resource != "events"
    )
    events = sum(1 for w in ours if w.resource == "events")
    untouched = all(w.name != UNMANAGED_ENTRY for w in ours)
    listed = ", ".join(f"{name} x{count}" for name, count in sorted(patches.items()))
    say(f"\nController patches: {listed}; Events recorded: {events}")
    say(
        f"ServiceEntry {_where(UNMANAGED_ENTRY)} untouched: {'yes' if untouched else 'NO'} "
        "(it never opted in)"
    )
