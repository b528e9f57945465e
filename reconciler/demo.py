"""``headless-reconciler demo``: the problem and its repair, on the built-in simulated cluster.

A first-time user gets a real Kubernetes API (the simulator) and a small world
in two namespaces: StatefulSets behind headless Services, a service-level and
a pod-level ServiceEntry and a WorkloadEntry that opted in, and a hand-kept
ServiceEntry that did not. The real controller runs against it over HTTP
while pods restart and a StatefulSet scales; the demo narrates what the
controller reported (each patch, each hold, when) and ends with the state
read back through the API, then runs ``audit`` to show what happened to the
hand-kept entry nobody repaired: its stale address now belongs to a pod of
another workload.

Everything printed is observed, not assumed: patches are the controller's own
reports, the final table is read from the API server, and "untouched" is
checked against the simulator's write log.

Not shown yet: paired ClusterIP Services for headless gRPC Services (that
feature is not built).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any

from kubernetes_asyncio.client import ApiClient, CustomObjectsApi

from reconciler.api.client import USER_AGENT, KubeClient, load_configuration
from reconciler.applying.applier import Applied, Outcome
from reconciler.config import AuditSettings, RunSettings
from reconciler.models.refs import Kind, ObjectKey
from reconciler.planning.references import POD_ANNOTATION, POD_NAME_LABEL, SERVICE_ANNOTATION
from reconciler.reporting.commands import run_audit
from reconciler.running import build_controller
from reconciler.simulator.cluster import simulated_cluster
from reconciler.simulator.store import WriteRecord
from reconciler.testbed.addresses import PodIpAllocator
from reconciler.testbed.statefulsets import StatefulPodSet, ensure_namespace
from reconciler.testbed.waiting import wait_for_ready_addresses

Say = Callable[[str], None]
JsonObject = dict[str, Any]

ISTIO = ("networking.istio.io", "v1")
SHOP, LEDGER = "shop", "ledger"
WEB_ENTRY = "web-static"
DB_ENTRY = "db-0"
WORKLOAD_ENTRY = "web-1"
UNMANAGED_ENTRY = "legacy-static"
CONTROLLER_AGENT = USER_AGENT.split("/", 1)[0]
STEP_WITHIN = 10.0
"""Seconds the controller gets to repair each step before the demo calls it a failure."""


def _print(line: str) -> None:
    print(line, flush=True)


# -- the world ------------------------------------------------------------------------------------


def _service_entry(
    name: str,
    *,
    namespace: str,
    hosts: list[str],
    endpoints: list[JsonObject],
    annotations: dict[str, str] | None = None,
) -> JsonObject:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "ServiceEntry",
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations or {}},
        "spec": {
            "hosts": hosts,
            "location": "MESH_INTERNAL",
            "resolution": "STATIC",
            "ports": [{"number": 8080, "name": "http", "protocol": "HTTP"}],
            "endpoints": endpoints,
        },
    }


def _endpoints(pods: StatefulPodSet, indexes: Iterable[int]) -> list[JsonObject]:
    return [
        {"address": pods.pod(i).addresses[0], "labels": {POD_NAME_LABEL: pods.pod(i).name}}
        for i in indexes
    ]


@dataclass
class World:
    web: StatefulPodSet
    db: StatefulPodSet


async def _start(api: ApiClient, pods: StatefulPodSet, replicas: int) -> None:
    await ensure_namespace(api, pods.namespace)
    await pods.create(replicas)
    await wait_for_ready_addresses(
        api, namespace=pods.namespace, service=pods.service_name, expected=pods.ready_addresses()
    )


async def seed(api: ApiClient) -> World:
    """Both namespaces, their pods, and the four entries (created with the right addresses)."""
    addresses = PodIpAllocator()
    world = World(
        web=StatefulPodSet(api, name="web", namespace=SHOP, allocator=addresses),
        db=StatefulPodSet(api, name="db", namespace=LEDGER, allocator=addresses),
    )
    await _start(api, world.web, 3)
    await _start(api, world.db, 2)
    custom: Any = CustomObjectsApi(api)
    web_host = "web.shop.svc.cluster.local"
    entries = [
        _service_entry(
            WEB_ENTRY,
            namespace=SHOP,
            hosts=[web_host],
            endpoints=_endpoints(world.web, range(3)),
            annotations={SERVICE_ANNOTATION: "web"},
        ),
        _service_entry(
            DB_ENTRY,
            namespace=LEDGER,
            hosts=["db-0.db.ledger.svc.cluster.local"],
            endpoints=_endpoints(world.db, [0]),
            annotations={POD_ANNOTATION: "db-0"},
        ),
        _service_entry(
            UNMANAGED_ENTRY,
            namespace=SHOP,
            hosts=[web_host],
            endpoints=_endpoints(world.web, range(3)),
        ),
    ]
    for entry in entries:
        namespace = entry["metadata"]["namespace"]
        await custom.create_namespaced_custom_object(*ISTIO, namespace, "serviceentries", entry)
    workload = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "WorkloadEntry",
        "metadata": {
            "name": WORKLOAD_ENTRY,
            "namespace": SHOP,
            "annotations": {POD_ANNOTATION: "web-1"},
        },
        "spec": {"address": world.web.pod(1).addresses[0], "labels": {"app": "web"}},
    }
    await custom.create_namespaced_custom_object(*ISTIO, SHOP, "workloadentries", workload)
    return world


def _describe_world(say: Say) -> None:
    say("namespace shop: StatefulSet web, 3 ready pods behind headless Service web")
    say(f"  ServiceEntry {SHOP}/{WEB_ENTRY}      follows Service web (opted in)")
    say(f"  WorkloadEntry {SHOP}/{WORKLOAD_ENTRY}          follows pod web-1 (opted in)")
    say(f"  ServiceEntry {SHOP}/{UNMANAGED_ENTRY}   a hand-kept copy of web's IPs (not opted in)")
    say("namespace ledger: StatefulSet db, 2 ready pods behind headless Service db")
    say(f"  ServiceEntry {LEDGER}/{DB_ENTRY}          follows pod db-0 only (opted in)")


# -- what the controller reports ------------------------------------------------------------------


class Narration:
    """The controller's reports (its ``on_result``), timed, and waits on what comes next."""

    def __init__(self) -> None:
        self.results: list[tuple[float, Applied]] = []
        self._arrived = asyncio.Event()

    def record(self, applied: Applied, observed_at: float | None) -> None:
        del observed_at
        self.results.append((time.monotonic(), applied))
        self._arrived.set()

    def mark(self) -> int:
        return len(self.results)

    async def until_updated(self, expected: dict[ObjectKey, str], *, after: int) -> None:
        """Until each key was patched with a message naming its expected address."""

        def done() -> bool:
            return all(
                any(
                    applied.key == key
                    and applied.outcome is Outcome.UPDATED
                    and address in applied.message
                    for _, applied in self.results[after:]
                )
                for key, address in expected.items()
            )

        async with asyncio.timeout(STEP_WITHIN):
            while not done():
                self._arrived.clear()
                await self._arrived.wait()

    def tell(self, say: Say, *, after: int, began: float) -> float:
        """Print the patches and holds since ``after``; the time of the last patch."""
        last = began
        for at, applied in self.results[after:]:
            if applied.outcome not in (Outcome.UPDATED, Outcome.HELD):
                continue
            verb = "patched" if applied.outcome is Outcome.UPDATED else "held   "
            name = f"{applied.key.kind} {applied.key.namespace}/{applied.key.name}"
            say(f"  {(at - began) * 1000:5.0f} ms  {verb} {name}: {applied.message}")
            if applied.outcome is Outcome.UPDATED:
                last = at
        return last


