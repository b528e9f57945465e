"""Fault injection through ``sim.faults``, observed by real clients."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from kubernetes_asyncio import watch
from kubernetes_asyncio.client import ApiClient, CoreV1Api

from reconciler.simulator.simulator import Simulator

SVC = "/api/v1/namespaces/default/services"
PODS = "/api/v1/namespaces/default/pods"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/default/leases"


@pytest.mark.parametrize(
    ("code", "body", "retry_after"),
    [
        (
            500,
            {
                "message": "Internal error occurred: injected fault",
                "reason": "InternalError",
                "details": {"causes": [{"message": "injected fault"}]},
            },
            None,
        ),
        (
            503,
            {
                "message": "the server is currently unable to handle the request",
                "reason": "ServiceUnavailable",
            },
            None,
        ),
        (
            429,
            {
                "message": "Too many requests, please try again later.",
                "reason": "TooManyRequests",
                "details": {"retryAfterSeconds": 2},
            },
            "2",
        ),
    ],
)
async def test_injected_errors_are_real_status_responses(
    http, sim: Simulator, code: int, body: dict[str, object], retry_after: str | None
) -> None:
    sim.faults.fail(code, verb="list", retry_after=2)
    reply = await http.get(SVC)
    assert reply.status == code
    assert reply.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        **body,
        "code": code,
    }
    assert reply.headers.get("Retry-After") == retry_after


async def test_error_rates_are_reproducible_with_a_seed(http) -> None:
    async def statuses(seed: int) -> list[int]:
        async with Simulator(seed=seed) as other, aiohttp.ClientSession() as session:
            other.faults.fail(500, verb="list", rate=0.5)
            headers = {"Authorization": f"Bearer {other.token}"}
            found = []
            for _ in range(20):
                async with session.get(other.url + SVC, headers=headers) as response:
                    found.append(response.status)
            return found

    first, second = await statuses(7), await statuses(7)
    assert first == second
    assert set(first) == {200, 500}


async def test_rules_match_verb_and_resource_and_can_run_out(http, sim: Simulator) -> None:
    sim.faults.fail(503, verb="list", resource="services", times=2)
    assert [(await http.get(SVC)).status for _ in range(3)] == [503, 503, 200]
    sim.faults.fail(503, verb="list", resource="services")
    assert (await http.get(PODS)).status == 200
    assert (await http.get(f"{SVC}/absent")).status == 404


async def test_the_typed_client_sees_injected_errors(api: ApiClient, sim: Simulator) -> None:
    sim.faults.fail(429, verb="list", times=1)
    core = CoreV1Api(api)
    with pytest.raises(Exception, match="429"):
        await core.list_namespaced_service("default")
    assert (await core.list_namespaced_service("default")).items == []


async def test_latency_is_added(http, sim: Simulator) -> None:
    sim.faults.delay(0.2, verb="get")
    started = time.monotonic()
    await http.get(f"{SVC}/absent")
    assert time.monotonic() - started >= 0.2


async def test_watch_connections_are_cut_after_n_events(http, manifests, sim: Simulator) -> None:
    for name in ("a", "b", "c"):
        await http.post(SVC, manifests.service(name))
    sim.faults.drop_watches_after(2, resource="services", times=1)
    received: list[bytes] = []

    async def follow() -> None:
        async with aiohttp.ClientSession() as session:
            headers = {"Authorization": f"Bearer {sim.token}"}
            url = f"{sim.url}{SVC}?watch=true&timeoutSeconds=5"
            async with session.get(url, headers=headers) as response:
                async for line in response.content:
                    received.append(line)

    with pytest.raises(aiohttp.ClientPayloadError):
        await follow()
    assert len(received) == 2
    assert len(await http.watch_lines(SVC, "watch=true&timeoutSeconds=5", limit=3)) == 3


async def test_next_watch_of_a_resource_expires(http, sim: Simulator) -> None:
    sim.faults.expire_next_watch("services")
    rv = (await http.get(SVC)).json()["metadata"]["resourceVersion"]
    events = await http.watch_lines(SVC, f"watch=true&resourceVersion={rv}&timeoutSeconds=1")
    assert [(e["type"], e["object"]["code"], e["object"]["reason"]) for e in events] == [
        ("ERROR", 410, "Expired")
    ]
    assert await http.watch_lines(SVC, f"watch=true&resourceVersion={rv}&timeoutSeconds=1") == []


async def test_kubernetes_asyncio_watch_raises_on_an_expired_watch(
    api: ApiClient, sim: Simulator
) -> None:
    sim.faults.expire_next_watch("services")
    stream = watch.Watch()
    with pytest.raises(Exception, match="410"):
        async for _ in stream.stream(
            CoreV1Api(api).list_namespaced_service, "default", resource_version="1"
        ):
            pass
    await stream.close()


async def test_forbidden_verb_gets_a_real_403(http, sim: Simulator) -> None:
    sim.faults.forbid("list", "services")
    reply = await http.get(SVC)
    assert reply.status == 403
    assert reply.json()["message"] == (
        'services is forbidden: User "admin" cannot list resource "services" in API group "" in the'
        ' namespace "default"'
    )
    assert (await http.get(PODS)).status == 200


async def test_held_requests_wait_until_released(http, manifests, sim: Simulator) -> None:
    lease = (await http.post(LEASES, manifests.lease("leader"))).json()
    hold = sim.faults.hold(
        lambda request: request.verb == "update" and request.resource == "leases"
    )
    renewal = asyncio.create_task(http.put(f"{LEASES}/leader", lease))
    await asyncio.wait_for(hold.wait_arrived(), timeout=5)
    assert not renewal.done()
    assert (await http.get(f"{LEASES}/leader")).status == 200
    hold.release()
    assert (await asyncio.wait_for(renewal, timeout=5)).status == 200
    assert hold.held[0].name == "leader"


async def test_restart_drops_connections_and_refuses_new_ones(
    http, manifests, sim: Simulator
) -> None:
    await http.post(SVC, manifests.service("a"))
    watching = asyncio.create_task(http.watch_lines(SVC, "watch=true&timeoutSeconds=30"))
    await asyncio.wait_for(sim.wait_for_open_watches(1), timeout=5)
    restart = asyncio.create_task(sim.faults.restart(0.5))
    with pytest.raises(aiohttp.ClientError):
        await asyncio.wait_for(watching, timeout=5)
    with pytest.raises(aiohttp.ClientConnectionError):
        await http.get(SVC)
    await asyncio.wait_for(restart, timeout=5)
    assert (await http.get(SVC)).status == 200


async def test_clear_removes_every_rule(http, sim: Simulator) -> None:
    sim.faults.fail(500)
    sim.faults.forbid("get", "services")
    sim.faults.clear()
    assert (await http.get(SVC)).status == 200


async def test_rules_aimed_at_one_client_spare_the_others(http, sim: Simulator) -> None:
    sim.faults.fail(503, verb="list", agent="headless-reconciler/")
    sim.faults.expire_next_watch("services", agent="headless-reconciler/")
    controller = {"User-Agent": "headless-reconciler/0.1.0 (replica-0)"}
    assert (await http.get(SVC, headers=controller)).status == 503
    listed = await http.get(SVC, headers={"User-Agent": "kubectl/v1.28"})
    assert listed.status == 200
    rv = listed.json()["metadata"]["resourceVersion"]
    events = await http.watch_lines(SVC, f"watch=true&resourceVersion={rv}&timeoutSeconds=1")
    assert not any(e["type"] == "ERROR" for e in events), "the expiry was aimed elsewhere"


async def test_a_lifted_rule_no_longer_applies(http, sim: Simulator) -> None:
    kept = sim.faults.fail(500, verb="get")
    lifted = sim.faults.fail(503, verb="list")
    sim.faults.lift(lifted)
    assert (await http.get(SVC)).status == 200
    assert (await http.get(f"{SVC}/absent")).status == 500
    sim.faults.lift(kept)
    assert (await http.get(f"{SVC}/absent")).status == 404


async def test_open_watches_are_cut_now_by_resource_and_client(sim: Simulator) -> None:
    headers = {"Authorization": f"Bearer {sim.token}"}
    async with aiohttp.ClientSession() as session:

        async def follow(path: str, agent: str) -> str:
            url = f"{sim.url}{path}?watch=true&timeoutSeconds=10"
            async with session.get(url, headers={**headers, "User-Agent": agent}) as response:
                try:
                    async for _ in response.content:
                        pass
                except aiohttp.ClientPayloadError:
                    return "cut"
            return "ended"

        services = asyncio.create_task(follow(SVC, "headless-reconciler/0.1.0 (a)"))
        pods = asyncio.create_task(follow(PODS, "headless-reconciler/0.1.0 (a)"))
        other = asyncio.create_task(follow(SVC, "kubectl/v1.28"))
        await asyncio.wait_for(sim.wait_for_open_watches(3), 5)
        await asyncio.wait_for(sim.wait_for_open_watches(2, agent="headless-reconciler/"), 5)

        assert sim.cut_watches(resource="services", agent="headless-reconciler/") == 1
        assert await asyncio.wait_for(services, 5) == "cut"
        await asyncio.wait_for(sim.wait_for_open_watches(2), 5)
        assert not pods.done()
        assert not other.done()
        assert sim.cut_watches() == 2
        assert await asyncio.wait_for(asyncio.gather(pods, other), 5) == ["cut", "cut"]
