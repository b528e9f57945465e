"""The watcher's loop, driven by a scripted client: list, watch, resume, relist, back off."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import pytest

from reconciler.api.errors import ForbiddenError, GoneError, TransientError
from reconciler.api.resources import ENDPOINT_SLICES
from reconciler.models.projections import EndpointSlice
from reconciler.watching import (
    Applied,
    Backoff,
    Deleted,
    Relisted,
    Restart,
    RestartReason,
    Watcher,
    WatchEvent,
)


def make_watcher(client: Any, sleep: Any, restarts: list[Restart] | None = None) -> Watcher[Any]:
    return Watcher(
        client,
        ENDPOINT_SLICES,
        namespace="ns",
        backoff=Backoff(clock=lambda: 0.0, random=lambda: 0.0),
        sleep=sleep,
        random=lambda: 0.5,
        on_restart=restarts.append if restarts is not None else None,
    )


async def take(events: AsyncIterator[WatchEvent[EndpointSlice]], count: int) -> list[Any]:
    taken = []
    async with asyncio.timeout(5):
        for _ in range(count):
            taken.append(await anext(events))
    return taken


def names(event: Any) -> list[str]:
    if isinstance(event, Relisted):
        return [obj.metadata.name for obj in event.objects]
    return [event.object.metadata.name]


async def test_lists_then_watches_from_the_list_resource_version(
    client: Any, wire: Any, sleep: Any
) -> None:
    client.pages = [wire.page("10", wire.slice("a", "3"), wire.slice("b", "4"))]
    client.streams = [
        [
            wire.line("ADDED", wire.slice("c", "11")),
            wire.line("MODIFIED", wire.slice("a", "12")),
            wire.line("DELETED", wire.slice("b", "13")),
        ]
    ]
    async with aclosing(make_watcher(client, sleep).events()) as events:
        relisted, added, modified, deleted = await take(events, 4)
    assert isinstance(relisted, Relisted)
    assert (names(relisted), relisted.resource_version) == (["a", "b"], "10")
    assert isinstance(added, Applied)
    assert isinstance(modified, Applied)
    assert isinstance(deleted, Deleted)
    assert [names(added), names(modified), names(deleted)] == [["c"], ["a"], ["b"]]
    watch = client.watch_calls[0]
    assert watch["resource_version"] == "10"
    assert watch["allow_bookmarks"] is True
    assert watch["namespace"] == "ns"


async def test_the_server_timeout_is_about_five_minutes_with_jitter(
    client: Any, wire: Any, sleep: Any
) -> None:
    client.pages = [wire.page("10")]
    client.streams = [[wire.line("ADDED", wire.slice("a", "11"))]]
    async with aclosing(make_watcher(client, sleep).events()) as events:
        await take(events, 2)
    assert client.watch_calls[0]["timeout_seconds"] == 330


async def test_a_closed_stream_resumes_from_the_last_bookmark_without_relisting(
    client: Any, wire: Any, sleep: Any
) -> None:
    restarts: list[Restart] = []
    client.pages = [wire.page("10")]
    client.streams = [
        [wire.line("ADDED", wire.slice("a", "11")), wire.bookmark("25")],
        [wire.line("ADDED", wire.slice("b", "26"))],
    ]
    async with aclosing(make_watcher(client, sleep, restarts).events()) as events:
        events_seen = await take(events, 3)
    assert [type(event) for event in events_seen] == [Relisted, Applied, Applied]
    assert [call["resource_version"] for call in client.watch_calls][:2] == ["10", "25"]
    assert len(client.list_calls) == 1
    assert restarts[0] == Restart("endpointslices", RestartReason.CLOSED, "25", 0.0)
    assert sleep.delays == []


@pytest.mark.parametrize(
    "failure",
    ["error_line", "http_410"],
)
async def test_gone_relists_and_the_consumer_ends_with_the_fresh_state(
    client: Any, wire: Any, sleep: Any, new_store: Any, failure: str
) -> None:
    restarts: list[Restart] = []
    client.pages = [
        wire.page("10", wire.slice("a", "3"), wire.slice("b", "4")),
        wire.page("90", wire.slice("b", "60"), wire.slice("c", "70")),
    ]
    gone = GoneError(code=410, reason="Expired", message="too old resource version")
    client.streams = [
        [wire.line("ADDED", wire.slice("x", "11")), wire.expired("11")]
        if failure == "error_line"
        else gone,
    ]
    store = new_store()
    async with aclosing(make_watcher(client, sleep, restarts).events()) as events:
        for event in await take(events, 3 if failure == "error_line" else 2):
            store.apply(event)
    assert sorted(store.objects) == [("ns", "b"), ("ns", "c")]
    assert store.objects[("ns", "b")].metadata.resource_version == "60"
    assert store.relists == 2
    assert [(r.reason, r.relist) for r in restarts] == [(RestartReason.EXPIRED, True)]
    assert restarts[0].delay == pytest.approx(0.8)
    assert sleep.delays == [pytest.approx(0.8)]


async def test_a_broken_stream_backs_off_and_resumes_from_the_last_resource_version(
    client: Any, wire: Any, sleep: Any
) -> None:
    restarts: list[Restart] = []
    client.pages = [wire.page("10")]
    broken = TransientError(code=0, reason="ConnectionError", message="connection reset")
    client.streams = [
        [wire.line("ADDED", wire.slice("a", "11")), broken],
        [wire.line("ADDED", wire.slice("b", "12"))],
    ]
    async with aclosing(make_watcher(client, sleep, restarts).events()) as events:
        await take(events, 3)
    assert [call["resource_version"] for call in client.watch_calls][:2] == ["10", "11"]
    assert len(client.list_calls) == 1
    assert [(r.reason, r.resume_from, r.error) for r in restarts] == [
        (RestartReason.TRANSIENT, "11", broken)
    ]
    assert sleep.delays == [pytest.approx(0.8)]


async def test_retry_after_lengthens_the_wait(client: Any, wire: Any, sleep: Any) -> None:
    client.pages = [wire.page("10")]
    client.streams = [
        TransientError(code=429, reason="TooManyRequests", message="slow down", retry_after=7),
        [wire.line("ADDED", wire.slice("a", "11"))],
    ]
    async with aclosing(make_watcher(client, sleep).events()) as events:
        await take(events, 2)
    assert sleep.delays == [7.0]


async def test_consecutive_failures_back_off_longer_and_failed_lists_are_retried(
    client: Any, wire: Any, sleep: Any
) -> None:
    restarts: list[Restart] = []
    forbidden = ForbiddenError(code=403, reason="Forbidden", message="RBAC says no")
    client.pages = [
        TransientError(code=503, reason="", message="down"),
        forbidden,
        wire.page("10", wire.slice("a", "3")),
    ]
    async with aclosing(make_watcher(client, sleep, restarts).events()) as events:
        (relisted,) = await take(events, 1)
    assert names(relisted) == ["a"]
    assert sleep.delays == [pytest.approx(0.8), pytest.approx(1.6)]
    assert [(r.reason, r.relist) for r in restarts] == [
        (RestartReason.TRANSIENT, True),
        (RestartReason.ERROR, True),
    ]
    assert restarts[1].error is forbidden


async def test_a_stream_that_closes_without_a_line_counts_as_a_failure(
    client: Any, wire: Any, sleep: Any
) -> None:
    restarts: list[Restart] = []
    client.pages = [wire.page("10")]
    client.streams = [[], [], [wire.line("ADDED", wire.slice("a", "11"))]]
    async with aclosing(make_watcher(client, sleep, restarts).events()) as events:
        await take(events, 2)
    assert sleep.delays == [pytest.approx(0.8), pytest.approx(1.6)]
    assert [r.reason for r in restarts] == [RestartReason.CLOSED, RestartReason.CLOSED]
    assert [call["resource_version"] for call in client.watch_calls] == ["10", "10", "10"]


async def test_stopping_iteration_closes_the_watch_stream(
    client: Any, wire: Any, sleep: Any
) -> None:
    client.pages = [wire.page("10")]
    client.streams = [[wire.line("ADDED", wire.slice("a", "11")), client.HANG]]
    async with aclosing(make_watcher(client, sleep).events()) as events:
        await take(events, 2)
        assert client.open_streams == 1
    assert client.open_streams == 0


async def test_cancelling_the_consumer_closes_the_watch_stream(
    client: Any, wire: Any, sleep: Any
) -> None:
    client.pages = [wire.page("10")]
    client.streams = [[wire.line("ADDED", wire.slice("a", "11")), client.HANG]]
    seen: list[Any] = []
    second_event = asyncio.Event()

    async def consume() -> None:
        async with aclosing(make_watcher(client, sleep).events()) as events:
            async for event in events:
                seen.append(event)
                if len(seen) == 2:
                    second_event.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(second_event.wait(), timeout=5)
    assert client.open_streams == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert client.open_streams == 0