# -- the story ------------------------------------------------------------------------------------


async def run_demo(say: Say = _print, *, keep_running: bool = False) -> int:
    """Play the story; return the process exit code."""
    started = time.monotonic()
    logging.getLogger().setLevel(logging.WARNING)
    # kubectl sends no token over plain HTTP: let it in when the user is invited to use it.
    async with (
        simulated_cluster(anonymous_is_admin=keep_running) as sim,
        sim.api_client() as api,
    ):
        say(f"Simulated Kubernetes API server at {sim.url} (no cluster needed)\n")
        world = await seed(api)
        _describe_world(say)
        with tempfile.TemporaryDirectory(prefix="headless-reconciler-demo-") as scratch:
            kubeconfig = sim.write_kubeconfig(Path(scratch) / "kubeconfig")
            configuration = await load_configuration(kubeconfig=str(kubeconfig))
            async with KubeClient(configuration) as client:
                narration = Narration()
                controller = await build_controller(
                    RunSettings(kubeconfig=kubeconfig), client, on_result=narration.record
                )
                running = asyncio.create_task(controller.run(), name="controller")
                try:
                    await asyncio.wait_for(controller.cache.synced.wait(), STEP_WITHIN)
                    say("\nController started: caches synced, watching\n")
                    await _play(world, narration, say)
                except TimeoutError:
                    say(f"\nThe controller did not repair that within {STEP_WITHIN:.0f}s.")
                    return 1
                else:
                    await _final_state(api, world, sim.store.write_log, say)
                    await _audit(kubeconfig, say)
                    say(f"\nDone in {time.monotonic() - started:.1f}s.")
                    if keep_running:
                        await _keep_running(sim.url, kubeconfig, say)
                finally:
                    controller.stop()
                    with contextlib.suppress(asyncio.CancelledError):
                        await running
    return 0


