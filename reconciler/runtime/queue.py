"""The work queue: which keys to reconcile, when, and never one key twice at once.

The guarantees are those of client-go's workqueue and kube-rs's scheduler and
runner, which controllers rely on to stay level-based:

- A key waiting to run is held once, however often it is added; it keeps the
  monotonic time of the earliest watch event that asked for it, so the
  controller can measure "event received → write acknowledged".
- A key never runs twice at the same time. Added while it runs, it runs once
  more afterwards, reading a cache that already holds the change.
- At most ``concurrency`` keys run at once; ready keys start in arrival order.
- A run that raises is retried after a per-key exponential backoff (capped);
  a run that succeeds forgets the key's failures, and may ask to run again
  after a delay (:class:`Requeue`). A new event does not wait out a backoff:
  it is new information, and the run it starts counts its failure if any.
- Every ``resync_period`` each key the controller knows of is added unless it
  is already queued, waiting or running: a safety net for anything a mapping
  missed.
- :meth:`WorkQueue.shutdown` stops starting work, waits for the runs in
  flight for a grace period, then cancels them.
- Each run is its own task, and every line it logs carries its key and a
  reconcile id (:func:`~reconciler.logs.bind_reconcile`).

Time comes from a :class:`Clock`, so tests move it by hand and never sleep.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from reconciler.logs import bind_reconcile

K = TypeVar("K", bound=Hashable)

logger = logging.getLogger(__name__)


class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    """Monotonic seconds, and callbacks at a point in that time."""

    def now(self) -> float: ...

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer: ...


class MonotonicClock:
    """``time.monotonic``, with timers on the running event loop."""

    def now(self) -> float:
        return time.monotonic()

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        return asyncio.get_running_loop().call_later(max(0.0, when - self.now()), callback)


@dataclass(frozen=True, slots=True)
class RetryBackoff:
    """Per-key delay after consecutive failures: ``initial * factor ** (failures - 1)``, capped."""

    initial: float = 0.1
    factor: float = 2.0
    maximum: float = 120.0

    def delay(self, failures: int) -> float:
        exponent = min(max(failures - 1, 0), 64)
        return min(self.maximum, self.initial * self.factor**exponent)


@dataclass(frozen=True, slots=True)
class Work(Generic[K]):
    """One run of one key, as the reconcile function receives it."""

    key: K
    observed_at: float | None
    """Monotonic time of the earliest watch event behind this run; None for resyncs and requeues."""
    failures: int
    """How many runs of this key failed in a row before this one."""


@dataclass(frozen=True, slots=True)
class Requeue:
    """Returned by a successful run: run the key again after ``after`` seconds."""

    after: float


Reconcile = Callable[[Work[K]], Awaitable[Requeue | None]]


@dataclass(frozen=True, slots=True)
class _Waiting:
    deadline: float
    observed_at: float | None
    sequence: int


def _earliest(first: float | None, second: float | None) -> float | None:
    if first is None:
        return second
    if second is None:
        return first
    return min(first, second)


class WorkQueue(Generic[K]):
    """Deduplicating, per-key serialised, rate-limited queue of keys to reconcile."""

    def __init__(
        self,
        *,
        concurrency: int = 4,
        backoff: RetryBackoff | None = None,
        resync_period: float | None = None,
        resync_keys: Callable[[], Iterable[K]] | None = None,
        clock: Clock | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._concurrency = concurrency
        self._backoff = backoff or RetryBackoff()
        self._resync_period = resync_period
        self._resync_keys = resync_keys
        self._clock = clock or MonotonicClock()
        self._ready: dict[K, float | None] = {}
        self._order: deque[K] = deque()
        self._waiting: dict[K, _Waiting] = {}
        self._deadlines: list[tuple[float, int, K]] = []
        self._running: dict[K, asyncio.Task[None]] = {}
        self._held: dict[K, _Waiting] = {}
        self._failures: dict[K, int] = {}
        self._sequence = 0
        self._wake = asyncio.Event()
        self._timer: Timer | None = None
        self._timer_at = 0.0
        self._resync_timer: Timer | None = None
        self._started = False
        self._closed = False

    # -- asking for work ---------------------------------------------------------------------------

    def add(self, key: K, *, observed_at: float | None = None) -> None:
        """Run ``key`` as soon as a slot is free (after its current run, if it is running)."""
        self._request(key, self._clock.now(), observed_at)

    def add_after(self, key: K, delay: float, *, observed_at: float | None = None) -> None:
        """Run ``key`` after ``delay`` seconds, unless something asks for it sooner."""
        self._request(key, self._clock.now() + delay, observed_at)

    # -- what is queued ----------------------------------------------------------------------------

    @property
    def ready(self) -> int:
        """Keys due to run, waiting for a free slot."""
        return len(self._ready)

    @property
    def waiting(self) -> int:
        """Keys waiting for a backoff or a requeue delay to pass."""
        return len(self._waiting)

    @property
    def running(self) -> int:
        return len(self._running)

    def failures(self, key: K) -> int:
        """Consecutive failed runs of ``key`` (0 once a run succeeds)."""
        return self._failures.get(key, 0)

    # -- running -----------------------------------------------------------------------------------

    async def run(self, reconcile: Reconcile[K]) -> None:
        """Start keys as they become due, until :meth:`shutdown`; then wait for runs in flight.

        Cancelling this task cancels the runs in flight too.
        """
        if self._started:
            raise RuntimeError("a WorkQueue runs once")
        self._started = True
        self._arm_resync()
        try:
            while not self._closed:
                self._promote_due()
                self._start_ready(reconcile)
                await self._wake.wait()
                self._wake.clear()
            while self._running:
                await asyncio.wait(list(self._running.values()))
        finally:
            self._close()
            in_flight = list(self._running.values())
            for task in in_flight:
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)

    async def shutdown(self, *, grace: float | None = None) -> None:
        """Start nothing more; wait up to ``grace`` seconds (None: forever) for runs in flight.

        Runs still going after the grace period are cancelled and not retried.
        """
        self._close()
        in_flight = list(self._running.values())
        if not in_flight:
            return
        _, late = await asyncio.wait(in_flight, timeout=grace)
        for task in late:
            task.cancel()
        await asyncio.gather(*in_flight, return_exceptions=True)

    # -- internals ---------------------------------------------------------------------------------

    def _close(self) -> None:
        self._closed = True
        for timer in (self._timer, self._resync_timer):
            if timer is not None:
                timer.cancel()
        self._timer = self._resync_timer = None
        self._wake.set()

    def _request(self, key: K, deadline: float, observed_at: float | None) -> None:
        if self._closed:
            return
        if key in self._running:
            held = self._held.get(key)
            if held is not None:
                deadline = min(deadline, held.deadline)
                observed_at = _earliest(observed_at, held.observed_at)
            self._held[key] = _Waiting(deadline, observed_at, 0)
            return
        self._schedule(key, deadline, observed_at)

    def _schedule(self, key: K, deadline: float, observed_at: float | None) -> None:
        """Queue a key that is not running, merging with any earlier request for it."""
        if self._closed:
            return
        if key in self._ready:
            self._ready[key] = _earliest(self._ready[key], observed_at)
            return
        waiting = self._waiting.pop(key, None)
        if waiting is not None:
            deadline = min(deadline, waiting.deadline)
            observed_at = _earliest(observed_at, waiting.observed_at)
        if deadline <= self._clock.now():
            self._make_ready(key, observed_at)
            return
        self._sequence += 1
        self._waiting[key] = _Waiting(deadline, observed_at, self._sequence)
        heapq.heappush(self._deadlines, (deadline, self._sequence, key))
        self._arm(deadline)

    def _make_ready(self, key: K, observed_at: float | None) -> None:
        self._ready[key] = observed_at
        self._order.append(key)
        self._wake.set()

    def _promote_due(self) -> None:
        now = self._clock.now()
        while self._deadlines and self._deadlines[0][0] <= now:
            _, sequence, key = heapq.heappop(self._deadlines)
            waiting = self._waiting.get(key)
            if waiting is not None and waiting.sequence == sequence:
                del self._waiting[key]
                self._make_ready(key, waiting.observed_at)
        self._drop_stale_deadlines()
        if self._deadlines:
            self._arm(self._deadlines[0][0])

    def _drop_stale_deadlines(self) -> None:
        while self._deadlines:
            _, sequence, key = self._deadlines[0]
            waiting = self._waiting.get(key)
            if waiting is not None and waiting.sequence == sequence:
                return
            heapq.heappop(self._deadlines)

    def _arm(self, deadline: float) -> None:
        if self._timer is not None and self._timer_at <= deadline:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = self._clock.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._wake.set()

    def _arm_resync(self) -> None:
        if self._resync_period is None or self._resync_keys is None or self._closed:
            return
        when = self._clock.now() + self._resync_period
        self._resync_timer = self._clock.call_at(when, self._resync)

    def _resync(self) -> None:
        assert self._resync_keys is not None
        now = self._clock.now()
        for key in self._resync_keys():
            known = key in self._ready or key in self._waiting or key in self._running
            if not known:
                self._schedule(key, now, None)
        self._arm_resync()

    def _start_ready(self, reconcile: Reconcile[K]) -> None:
        while self._order and len(self._running) < self._concurrency:
            key = self._order.popleft()
            work = Work(key, self._ready.pop(key), self._failures.get(key, 0))
            self._running[key] = asyncio.create_task(self._process(work, reconcile))

    async def _process(self, work: Work[K], reconcile: Reconcile[K]) -> None:
        key = work.key
        bind_reconcile(str(key))
        try:
            try:
                outcome = await reconcile(work)
            except Exception:
                failures = self._failures[key] = work.failures + 1
                delay = self._backoff.delay(failures)
                logger.exception(
                    "reconcile failed; retrying in %.3gs",
                    delay,
                    extra={"key": str(key), "failures": failures},
                )
                self._schedule(key, self._clock.now() + delay, work.observed_at)
            else:
                self._failures.pop(key, None)
                if outcome is not None:
                    self._schedule(key, self._clock.now() + outcome.after, None)
        finally:
            del self._running[key]
            held = self._held.pop(key, None)
            if held is not None:
                self._schedule(key, held.deadline, held.observed_at)
            self._wake.set()
