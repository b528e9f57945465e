"""The watch layer against the simulated API server: pages, stale tokens, dropped streams."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from pathlib import Path
from typing import Any

import pytest

from reconciler.api.client import KubeClient, load_configuration
from reconciler.api.resources import ENDPOINT_SLICES, NAMESPACES, SERVICE_ENTRIES, SERVICES
from reconciler.simulator import resources as served
from reconciler.simulator import serialization
from reconciler.simulator.simulator import Simulator
from reconciler.watching import (
    Applied,
    Backoff,
    Relisted,
    Restart,
    RestartReason,
    Watcher,
    list_all,
)

NAMESPACE = "paging"


def service_entry(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "ServiceEntry",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "hosts": [f"{name}.example.com"],
            "resolution": "STATIC",
            "ports": [{"name": "http", "number": 80, "protocol": "HTTP"}],
            "endpoints": [{"address": "10.2.0.1"}],
        },
    }


def endpoint_slice(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.2.0.1"], "conditions": {"ready": True}}],
    }


class Requests:
    """The request observer: every (verb, resource, code), and an optional reaction to one."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []
        self.react: Callable[[tuple[str, str, str]], None] = lambda request: None

    def __call__(self, verb: str, resource: str, code: str) -> None:
        self.seen.append((verb, resource, code))
        self.react((verb, resource, code))

    def count(self, verb: str, resource: str) -> int:
        return sum(1 for seen in self.seen if seen[:2] == (verb, resource))


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator() as simulator:
        yield simulator


@pytest.fixture
def requests() -> Requests:
    return Requests()


@pytest.fixture
async def kube(sim: Simulator, tmp_path: Path, requests: Requests) -> AsyncIterator[KubeClient]:
    kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
    configuration = await load_configuration(kubeconfig=str(kubeconfig), environ={})
    async with KubeClient(configuration, on_request=requests) as kube:
        await kube.create(NAMESPACES, None, {"metadata": {"name": NAMESPACE}})
        yield kube


async def test_a_list_spanning_several_pages_returns_every_object_once(
    kube: KubeClient, requests: Requests
) -> None:
    for index in range(7):
        await kube.create(SERVICE_ENTRIES, NAMESPACE, service_entry(f"se-{index}"))
    listing = await list_all(kube, SERVICE_ENTRIES, namespace=NAMESPACE, page_size=3)
    assert [entry.metadata.name for entry in listing.items] == [f"se-{i}" for i in range(7)]
    assert requests.count("list", "serviceentries") == 3
    assert int(listing.resource_version) >= max(
        int(entry.metadata.resource_version) for entry in listing.items
    )


async def test_a_continue_token_expired_between_pages_restarts_the_list(
    sim: Simulator, kube: KubeClient, requests: Requests
) -> None:
    for index in range(4):
        await kube.create(SERVICE_ENTRIES, NAMESPACE, service_entry(f"se-{index}"))

    def expire_the_snapshot_after_the_first_page(request: tuple[str, str, str]) -> None:
        if request == ("list", "serviceentries", "200") and requests.count(*request[:2]) == 1:
            late = serialization.to_storage(served.SERVICE_ENTRIES, service_entry("se-late"))
            sim.store.create(served.SERVICE_ENTRIES, late)
            sim.faults.compact()

    requests.react = expire_the_snapshot_after_the_first_page
    listing = await list_all(kube, SERVICE_ENTRIES, namespace=NAMESPACE, page_size=2)
    names = [entry.metadata.name for entry in listing.items]
    assert names == ["se-0", "se-1", "se-2", "se-3", "se-late"]
    assert [code for verb, _, code in requests.seen if verb == "list"] == [
        "200",
        "410",
        "200",
        "200",
        "200",
    ]


async def test_a_dropped_watch_resumes_from_the_last_event_without_relisting(
    sim: Simulator, kube: KubeClient, requests: Requests, new_store: Callable[[], Any]
) -> None:
    sim.faults.drop_watches_after(2, resource="endpointslices", times=1)
    store = new_store()
    changed = asyncio.Event()
    restarts: list[Restart] = []
    applied: list[str] = []

    async def consume() -> None:
        watcher = Watcher(
            kube,
            ENDPOINT_SLICES,
            namespace=NAMESPACE,
            backoff=Backoff(random=lambda: 0.0),
            sleep=lambda delay: asyncio.sleep(0),
            on_restart=restarts.append,
        )
        async with aclosing(watcher.events()) as events:
            async for event in events:
                store.apply(event)
                if isinstance(event, Applied):
                    applied.append(event.object.metadata.name)
                changed.set()

    task = asyncio.create_task(consume())
    try:
        async with asyncio.timeout(5):
            while store.relists == 0:
                changed.clear()
                await changed.wait()
            for index in range(4):
                await kube.create(ENDPOINT_SLICES, NAMESPACE, endpoint_slice(f"web-{index}"))
            while len(store.objects) < 4:
                changed.clear()
                await changed.wait()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert sorted(name for _, name in store.objects) == [f"web-{i}" for i in range(4)]
    assert applied == [f"web-{i}" for i in range(4)], "resumed after web-1, nothing replayed"
    assert store.relists == 1
    assert requests.count("list", "endpointslices") == 1
    assert requests.count("watch", "endpointslices") == 2
    assert [(r.reason, r.relist) for r in restarts] == [(RestartReason.TRANSIENT, False)]


async def test_bookmarks_carry_the_resume_point_past_writes_to_other_kinds(
    sim: Simulator, kube: KubeClient
) -> None:
    sim.bookmark_interval = 0.2
    relisted: list[str] = []
    restarts: list[Restart] = []
    listed, closed = asyncio.Event(), asyncio.Event()

    def on_restart(restart: Restart) -> None:
        restarts.append(restart)
        closed.set()

    watcher = Watcher(
        kube,
        SERVICE_ENTRIES,
        namespace=NAMESPACE,
        watch_timeout=1,
        watch_timeout_jitter=0,
        on_restart=on_restart,
    )

    async def consume() -> None:
        async with aclosing(watcher.events()) as events:
            async for event in events:
                if isinstance(event, Relisted):
                    relisted.append(event.resource_version)
                    listed.set()

    task = asyncio.create_task(consume())
    try:
        await asyncio.wait_for(listed.wait(), timeout=5)
        service = {"metadata": {"name": "other"}, "spec": {"ports": [{"port": 80}]}}
        written = await kube.create(SERVICES, NAMESPACE, service)
        await asyncio.wait_for(closed.wait(), timeout=5)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    (restart,) = restarts
    assert (restart.reason, restart.delay) == (RestartReason.CLOSED, 0.0)
    assert restart.resume_from is not None
    assert int(restart.resume_from) >= int(written.metadata.resource_version) > int(relisted[0])