async def _play(world: World, narration: Narration, say: Say) -> None:
    web, db = world.web, world.db
    old = web.pod(1).addresses[0]
    await _step(
        narration,
        say,
        action=lambda: web.restart(1),
        headline=lambda: (
            f"1. Pod shop/web-1 restarts: {old} -> {web.pod(1).addresses[0]} "
            f"(drift: its entries held {old})"
        ),
        expected=lambda: {
            ObjectKey(Kind.SERVICE_ENTRY, SHOP, WEB_ENTRY): web.pod(1).addresses[0],
            ObjectKey(Kind.WORKLOAD_ENTRY, SHOP, WORKLOAD_ENTRY): web.pod(1).addresses[0],
        },
    )
    await _step(
        narration,
        say,
        action=lambda: web.scale(4),
        headline=lambda: (
            f"2. StatefulSet shop/web scales from 3 to 4 pods: web-3 starts at "
            f"{web.pod(3).addresses[0]}"
        ),
        expected=lambda: {ObjectKey(Kind.SERVICE_ENTRY, SHOP, WEB_ENTRY): web.pod(3).addresses[0]},
    )
    db_old = db.pod(0).addresses[0]
    await _step(
        narration,
        say,
        action=lambda: db.restart(0, reuse_ip_of="shop/web-1"),
        headline=lambda: (
            f"3. Pod ledger/db-0 restarts: {db_old} -> {db.pod(0).addresses[0]} "
            "(a recycled IP: web-1's before step 1)"
        ),
        expected=lambda: {ObjectKey(Kind.SERVICE_ENTRY, LEDGER, DB_ENTRY): db.pod(0).addresses[0]},
    )


async def _step(
    narration: Narration,
    say: Say,
    *,
    action: Callable[[], Any],
    headline: Callable[[], str],
    expected: Callable[[], dict[ObjectKey, str]],
) -> None:
    """Change the world, wait for the controller's patches, and tell what it did when."""
    after = narration.mark()
    began = time.monotonic()
    await action()
    say(headline())
    await narration.until_updated(expected(), after=after)
    last = narration.tell(say, after=after, began=began)
    say(f"  in sync {(last - began) * 1000:.0f} ms after the change began\n")


