"""The Simulator object: lifecycle, kubeconfig, request and write logs, controllers, playground."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from kubernetes_asyncio import config
from kubernetes_asyncio.client import ApiClient, Configuration, CoreV1Api

from reconciler.simulator.faults import RequestRecord
from reconciler.simulator.playground import run_playground
from reconciler.simulator.resources import SERVICES
from reconciler.simulator.simulator import Simulator
from reconciler.simulator.store import Store

SVC = "/api/v1/namespaces/default/services"


async def test_a_fresh_cluster_has_default_and_kube_system(api: ApiClient) -> None:
    namespaces = await CoreV1Api(api).list_namespace()
    assert [n.metadata.name for n in namespaces.items] == ["default", "kube-system"]
    assert namespaces.items[0].status.phase == "Active"
    assert namespaces.items[0].spec.finalizers == ["kubernetes"]


async def test_written_kubeconfig_works_with_kubernetes_asyncio(
    sim: Simulator, tmp_path: Path
) -> None:
    path = sim.write_kubeconfig(tmp_path / "kubeconfig")
    assert path.stat().st_mode & 0o777 == 0o600
    configuration = Configuration()
    await config.load_kube_config(config_file=str(path), client_configuration=configuration)
    assert configuration.host == sim.url
    async with ApiClient(configuration) as client:
        listed = await CoreV1Api(client).list_namespaced_service("default")
    assert listed.items == []


async def test_requests_are_logged_as_rbac_names_them(http, manifests, sim: Simulator) -> None:
    sim.requests.clear()
    await http.post(SVC, manifests.service("web"), headers={"User-Agent": "tester/1.0"})
    await http.get(f"{SVC}/web")
    await http.get("/api/v1/services")
    await http.patch("/api/v1/namespaces/default/pods/p/status", {})
    await http.get(SVC, query="watch=false")
    await http.delete(SVC)
    await http.get("/apis")
    assert [
        (r.verb, r.group, r.resource, r.subresource, r.namespace, r.name) for r in sim.requests
    ] == [
        ("create", "", "services", "", "default", ""),
        ("get", "", "services", "", "default", "web"),
        ("list", "", "services", "", "", ""),
        ("patch", "", "pods", "status", "default", "p"),
        ("list", "", "services", "", "default", ""),
        ("deletecollection", "", "services", "", "default", ""),
        ("get", "", "", "", "", ""),
    ]
    assert sim.requests[0] == RequestRecord(
        "create", "", "services", "", "default", "", "tester/1.0", SVC
    )


async def test_every_write_lands_in_the_write_log(http, manifests, sim: Simulator) -> None:
    sim.store.write_log.clear()
    created = (await http.post(SVC, manifests.service("web"))).json()
    await http.post(SVC, manifests.service("web"))
    await http.patch(f"{SVC}/web", {"metadata": {"labels": {"x": "y"}}}, query="dryRun=All")
    await http.delete(f"{SVC}/web")
    log = sim.store.write_log
    assert [(w.verb, w.resource, w.name, w.code, w.dry_run, w.applied) for w in log] == [
        ("create", "services", "web", 201, False, True),
        ("create", "services", "web", 409, False, False),
        ("patch", "services", "web", 200, True, False),
        ("delete", "services", "web", 200, False, True),
    ]
    assert log[0].resource_version == int(created["metadata"]["resourceVersion"])
    assert log[0].body["metadata"]["name"] == "web"
    assert log[2].content_type == "application/merge-patch+json"


class _Counting:
    """A controller that records it ran and was cancelled."""

    instances: list[_Counting] = []

    def __init__(self, store: Store) -> None:
        self.store = store
        self.running = asyncio.Event()
        self.cancelled = False
        _Counting.instances.append(self)

    async def run(self) -> None:
        self.running.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise


async def test_controllers_run_beside_the_server_and_stop_with_it() -> None:
    store = Store()
    _Counting.instances.clear()
    async with Simulator(store=store, controllers=[_Counting]) as sim:
        (controller,) = _Counting.instances
        await asyncio.wait_for(controller.running.wait(), timeout=5)
        assert controller.store is sim.store is store
    assert controller.cancelled


async def test_stop_ends_open_watches_cleanly(http, manifests, sim: Simulator) -> None:
    await http.post(SVC, manifests.service("a"))
    watching = asyncio.create_task(http.watch_lines(SVC, "watch=true&timeoutSeconds=60"))
    await asyncio.wait_for(sim.wait_for_open_watches(1), timeout=5)
    await sim.stop()
    events = await asyncio.wait_for(watching, timeout=5)
    assert [e["type"] for e in events] == ["ADDED"]
    assert sim.open_watches == 0


async def test_playground_seeds_the_world_and_serves_until_cancelled(
    tmp_path: Path, capsys
) -> None:
    seeded = asyncio.Event()

    async def seed(api: ApiClient) -> None:
        await CoreV1Api(api).create_namespace({"metadata": {"name": "demo"}})
        seeded.set()

    kubeconfig = tmp_path / "kube" / "config"
    playground = asyncio.create_task(
        run_playground(port=0, kubeconfig_out=kubeconfig, seed_world=seed)
    )
    await asyncio.wait_for(seeded.wait(), timeout=5)
    configuration = Configuration()
    await config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    async with ApiClient(configuration) as client:
        names = [n.metadata.name for n in (await CoreV1Api(client).list_namespace()).items]
    assert "demo" in names
    playground.cancel()
    with pytest.raises(asyncio.CancelledError):
        await playground
    assert f"export KUBECONFIG={kubeconfig}" in capsys.readouterr().out


async def test_objects_survive_in_a_store_handed_to_a_new_simulator() -> None:
    store = Store()
    async with Simulator(store=store) as first, first.api_client() as client:
        await CoreV1Api(client).create_namespaced_service(
            "default", {"metadata": {"name": "kept"}, "spec": {"ports": [{"port": 80}]}}
        )
    async with Simulator(store=store) as second, second.api_client() as client:
        kept = await CoreV1Api(client).read_namespaced_service("kept", "default")
    assert kept.metadata.name == "kept"
    assert store.get(SERVICES, "default", "kept") is not None
