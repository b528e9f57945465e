"""LIST: pagination, selectors and resourceVersion rules, as recorded in fidelity 04 and 06."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest
from kubernetes_asyncio.client import ApiClient, CoreV1Api

from reconciler.simulator.simulator import Simulator

PODS = "/api/v1/namespaces/default/pods"
SE = "/apis/networking.istio.io/v1/namespaces/default/serviceentries"


def token_content(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


@pytest.fixture
async def five_pods(http, manifests) -> None:
    """p-0..p-4 labelled app=app-<i>, tier=x; p-1 and p-3 Running, the rest Pending."""
    for index in range(5):
        body = manifests.pod(f"p-{index}", labels={"app": f"app-{index}", "tier": "x"})
        if index == 4:
            body["spec"]["nodeName"] = "other-node"
        assert (await http.post(PODS, body)).status == 201
        phase = "Running" if index in (1, 3) else "Pending"
        await http.patch(f"{PODS}/p-{index}/status", {"status": {"phase": phase}})


async def names(http, query: str, path: str = PODS) -> list[str]:
    reply = await http.get(path, query=query)
    assert reply.status == 200, reply.json()
    return [item["metadata"]["name"] for item in reply.json()["items"]]


@pytest.mark.usefixtures("five_pods")
async def test_pages_carry_one_snapshot_continue_tokens_and_remaining_counts(http) -> None:
    first = (await http.get(PODS, query="limit=2")).json()
    rv = first["metadata"]["resourceVersion"]
    assert list(first["metadata"]) == ["resourceVersion", "continue", "remainingItemCount"]
    assert token_content(first["metadata"]["continue"]) == (
        b'{"v":"meta.k8s.io/v1","rv":' + rv.encode() + b',"start":"p-1\\u0000"}'
    )
    assert not first["metadata"]["continue"].endswith("=")
    assert first["metadata"]["remainingItemCount"] == 3
    await http.post(PODS, {"metadata": {"name": "p-00"}, "spec": {"containers": [{"name": "c"}]}})
    second = (
        await http.get(PODS, query=[("limit", "2"), ("continue", first["metadata"]["continue"])])
    ).json()
    third = (
        await http.get(PODS, query=[("limit", "2"), ("continue", second["metadata"]["continue"])])
    ).json()
    assert second["metadata"]["remainingItemCount"] == 1
    assert third["metadata"] == {"resourceVersion": rv}
    pages = [first, second, third]
    assert [i["metadata"]["name"] for p in pages for i in p["items"]] == [
        f"p-{i}" for i in range(5)
    ]
    assert "kind" not in first["items"][0]


@pytest.mark.usefixtures("five_pods")
async def test_selector_pages_omit_remaining_count_and_can_end_empty(http) -> None:
    first = (await http.get(PODS, query="limit=1&labelSelector=app%3Dapp-4")).json()
    assert [i["metadata"]["name"] for i in first["items"]] == ["p-4"]
    assert "remainingItemCount" not in first["metadata"]
    cluster = (await http.get("/api/v1/pods", query="limit=1&labelSelector=app%3Dapp-0")).json()
    assert token_content(cluster["metadata"]["continue"]).endswith(b'"start":"default/p-0\\u0000"}')
    last = (
        await http.get(
            "/api/v1/pods",
            query=[
                ("limit", "1"),
                ("labelSelector", "app=app-0"),
                ("continue", cluster["metadata"]["continue"]),
            ],
        )
    ).json()
    assert last["items"] == []
    assert "continue" not in last["metadata"]


async def test_custom_resource_lists_always_carry_continue(http, manifests) -> None:
    for name in ("se-0", "se-1"):
        await http.post(SE, manifests.service_entry(name))
    first = (await http.get(SE, query="limit=1")).json()
    last = (
        await http.get(SE, query=[("limit", "1"), ("continue", first["metadata"]["continue"])])
    ).json()
    assert list(first) == ["apiVersion", "items", "kind", "metadata"]
    assert list(first["metadata"]) == ["continue", "remainingItemCount", "resourceVersion"]
    assert last["metadata"] == {
        "continue": "",
        "resourceVersion": first["metadata"]["resourceVersion"],
    }
    assert first["kind"] == "ServiceEntryList"
    assert first["items"][0]["kind"] == "ServiceEntry"


@pytest.mark.usefixtures("five_pods")
async def test_resource_version_zero_ignores_limit(http) -> None:
    body = (await http.get(PODS, query="limit=2&resourceVersion=0")).json()
    assert len(body["items"]) == 5
    assert list(body["metadata"]) == ["resourceVersion"]


@pytest.mark.usefixtures("five_pods")
async def test_negative_limit_means_no_limit(http) -> None:
    assert len(await names(http, "limit=-1")) == 5


async def test_non_numeric_limit_is_400(http) -> None:
    reply = await http.get(PODS, query="limit=abc")
    assert reply.status == 400
    assert reply.json()["message"] == 'strconv.ParseInt: parsing "abc": invalid syntax'


async def test_garbage_continue_token_is_400(http) -> None:
    reply = await http.get(PODS, query="limit=2&continue=not-a-valid-token")
    assert reply.status == 400
    assert reply.json()["message"] == (
        "invalid continue token: continue key is not valid: illegal base64 data at input byte 16"
    )


async def test_continue_with_a_resource_version_is_400(http) -> None:
    token = "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6NDIyLCJzdGFydCI6ImNtLTFcdTAwMDAifQ"
    reply = await http.get(PODS, query=f"limit=2&continue={token}&resourceVersion=5")
    assert reply.status == 400
    assert (
        reply.json()["message"] == "specifying resource version is not allowed when using continue"
    )


@pytest.mark.usefixtures("five_pods")
@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=app-1", ["p-1"]),
        ("app==app-1", ["p-1"]),
        ("app!=app-1", ["p-0", "p-2", "p-3", "p-4"]),
        ("app in (app-1,app-3)", ["p-1", "p-3"]),
        ("tier in (x,y),app notin (app-0,app-1)", ["p-2", "p-3", "p-4"]),
        ("tier", ["p-0", "p-1", "p-2", "p-3", "p-4"]),
        ("!tier", []),
        ("app==", []),
    ],
)
async def test_label_selectors(http, selector: str, expected: list[str]) -> None:
    assert await names(http, [("labelSelector", selector)]) == expected


@pytest.mark.usefixtures("five_pods")
async def test_pod_field_selectors(http) -> None:
    assert await names(http, [("fieldSelector", "status.phase=Running")]) == ["p-1", "p-3"]
    assert await names(http, [("fieldSelector", "spec.nodeName!=fake-node-1")]) == ["p-4"]
    assert await names(http, [("fieldSelector", "metadata.name=p-2")]) == ["p-2"]
    combined = [
        ("labelSelector", "tier in (x,y),app!=app-1"),
        ("fieldSelector", "status.phase=Running"),
    ]
    assert await names(http, combined) == ["p-3"]


async def test_custom_resource_field_selectors(http, manifests) -> None:
    for name in ("se-0", "se-1"):
        await http.post(SE, manifests.service_entry(name))
    assert await names(http, "fieldSelector=metadata.name%3Dse-1", SE) == ["se-1"]
    reply = await http.get(SE, query="fieldSelector=spec.resolution%3DDNS")
    assert reply.status == 400
    assert reply.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "field label not supported: spec.resolution",
        "reason": "BadRequest",
        "code": 400,
    }


async def test_exact_list_serves_the_historical_snapshot(http, manifests) -> None:
    await http.post(PODS, manifests.pod("a"))
    rv = (await http.get(PODS)).json()["metadata"]["resourceVersion"]
    await http.post(PODS, manifests.pod("b"))
    await http.patch(f"{PODS}/a", {"metadata": {"labels": {"changed": "yes"}}})
    old = (await http.get(PODS, query=f"resourceVersion={rv}&resourceVersionMatch=Exact")).json()
    assert old["metadata"]["resourceVersion"] == rv
    assert [i["metadata"]["name"] for i in old["items"]] == ["a"]
    assert "changed" not in old["items"][0]["metadata"]["labels"]
    newer = (
        await http.get(PODS, query=f"resourceVersion={rv}&resourceVersionMatch=NotOlderThan")
    ).json()
    assert [i["metadata"]["name"] for i in newer["items"]] == ["a", "b"]
    assert int(newer["metadata"]["resourceVersion"]) > int(rv)


async def test_exact_list_at_a_compacted_resource_version_is_410(
    http, manifests, sim: Simulator
) -> None:
    await http.post(PODS, manifests.pod("a"))
    rv = (await http.get(PODS)).json()["metadata"]["resourceVersion"]
    await http.post(PODS, manifests.pod("b"))
    sim.faults.compact("pods")
    reply = await http.get(PODS, query=f"resourceVersion={rv}&resourceVersionMatch=Exact")
    assert reply.status == 410
    assert reply.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "The resourceVersion for the provided list is too old.",
        "reason": "Expired",
        "code": 410,
    }


@pytest.mark.usefixtures("five_pods")
async def test_stale_continue_token_is_410_with_an_inconsistent_token(
    http, manifests, sim: Simulator
) -> None:
    first = (await http.get(PODS, query="limit=2")).json()
    await http.post(PODS, manifests.pod("p-9"))
    sim.faults.compact("pods")
    reply = await http.get(
        PODS, query=[("limit", "2"), ("continue", first["metadata"]["continue"])]
    )
    body = reply.json()
    assert reply.status == 410
    assert body["reason"] == "Expired"
    assert body["message"].startswith("The provided continue parameter is too old")
    assert token_content(body["metadata"]["continue"]) == (
        b'{"v":"meta.k8s.io/v1","rv":-1,"start":"p-1\\u0000"}'
    )
    rest = (
        await http.get(PODS, query=[("limit", "10"), ("continue", body["metadata"]["continue"])])
    ).json()
    assert [i["metadata"]["name"] for i in rest["items"]] == ["p-2", "p-3", "p-4", "p-9"]
    assert rest["metadata"]["resourceVersion"] == str(sim.store.resource_version)


async def test_future_resource_version_waits_then_504(http, sim: Simulator) -> None:
    reply = await http.get(PODS, query="resourceVersion=99999999")
    assert reply.status == 504
    assert reply.headers["Retry-After"] == "1"
    assert reply.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Timeout: Too large resource version: 99999999, current:"
        f" {sim.store.resource_version}",
        "reason": "Timeout",
        "details": {
            "causes": [
                {"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}
            ],
            "retryAfterSeconds": 1,
        },
        "code": 504,
    }


async def test_future_exact_resource_version_is_500(http) -> None:
    reply = await http.get(PODS, query="resourceVersion=99999999&resourceVersionMatch=Exact")
    assert reply.status == 500
    assert reply.json()["message"] == "etcdserver: mvcc: required revision is a future revision"
    assert "reason" not in reply.json()


async def test_non_numeric_resource_version_is_500_without_reason(http) -> None:
    reply = await http.get(PODS, query="resourceVersion=abc")
    assert reply.status == 500
    assert reply.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'resourceVersion: Invalid value: "abc": strconv.ParseUint: parsing "abc":'
        " invalid syntax",
        "code": 500,
    }


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "resourceVersionMatch=Exact",
            "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided",
        ),
        (
            "resourceVersion=0&resourceVersionMatch=Exact",
            'Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"',
        ),
    ],
)
async def test_resource_version_match_rules_are_422(http, query: str, message: str) -> None:
    reply = await http.get(PODS, query=query)
    body: dict[str, Any] = reply.json()
    assert reply.status == 422
    assert (
        body["message"] == f'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: {message}'
    )
    assert body["details"] == {
        "group": "meta.k8s.io",
        "kind": "ListOptions",
        "causes": [
            {"reason": "FieldValueForbidden", "message": message, "field": "resourceVersionMatch"}
        ],
    }


@pytest.mark.usefixtures("five_pods")
async def test_kubernetes_asyncio_paginates(api: ApiClient) -> None:
    core = CoreV1Api(api)
    seen: list[str] = []
    token = None
    while True:
        page = await core.list_namespaced_pod("default", limit=2, _continue=token)
        seen.extend(item.metadata.name for item in page.items)
        token = page.metadata._continue
        if not token:
            break
    assert seen == [f"p-{i}" for i in range(5)]


async def test_list_output_is_compact_json_with_a_trailing_newline(http) -> None:
    reply = await http.get(PODS)
    assert reply.raw == orjson.dumps(reply.json()) + b"\n"
