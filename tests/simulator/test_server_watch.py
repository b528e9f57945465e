"""WATCH streams, as recorded in fidelity 05a, 05b, 06 and 12."""

from __future__ import annotations

import asyncio
import time

import pytest
from kubernetes_asyncio import watch
from kubernetes_asyncio.client import ApiClient, CoreV1Api

from reconciler.simulator.simulator import Simulator

SVC = "/api/v1/namespaces/default/services"
SE = "/apis/networking.istio.io/v1/namespaces/default/serviceentries"


async def current_rv(http, path: str = SVC) -> str:
    return str((await http.get(path)).json()["metadata"]["resourceVersion"])


@pytest.mark.parametrize(
    ("value", "watches"),
    [
        ("watch=true", True),
        ("watch=True", True),
        ("watch=TRUE", True),
        ("watch=1", True),
        ("watch=t", True),
        ("watch=yes", True),
        ("watch=no", True),
        ("watch=f", True),
        ("watch=", True),
        ("watch", True),
        ("watch=false", False),
        ("watch=False", False),
        ("watch=FALSE", False),
        ("watch=0", False),
    ],
)
async def test_watch_parameter_is_false_only_for_0_and_false(
    http, manifests, value: str, watches: bool
) -> None:
    await http.post(SVC, manifests.service("web"))
    lines = await http.watch_lines(SVC, f"{value}&timeoutSeconds=5", limit=1)
    assert ("type" in lines[0]) is watches
    assert lines[0].get("kind") == (None if watches else "ServiceList")


async def test_watch_without_resource_version_starts_with_synthetic_added(http, manifests) -> None:
    for name in ("b", "a"):
        await http.post(SVC, manifests.service(name))
    events = await http.watch_lines(SVC, "watch=true&timeoutSeconds=5", limit=2)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "a"),
        ("ADDED", "b"),
    ]
    assert list(events[0]["object"])[:3] == ["kind", "apiVersion", "metadata"]


async def test_watch_from_a_resource_version_replays_what_came_after(http, manifests) -> None:
    await http.post(SVC, manifests.service("a"))
    rv = await current_rv(http)
    await http.post(SVC, manifests.service("b"))
    await http.patch(f"{SVC}/a", {"metadata": {"labels": {"x": "y"}}})
    deleted = (await http.delete(f"{SVC}/b")).json()
    events = await http.watch_lines(SVC, f"watch=1&resourceVersion={rv}&timeoutSeconds=5", limit=3)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "b"),
        ("MODIFIED", "a"),
        ("DELETED", "b"),
    ]
    assert (
        events[2]["object"]["metadata"]["resourceVersion"] == deleted["metadata"]["resourceVersion"]
    )


async def test_too_old_resource_version_is_one_error_event_then_close(
    http, manifests, sim: Simulator
) -> None:
    rv = await current_rv(http)
    await http.post(SVC, manifests.service("a"))
    sim.faults.compact("services")
    events = await http.watch_lines(SVC, f"watch=true&resourceVersion={rv}&timeoutSeconds=5")
    assert events == [
        {
            "type": "ERROR",
            "object": {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": f"too old resource version: {rv} ({sim.store.resource_version + 1})",
                "reason": "Expired",
                "code": 410,
            },
        }
    ]


async def test_future_resource_version_is_silent_until_the_timeout(http) -> None:
    started = time.monotonic()
    events = await http.watch_lines(SVC, "watch=true&resourceVersion=99999999&timeoutSeconds=1")
    assert events == []
    assert time.monotonic() - started >= 0.9


async def test_builtin_bookmark_is_the_zero_value_of_the_type(
    http, manifests, sim: Simulator
) -> None:
    sim.bookmark_interval = 0.05
    await http.post(SVC, manifests.service("a"))
    rv = await current_rv(http)
    events = await http.watch_lines(
        "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices",
        f"watch=true&resourceVersion={rv}&allowWatchBookmarks=true&timeoutSeconds=5",
        limit=1,
    )
    assert events == [
        {
            "type": "BOOKMARK",
            "object": {
                "kind": "EndpointSlice",
                "apiVersion": "discovery.k8s.io/v1",
                "metadata": {"resourceVersion": rv, "creationTimestamp": None},
                "addressType": "",
                "endpoints": None,
                "ports": None,
            },
        }
    ]
    service_bookmark = await http.watch_lines(
        SVC, f"watch=true&resourceVersion={rv}&allowWatchBookmarks=true", limit=1
    )
    assert service_bookmark[0]["object"] == {
        "kind": "Service",
        "apiVersion": "v1",
        "metadata": {"resourceVersion": rv, "creationTimestamp": None},
        "spec": {},
        "status": {"loadBalancer": {}},
    }


