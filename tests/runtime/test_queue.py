"""The work queue, on a clock moved by hand: no test here waits for time to pass."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest
from runtime_world import FakeClock, settle

from reconciler.runtime.queue import Requeue, RetryBackoff, Work, WorkQueue

Outcome = Requeue | None | Exception


class Script:
    """A reconcile function: records runs, can hold a run open, answers as scripted."""

    def __init__(self) -> None:
        self.runs: list[Work[str]] = []
        self.active: set[str] = set()
        self.most_active = 0
        self.overlaps: list[str] = []
        self.gates: dict[str, asyncio.Event] = {}
        self.outcomes: dict[str, list[Outcome]] = {}
        self.cancelled: list[str] = []
        self._started = asyncio.Condition()

    def hold(self, key: str) -> asyncio.Event:
        gate = self.gates[key] = asyncio.Event()
        return gate

    def answer(self, key: str, *outcomes: Outcome) -> None:
        self.outcomes[key] = list(outcomes)

    def keys(self) -> list[str]:
        return [work.key for work in self.runs]

    async def wait_for_runs(self, count: int) -> None:
        async with asyncio.timeout(2), self._started:
            await self._started.wait_for(lambda: len(self.runs) >= count)

    async def __call__(self, work: Work[str]) -> Requeue | None:
        if work.key in self.active:
            self.overlaps.append(work.key)
        self.active.add(work.key)
        self.most_active = max(self.most_active, len(self.active))
        async with self._started:
            self.runs.append(work)
            self._started.notify_all()
        try:
            gate = self.gates.get(work.key)
            if gate is not None:
                await gate.wait()
            outcome = (self.outcomes.get(work.key) or [None]).pop(0)
        except asyncio.CancelledError:
            self.cancelled.append(work.key)
            raise
        finally:
            self.active.discard(work.key)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


@pytest.fixture
def script() -> Script:
    return Script()


Start = Callable[..., AbstractAsyncContextManager[WorkQueue[str]]]


@pytest.fixture
def running(clock: FakeClock, script: Script) -> Start:
    """Starts a queue on the fake clock running ``script``; stops it on leaving the block."""

    @asynccontextmanager
    async def start(**options: Any) -> AsyncIterator[WorkQueue[str]]:
        queue: WorkQueue[str] = WorkQueue(clock=clock, **options)
        task = asyncio.create_task(queue.run(script))
        try:
            yield queue
        finally:
            await queue.shutdown(grace=0)
            await asyncio.wait_for(task, timeout=2)

    return start


BACKOFF = RetryBackoff(initial=1.0, factor=2.0, maximum=5.0)


# -- deduplication and one run per key ---------------------------------------------------------


async def test_a_key_added_many_times_before_it_runs_runs_once(
    clock: FakeClock, script: Script
) -> None:
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    for observed_at in (5.0, 3.0, 4.0, None):
        queue.add("se/ns/a", observed_at=observed_at)
    queue.add("se/ns/b")
    assert queue.ready == 2
    task = asyncio.create_task(queue.run(script))
    await script.wait_for_runs(2)
    await settle()
    assert script.keys() == ["se/ns/a", "se/ns/b"]
    assert script.runs[0].observed_at == 3.0, "the earliest event that asked for it"
    assert script.runs[1].observed_at is None
    await queue.shutdown()
    await task


async def test_a_key_added_while_running_runs_again_after_never_alongside(
    script: Script, running: Start
) -> None:
    gate = script.hold("a")
    async with running(concurrency=4) as queue:
        queue.add("a", observed_at=1.0)
        await script.wait_for_runs(1)
        queue.add("a", observed_at=7.0)
        queue.add("a", observed_at=6.0)
        await settle()
        assert script.keys() == ["a"], "not started twice while the first run is going"
        gate.set()
        await script.wait_for_runs(2)
        await settle()
    assert script.overlaps == []
    assert script.keys() == ["a", "a"]
    assert script.runs[1].observed_at == 6.0


async def test_at_most_concurrency_keys_run_at_once_in_arrival_order(
    script: Script, running: Start
) -> None:
    gates = [script.hold(key) for key in "abcde"]
    async with running(concurrency=2) as queue:
        for key in "abcde":
            queue.add(key)
        await script.wait_for_runs(2)
        await settle()
        assert (queue.running, queue.ready) == (2, 3)
        for gate in gates:
            gate.set()
        await script.wait_for_runs(5)
    assert script.most_active == 2
    assert script.keys() == list("abcde")


# -- backoff and forgetting --------------------------------------------------------------------


async def test_failures_back_off_exponentially_up_to_the_cap(
    clock: FakeClock, script: Script, running: Start
) -> None:
    script.answer("a", *[RuntimeError("boom")] * 5)
    delays = []
    async with running(backoff=BACKOFF) as queue:
        queue.add("a")
        for attempt in range(1, 6):
            await script.wait_for_runs(attempt)
            await settle()
            (delay,) = clock.deadlines()
            delays.append(delay)
            clock.advance(delay - 0.01)
            await settle()
            assert len(script.runs) == attempt, "not before the backoff has passed"
            clock.advance(0.01)
        await script.wait_for_runs(6)
    assert delays == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert [work.failures for work in script.runs] == [0, 1, 2, 3, 4, 5]


async def test_success_forgets_the_failures(
    clock: FakeClock, script: Script, running: Start
) -> None:
    script.answer("a", RuntimeError("one"), RuntimeError("two"), None, RuntimeError("three"))
    async with running(backoff=BACKOFF) as queue:
        queue.add("a")
        for attempt, delay in ((1, 1.0), (2, 2.0)):
            await script.wait_for_runs(attempt)
            await settle()
            clock.advance(delay)
        await script.wait_for_runs(3)
        await settle()
        assert queue.failures("a") == 0
        assert clock.deadlines() == []
        queue.add("a")
        await script.wait_for_runs(4)
        await settle()
        assert clock.deadlines() == [1.0], "back to the initial delay"
    assert [work.failures for work in script.runs] == [0, 1, 2, 0]


async def test_a_failed_run_is_logged_with_its_key(
    script: Script,
    running: Start,
    caplog: pytest.LogCaptureFixture,
) -> None:
    script.answer("se/ns/a", RuntimeError("boom"))
    with caplog.at_level(logging.ERROR, logger="reconciler.runtime.queue"):
        async with running(backoff=BACKOFF) as queue:
            queue.add("se/ns/a")
            await script.wait_for_runs(1)
            await settle()
    (record,) = caplog.records
    assert record.key == "se/ns/a"  # type: ignore[attr-defined]
    assert record.exc_info is not None


async def test_a_retry_keeps_the_time_of_the_event_that_started_it(
    clock: FakeClock, script: Script, running: Start
) -> None:
    script.answer("a", RuntimeError("conflict"))
    async with running(backoff=BACKOFF) as queue:
        queue.add("a", observed_at=42.0)
        await script.wait_for_runs(1)
        await settle()
        clock.advance(1.0)
        await script.wait_for_runs(2)
    assert script.runs[1].observed_at == 42.0


async def test_a_new_event_does_not_wait_out_the_backoff(
    clock: FakeClock, script: Script, running: Start
) -> None:
    script.answer("a", RuntimeError("boom"))
    async with running(backoff=BACKOFF) as queue:
        queue.add("a", observed_at=1.0)
        await script.wait_for_runs(1)
        await settle()
        assert queue.waiting == 1
        queue.add("a", observed_at=2.0)
        await script.wait_for_runs(2)
        await settle()
        assert queue.waiting == 0
    assert (script.runs[1].failures, script.runs[1].observed_at) == (1, 1.0)


# -- delays and resync -------------------------------------------------------------------------


async def test_a_run_can_ask_to_run_again_after_a_delay(
    clock: FakeClock, script: Script, running: Start
) -> None:
    script.answer("a", Requeue(after=30.0))
    async with running() as queue:
        queue.add("a", observed_at=1.0)
        await script.wait_for_runs(1)
        await settle()
        assert clock.deadlines() == [30.0]
        clock.advance(29.0)
        await settle()
        assert len(script.runs) == 1
        clock.advance(1.0)
        await script.wait_for_runs(2)
    assert script.runs[1].observed_at is None, "a requeue is not an event"


async def test_add_after_keeps_the_earliest_deadline(
    clock: FakeClock, script: Script, running: Start
) -> None:
    async with running() as queue:
        queue.add_after("a", 10.0)
        queue.add_after("a", 3.0)
        queue.add_after("a", 20.0)
        assert queue.waiting == 1
        clock.advance(3.0)
        await script.wait_for_runs(1)
        clock.advance(20.0)
        await settle()
    assert script.keys() == ["a"]


async def test_resync_adds_every_known_key_that_is_not_already_queued(
    clock: FakeClock, script: Script, running: Start
) -> None:
    known = ["a", "b", "c"]
    script.answer("b", RuntimeError("boom"))
    gate = script.hold("c")

    def resync_keys() -> Iterable[str]:
        return list(known)

    slow = RetryBackoff(initial=100.0)
    async with running(backoff=slow, resync_period=60.0, resync_keys=resync_keys) as queue:
        queue.add("b")
        queue.add("c")
        await script.wait_for_runs(2)
        await settle()
        clock.advance(60.0)
        await script.wait_for_runs(3)
        await settle()
        assert script.keys() == ["b", "c", "a"], "b waits out its backoff, c is still running"
        assert clock.deadlines() == [40.0, 60.0], "b's retry, then the next resync"
        known.append("d")
        gate.set()
        await settle()
        clock.advance(60.0)
        await script.wait_for_runs(7)
        await settle()
    assert sorted(script.keys()[3:]) == ["a", "b", "c", "d"]
    assert [work.failures for work in script.runs if work.key == "b"] == [0, 1]
    assert all(work.observed_at is None for work in script.runs)


# -- shutdown ----------------------------------------------------------------------------------


async def test_shutdown_waits_for_runs_in_flight_and_starts_nothing_more(
    clock: FakeClock, script: Script
) -> None:
    gate = script.hold("a")
    queue: WorkQueue[str] = WorkQueue(clock=clock, concurrency=1)
    task = asyncio.create_task(queue.run(script))
    queue.add("a")
    queue.add("b")
    await script.wait_for_runs(1)
    stopping = asyncio.create_task(queue.shutdown())
    await settle()
    assert not stopping.done(), "waits for the run in flight"
    queue.add("c")
    gate.set()
    await asyncio.wait_for(stopping, timeout=2)
    await asyncio.wait_for(task, timeout=2)
    assert script.keys() == ["a"]
    assert script.cancelled == []


async def test_shutdown_cancels_runs_still_going_after_the_grace_period(
    clock: FakeClock, script: Script
) -> None:
    script.hold("a")
    script.answer("b", RuntimeError("boom"))
    queue: WorkQueue[str] = WorkQueue(clock=clock, backoff=BACKOFF)
    task = asyncio.create_task(queue.run(script))
    queue.add("a")
    queue.add("b")
    await script.wait_for_runs(2)
    await settle()
    await asyncio.wait_for(queue.shutdown(grace=0), timeout=2)
    await asyncio.wait_for(task, timeout=2)
    assert script.cancelled == ["a"]
    assert queue.running == 0
    assert clock.deadlines() == [], "no retry is armed after shutdown"


async def test_cancelling_the_queue_cancels_its_runs(clock: FakeClock, script: Script) -> None:
    script.hold("a")
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    task = asyncio.create_task(queue.run(script))
    queue.add("a")
    await script.wait_for_runs(1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=2)
    assert script.cancelled == ["a"]


async def test_a_queue_runs_once(clock: FakeClock, script: Script) -> None:
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    task = asyncio.create_task(queue.run(script))
    await settle()
    with pytest.raises(RuntimeError, match="runs once"):
        await queue.run(script)
    await queue.shutdown()
    await task


def test_backoff_delays() -> None:
    backoff = RetryBackoff(initial=0.1, factor=2.0, maximum=120.0)
    assert [backoff.delay(n) for n in (1, 2, 3, 4)] == [0.1, 0.2, 0.4, 0.8]
    assert backoff.delay(10_000) == 120.0
