"""core/v1 and events.k8s.io/v1 Events: one store, two shapes (fidelity 11, README surprise 15)."""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio.client import ApiClient, CoreV1Api, EventsV1Api

CORE = "/api/v1/namespaces/default/events"
EVENTS = "/apis/events.k8s.io/v1/namespaces/default/events"
INVOLVED = {
    "apiVersion": "networking.istio.io/v1",
    "kind": "ServiceEntry",
    "name": "web-static",
    "namespace": "default",
    "uid": "d8624065-a6bd-4ba1-851e-b90c28d9fe4b",
}


def core_event(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": "default"},
        "involvedObject": dict(INVOLVED, resourceVersion="1552"),
        "reason": "EndpointsUpdated",
        "message": "endpoints set to 192.0.2.10, 192.0.2.13 (2 ready of 3 pods)",
        "type": "Normal",
        "source": {"component": "headless-reconciler", "host": "reconciler-7d9f"},
        "firstTimestamp": "2026-11-29T05:12:00Z",
        "lastTimestamp": "2026-11-29T05:12:00Z",
        "count": 1,
    }


def events_event(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": "default"},
        "eventTime": "2026-11-29T05:12:00.123456Z",
        "regarding": INVOLVED,
        "reason": "EndpointsUpdated",
        "note": "endpoints set to 192.0.2.10, 192.0.2.13",
        "action": "Reconcile",
        "type": "Normal",
        "reportingController": "headless-reconciler.io/controller",
        "reportingInstance": "headless-reconciler-reconciler-7d9f",
    }


async def test_core_event_is_stored_with_its_always_present_fields(http) -> None:
    reply = await http.post(CORE, core_event("web-static.1"))
    body = reply.json()
    assert reply.status == 201
    assert list(body) == [
        "kind",
        "apiVersion",
        "metadata",
        "involvedObject",
        "reason",
        "message",
        "source",
        "firstTimestamp",
        "lastTimestamp",
        "count",
        "type",
        "eventTime",
        "reportingComponent",
        "reportingInstance",
    ]
    assert (body["eventTime"], body["reportingComponent"], body["reportingInstance"]) == (
        None,
        "",
        "",
    )
    assert list(body["involvedObject"]) == [
        "kind",
        "namespace",
        "name",
        "uid",
        "apiVersion",
        "resourceVersion",
    ]


async def test_core_event_read_through_events_k8s_io(http) -> None:
    await http.post(CORE, core_event("web-static.1"))
    body = (await http.get(f"{EVENTS}/web-static.1")).json()
    assert body["apiVersion"] == "events.k8s.io/v1"
    assert list(body)[3:] == [
        "eventTime",
        "reason",
        "regarding",
        "note",
        "type",
        "deprecatedSource",
        "deprecatedFirstTimestamp",
        "deprecatedLastTimestamp",
        "deprecatedCount",
    ]
    assert body["eventTime"] is None
    assert body["note"] == "endpoints set to 192.0.2.10, 192.0.2.13 (2 ready of 3 pods)"
    assert body["deprecatedSource"] == {
        "component": "headless-reconciler",
        "host": "reconciler-7d9f",
    }
    assert body["deprecatedCount"] == 1
    assert body["regarding"]["resourceVersion"] == "1552"


async def test_events_k8s_io_event_read_through_core(http) -> None:
    created = await http.post(EVENTS, events_event("web-static.2"))
    assert created.status == 201, created.json()
    assert list(created.json())[3:] == [
        "eventTime",
        "reportingController",
        "reportingInstance",
        "action",
        "reason",
        "regarding",
        "note",
        "type",
        "deprecatedSource",
        "deprecatedFirstTimestamp",
        "deprecatedLastTimestamp",
    ]
    body = (await http.get(f"{CORE}/web-static.2")).json()
    assert list(body)[3:] == [
        "involvedObject",
        "reason",
        "message",
        "source",
        "firstTimestamp",
        "lastTimestamp",
        "type",
        "eventTime",
        "action",
        "reportingComponent",
        "reportingInstance",
    ]
    assert body["message"] == "endpoints set to 192.0.2.10, 192.0.2.13"
    assert body["reportingComponent"] == "headless-reconciler.io/controller"
    assert (body["source"], body["firstTimestamp"], body["lastTimestamp"]) == ({}, None, None)
    assert body["metadata"]["managedFields"][0]["apiVersion"] == "events.k8s.io/v1"


async def test_both_event_apis_list_and_delete_the_same_objects(api: ApiClient, http) -> None:
    core = CoreV1Api(api)
    await core.create_namespaced_event("default", core_event("a"))
    await EventsV1Api(api).create_namespaced_event("default", events_event("b"))
    assert [e.metadata.name for e in (await core.list_namespaced_event("default")).items] == [
        "a",
        "b",
    ]
    listed = (await http.get(EVENTS)).json()
    assert [e["metadata"]["name"] for e in listed["items"]] == ["a", "b"]
    assert (await http.delete(f"{EVENTS}/a")).status == 200
    assert [e.metadata.name for e in (await core.list_namespaced_event("default")).items] == ["b"]


async def test_count_bump_by_strategic_merge_patch(api: ApiClient, http) -> None:
    core = CoreV1Api(api)
    await core.create_namespaced_event("default", core_event("a"))
    bumped = await core.patch_namespaced_event(
        "a", "default", {"count": 3, "lastTimestamp": "2026-11-29T05:13:00Z", "message": "again"}
    )
    assert (bumped.count, bumped.message) == (3, "again")
    through_events = (await http.get(f"{EVENTS}/a")).json()
    assert through_events["deprecatedCount"] == 3
    assert through_events["deprecatedLastTimestamp"] == "2026-11-29T05:13:00Z"


async def test_events_k8s_io_watch_shows_the_events_shape(http) -> None:
    await http.post(CORE, core_event("a"))
    events = await http.watch_lines(EVENTS, "watch=true&timeoutSeconds=5", limit=1)
    assert events[0]["object"]["apiVersion"] == "events.k8s.io/v1"
    assert events[0]["object"]["note"].startswith("endpoints set to")