async def test_custom_resource_bookmark_carries_only_the_resource_version(
    http, sim: Simulator
) -> None:
    sim.bookmark_interval = 0.05
    rv = await current_rv(http, SE)
    events = await http.watch_lines(
        SE, f"watch=true&resourceVersion={rv}&allowWatchBookmarks=true&timeoutSeconds=5", limit=1
    )
    assert events == [
        {
            "type": "BOOKMARK",
            "object": {
                "apiVersion": "networking.istio.io/v1",
                "kind": "ServiceEntry",
                "metadata": {"resourceVersion": rv},
            },
        }
    ]


async def test_bookmark_before_the_timeout_then_a_clean_close(http, manifests) -> None:
    rv = await current_rv(http)
    started = time.monotonic()
    events = await http.watch_lines(
        SVC, f"watch=true&resourceVersion={rv}&allowWatchBookmarks=true&timeoutSeconds=2"
    )
    elapsed = time.monotonic() - started
    assert [e["type"] for e in events] == ["BOOKMARK"]
    assert 1.9 <= elapsed < 4.0


async def test_no_bookmarks_unless_allowed(http, sim: Simulator) -> None:
    sim.bookmark_interval = 0.05
    rv = await current_rv(http)
    assert await http.watch_lines(SVC, f"watch=true&resourceVersion={rv}&timeoutSeconds=1") == []


async def test_selector_watch_reports_objects_leaving_and_entering(http, manifests) -> None:
    await http.post(SVC, manifests.service("web"))
    rv = await current_rv(http)
    await http.patch(f"{SVC}/web", {"metadata": {"labels": {"app": "other"}}})
    await http.patch(f"{SVC}/web", {"metadata": {"labels": {"app": "web", "again": "1"}}})
    events = await http.watch_lines(
        SVC, f"watch=true&resourceVersion={rv}&labelSelector=app%3Dweb&timeoutSeconds=5", limit=2
    )
    left, entered = events
    assert left["type"] == "DELETED"
    assert left["object"]["metadata"]["labels"] == {"app": "web"}
    assert int(left["object"]["metadata"]["resourceVersion"]) == int(rv) + 1
    assert entered["type"] == "ADDED"
    assert entered["object"]["metadata"]["labels"] == {"again": "1", "app": "web"}


async def test_field_selector_watch_follows_one_custom_resource(http, manifests) -> None:
    rv = await current_rv(http, SE)
    for name in ("other", "se-watch"):
        await http.post(SE, manifests.service_entry(name))
    await http.delete(f"{SE}/se-watch")
    events = await http.watch_lines(
        SE,
        f"watch=true&resourceVersion={rv}&fieldSelector=metadata.name%3Dse-watch&timeoutSeconds=5",
        limit=2,
    )
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "se-watch"),
        ("DELETED", "se-watch"),
    ]
    assert list(events[0]["object"]) == sorted(events[0]["object"])


async def test_legacy_watch_path_is_a_watch(http, manifests) -> None:
    await http.post(SVC, manifests.service("web"))
    events = await http.watch_lines(
        "/api/v1/watch/namespaces/default/services", "timeoutSeconds=5", limit=1
    )
    assert events[0]["type"] == "ADDED"
    named = await http.watch_lines(
        "/api/v1/watch/namespaces/default/services/web", "timeoutSeconds=5", limit=1
    )
    assert named[0]["object"]["metadata"]["name"] == "web"


async def test_watch_through_kubernetes_asyncio_sees_live_changes(
    api: ApiClient, http, manifests
) -> None:
    core = CoreV1Api(api)
    rv = await current_rv(http)
    seen: list[tuple[str, str]] = []

    async def follow() -> None:
        stream = watch.Watch()
        async for event in stream.stream(
            core.list_namespaced_service, "default", resource_version=rv, timeout_seconds=5
        ):
            seen.append((event["type"], event["object"].metadata.name))
            if len(seen) == 2:
                stream.stop()
        await stream.close()

    follower = asyncio.create_task(follow())
    await core.create_namespaced_service("default", manifests.service("live"))
    await core.delete_namespaced_service("live", "default")
    await asyncio.wait_for(follower, timeout=5)
    assert seen == [("ADDED", "live"), ("DELETED", "live")]


async def test_client_disconnect_ends_the_stream_quietly(http, manifests, sim: Simulator) -> None:
    await http.post(SVC, manifests.service("a"))
    await http.watch_lines(SVC, "watch=true&timeoutSeconds=30", limit=1)
    await http.post(SVC, manifests.service("b"))
    await asyncio.wait_for(sim.wait_for_open_watches(0), timeout=3)


async def test_send_initial_events_ends_with_a_marked_bookmark(http, manifests) -> None:
    await http.post(SVC, manifests.service("a"))
    events = await http.watch_lines(
        SVC,
        "watch=true&sendInitialEvents=true&allowWatchBookmarks=true"
        "&resourceVersionMatch=NotOlderThan&timeoutSeconds=5",
        limit=2,
    )
    assert [e["type"] for e in events] == ["ADDED", "BOOKMARK"]
    assert events[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