# -- the result -----------------------------------------------------------------------------------


async def _get(api: ApiClient, plural: str, namespace: str, name: str) -> JsonObject:
    custom: Any = CustomObjectsApi(api)
    found: JsonObject = await custom.get_namespaced_custom_object(*ISTIO, namespace, plural, name)
    return found


def _by_pod(entry: JsonObject) -> dict[str, str]:
    return {
        (endpoint.get("labels") or {}).get(POD_NAME_LABEL, "?"): endpoint["address"]
        for endpoint in entry["spec"].get("endpoints") or []
    }


def table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "    " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


async def _final_state(
    api: ApiClient, world: World, write_log: list[WriteRecord], say: Say
) -> None:
    web_entry = _by_pod(await _get(api, "serviceentries", SHOP, WEB_ENTRY))
    db_entry = _by_pod(await _get(api, "serviceentries", LEDGER, DB_ENTRY))
    workload = await _get(api, "workloadentries", SHOP, WORKLOAD_ENTRY)
    legacy = await _get(api, "serviceentries", SHOP, UNMANAGED_ENTRY)
    rows: list[tuple[str, ...]] = [("POD", "POD IP", "ENTRY", "ENTRY HOLDS")]
    in_sync = True
    for pod in world.web.pods:
        ip = pod.addresses[0]
        held = web_entry.get(pod.name, "-")
        in_sync &= held == ip
        rows.append((f"shop/{pod.name}", ip, f"ServiceEntry {WEB_ENTRY}", held))
        if pod.name == WORKLOAD_ENTRY:
            address = workload["spec"].get("address", "-")
            in_sync &= address == ip
            rows.append(("", "", f"WorkloadEntry {WORKLOAD_ENTRY}", address))
    for pod in world.db.pods:
        ip = pod.addresses[0]
        held = db_entry.get(pod.name, "")
        in_sync &= pod.name != DB_ENTRY or held == ip
        rows.append((f"ledger/{pod.name}", ip, f"ServiceEntry {DB_ENTRY}" if held else "", held))
    say("Final state, read back from the API server:")
    say(table(rows))
    say(f"Every opted-in entry holds its pods' current IPs: {'yes' if in_sync else 'NO'}")
    ours = [w for w in write_log if w.user_agent.startswith(CONTROLLER_AGENT) and w.applied]
    patches = sum(1 for w in ours if w.resource != "events")
    events = sum(1 for w in ours if w.resource == "events")
    touched = any(w.name == UNMANAGED_ENTRY for w in ours if w.resource != "events")
    say(f"Controller writes: {patches} patches, {events} Events")
    listed = ", ".join(_by_pod(legacy).values())
    say(f"\nServiceEntry shop/{UNMANAGED_ENTRY} (not opted in) still lists {listed}")
    say(f"  untouched by the controller: {'NO' if touched else 'yes'}\n")


async def _audit(kubeconfig: Path, say: Say) -> None:
    """What ``headless-reconciler audit`` says about the same cluster, indented."""
    out, err = StringIO(), StringIO()
    await run_audit(AuditSettings(kubeconfig=kubeconfig), out=out, err=err)
    say("headless-reconciler audit (read-only) reports what nothing keeps:")
    for line in (out.getvalue() + err.getvalue()).splitlines():
        say(f"    {line}" if line else "")


async def _keep_running(url: str, kubeconfig: Path, say: Say) -> None:
    say(
        "\n".join(
            [
                "",
                f"Still running: the simulated API server at {url} and the controller.",
                f"kubeconfig: {kubeconfig}",
                "Try:",
                f"  headless-reconciler diff --kubeconfig {kubeconfig}",
                f"  headless-reconciler audit --kubeconfig {kubeconfig}",
                f"  kubectl --kubeconfig {kubeconfig} get serviceentries,workloadentries -A",
                "Press Ctrl-C to stop.",
            ]
        )
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    say("Stopped.")
