"""The client against the simulated API server: retries, refusals and translated errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.api.client import KubeClient, PatchType, load_configuration
from reconciler.api.errors import (
    AlreadyExistsError,
    ConflictError,
    ForbiddenError,
    InvalidError,
    NotFoundError,
    TransientError,
    WriteFencedError,
)
from reconciler.api.resources import NAMESPACES, SERVICE_ENTRIES, SERVICES
from reconciler.api.retrying import RetryPolicy
from reconciler.simulator import resources as served
from reconciler.simulator.simulator import Simulator

NAMESPACE = "apps"


def service(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"clusterIP": "None", "selector": {"app": name}, "ports": [{"port": 80}]},
    }


def service_entry(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "ServiceEntry",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "hosts": [f"{name}.{NAMESPACE}.svc.cluster.local"],
            "location": "MESH_INTERNAL",
            "resolution": "STATIC",
            "ports": [{"name": "http", "number": 80, "protocol": "HTTP"}],
            "endpoints": [{"address": "10.0.0.1"}],
            **spec,
        },
    }


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator() as simulator:
        yield simulator


@pytest.fixture
async def client(
    sim: Simulator, tmp_path: Path, sleeps: Any
) -> AsyncIterator[tuple[KubeClient, list[tuple[str, str, str]]]]:
    configuration = await load_configuration(
        kubeconfig=str(sim.write_kubeconfig(tmp_path / "kubeconfig")), environ={}
    )
    requests: list[tuple[str, str, str]] = []
    kube = KubeClient(
        configuration,
        retry_policy=RetryPolicy(sleep=sleeps, random=lambda: 0.0),
        on_request=lambda *request: requests.append(request),
    )
    async with kube:
        await kube.create(NAMESPACES, None, {"metadata": {"name": NAMESPACE}})
        requests.clear()
        yield kube, requests


async def test_429_is_retried_honouring_retry_after(
    sim: Simulator, client: Any, sleeps: Any
) -> None:
    kube, requests = client
    sim.faults.fail(429, verb="create", resource="services", times=2, retry_after=2)
    created = await kube.create(SERVICES, NAMESPACE, service("web"))
    assert created.metadata.name == "web"
    assert sleeps.delays == [2.0, 2.0]
    assert [code for _, _, code in requests] == ["429", "429", "201"]


async def test_a_burst_of_500s_is_retried_with_growing_delays(
    sim: Simulator, client: Any, sleeps: Any
) -> None:
    kube, requests = client
    sim.faults.fail(500, verb="list", resource="services", times=3)
    await kube.list_page(SERVICES, namespace=NAMESPACE)
    assert sleeps.delays == [0.2, 0.4, 0.8]
    assert [code for _, _, code in requests] == ["500", "500", "500", "200"]


async def test_a_server_that_stays_unavailable_surfaces_a_transient_error(
    sim: Simulator, client: Any
) -> None:
    kube, requests = client
    sim.faults.fail(503, verb="get", resource="services")
    with pytest.raises(TransientError) as raised:
        await kube.get(SERVICES, NAMESPACE, "web")
    assert (raised.value.code, raised.value.reason) == (503, "ServiceUnavailable")
    assert len(requests) == 5


async def test_already_exists_is_not_retried(client: Any, sleeps: Any) -> None:
    kube, requests = client
    await kube.create(SERVICES, NAMESPACE, service("web"))
    with pytest.raises(AlreadyExistsError) as raised:
        await kube.create(SERVICES, NAMESPACE, service("web"))
    assert raised.value.message == 'services "web" already exists'
    assert requests[-1] == ("create", "services", "409")
    assert len(requests) == 2
    assert sleeps.delays == []


async def test_a_stale_resource_version_in_a_merge_patch_is_a_conflict_not_retried(
    sim: Simulator, client: Any
) -> None:
    kube, requests = client
    created = await kube.create(SERVICE_ENTRIES, NAMESPACE, service_entry("se"))
    await kube.patch(
        SERVICE_ENTRIES,
        NAMESPACE,
        "se",
        {"metadata": {"labels": {"a": "b"}}},
        content_type=PatchType.MERGE,
    )
    stale = {"metadata": {"resourceVersion": created.metadata.resource_version}, "spec": {}}
    with pytest.raises(ConflictError) as raised:
        await kube.patch(SERVICE_ENTRIES, NAMESPACE, "se", stale, content_type=PatchType.MERGE)
    assert not raised.value.already_exists
    assert raised.value.reason == "Conflict"
    assert 'serviceentries.networking.istio.io "se"' in raised.value.message
    assert [code for _, _, code in requests] == ["201", "200", "409"]


async def test_not_found_carries_the_server_message(client: Any) -> None:
    kube, _ = client
    with pytest.raises(NotFoundError) as raised:
        await kube.get(SERVICES, NAMESPACE, "nope")
    assert (raised.value.reason, raised.value.message) == ("NotFound", 'services "nope" not found')


async def test_an_invalid_service_entry_is_refused_with_istios_message_and_causes(
    client: Any,
) -> None:
    kube, _ = client
    with pytest.raises(InvalidError) as raised:
        await kube.create(SERVICE_ENTRIES, NAMESPACE, service_entry("bad", hosts=[]))
    assert raised.value.code == 422
    assert raised.value.message.startswith('ServiceEntry.networking.istio.io "bad" is invalid')
    assert any(cause.field == "spec.hosts" for cause in raised.value.causes)


async def test_forbidden_names_the_verb_and_resource(sim: Simulator, client: Any) -> None:
    kube, _ = client
    sim.faults.forbid("list", "serviceentries")
    with pytest.raises(ForbiddenError) as raised:
        await kube.list_page(SERVICE_ENTRIES)
    assert 'cannot list resource "serviceentries"' in raised.value.message


async def test_writes_name_the_field_manager_and_dry_run_persists_nothing(
    sim: Simulator, client: Any
) -> None:
    kube, _ = client
    await kube.create(SERVICES, NAMESPACE, service("dry"), dry_run=True)
    assert sim.store.get(served.SERVICES, NAMESPACE, "dry") is None
    await kube.create(SERVICES, NAMESPACE, service("wet"))
    write = sim.store.write_log[-1]
    assert (write.verb, write.name, write.field_manager) == ("create", "wet", "headless-reconciler")
    assert write.user_agent.startswith("headless-reconciler/")


async def test_a_closed_write_gate_stops_a_write_before_it_leaves(
    client: tuple[KubeClient, list[tuple[str, str, str]]], sim: Simulator
) -> None:
    """Leader election's fence at the wire: reads go on, writes are not sent at all."""
    kube, requests = client
    closed_for: list[str] = []

    def gate(resource: Any) -> bool:
        closed_for.append(resource.plural)
        return False

    kube.write_gate = gate
    before = len(sim.store.write_log)

    with pytest.raises(WriteFencedError):
        await kube.create(SERVICES, NAMESPACE, service("web"))
    await kube.list_page(SERVICES, namespace=NAMESPACE)

    assert closed_for == ["services"]
    assert len(sim.store.write_log) == before
    assert [verb for verb, _, _ in requests] == ["list"]
