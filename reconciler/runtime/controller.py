"""The controller: informers feed the cache, changes become keys, keys become plans, plans writes.

This is the pipeline of STYLE.md in one place, and nothing more: watching is
``Informers``, mapping is :func:`keys_for_change`, scheduling is the
``WorkQueue``, deciding is the pure planner, writing is the ``Applier``. A key
is planned from the cache as it is when its turn comes (level-based), so a
burst of events for one ServiceEntry becomes one plan and at most one write.

With leader election (:mod:`reconciler.leadership`) the informers run on every
replica, so a standby's caches are warm, but only keys the replica *owns*
(its shard, while it leads) are planned; on becoming leader it re-plans every
key, and after a graceful stop's last write it releases its Lease.

The mass-removal guard counts only time on fresh data (SPEC section 4): a
failed EndpointSlice watch (connection lost, 410, an error) restarts the clock
of every hold from the moment the watch is retried, so an outage of the
slice watch, during which the cache may miss pods coming back, never lets a
held removal through (the fault campaign's seed 61).

A Service key plans its paired Services: possibly several actions (create the
wanted twin, delete one no longer wanted), applied in plan order, and notes
(advice recorded as Warning Events and logged).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from reconciler.api.client import KubeClient
from reconciler.api.errors import ApiError
from reconciler.api.resources import BY_KIND
from reconciler.applying.applier import Applied, Applier, Outcome
from reconciler.models.refs import Kind, ObjectKey
from reconciler.planning.guard import Hold, hold_of
from reconciler.planning.planner import plan
from reconciler.planning.plans import Action
from reconciler.planning.settings import PlanningSettings
from reconciler.runtime.cache import ClusterCache
from reconciler.runtime.informers import Informers
from reconciler.runtime.mapping import keys_for_change
from reconciler.runtime.queue import Requeue, WorkQueue
from reconciler.watching import LineObserver, Restart, RestartObserver, RestartReason

logger = logging.getLogger(__name__)

SLICES_LABEL = BY_KIND[Kind.ENDPOINT_SLICE].label
PLANNED_KINDS = frozenset({Kind.SERVICE_ENTRY, Kind.WORKLOAD_ENTRY, Kind.SERVICE})
CONFLICT_REQUEUE_SECONDS = 0.2
"""After a 409, re-plan soon: by then the watch has usually brought the newer object."""


@dataclass(frozen=True, slots=True)
class ControllerSettings:
    workers: int = 4
    resync_seconds: float = 300.0
    shutdown_grace_seconds: float = 10.0
    watch_timeout_seconds: float = 300.0


def _rfc3339_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


ResultObserver = Callable[[Applied, float | None], None]
"""Called after every reconcile with what happened and the event time that caused it."""

PlanObserver = Callable[[ObjectKey, Sequence[Action], float], None]
"""Called with every key planned, its plan's actions and the monotonic time it was planned at."""


class Leadership(Protocol):
    """Which keys this replica plans now, and its election (:mod:`reconciler.leadership`)."""

    def owns(self, key: ObjectKey) -> bool: ...

    def subscribe(self, observer: Callable[[bool], None]) -> None: ...

    async def campaign(self) -> None: ...

    async def release(self) -> None: ...


class Controller:
    """Runs until cancelled or :meth:`stop`; ``ready`` once every cache has listed."""

    def __init__(
        self,
        client: KubeClient,
        applier: Applier,
        *,
        planning: PlanningSettings,
        cache: ClusterCache | None = None,
        settings: ControllerSettings | None = None,
        on_result: ResultObserver | None = None,
        on_plan: PlanObserver | None = None,
        on_watch_line: LineObserver | None = None,
        on_watch_restart: RestartObserver | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        leadership: Leadership | None = None,
    ) -> None:
        self._settings = settings or ControllerSettings()
        self._leadership = leadership
        self._planning = planning
        self._applier = applier
        self._on_result = on_result
        self._on_plan = on_plan
        self._monotonic = monotonic
        self.cache = cache or ClusterCache(cluster_domain=planning.cluster_domain)
        self.queue: WorkQueue[ObjectKey] = WorkQueue(
            concurrency=self._settings.workers,
            resync_period=self._settings.resync_seconds,
            resync_keys=self.cache.primary_keys,
        )
        self._informers = Informers(
            client,
            self.cache,
            on_change=self._on_change,
            watch_timeout=self._settings.watch_timeout_seconds,
            on_line=on_watch_line,
            on_restart=self._watch_restarted,
        )
        self._on_watch_restart = on_watch_restart
        self._holds: dict[ObjectKey, Hold] = {}
        self._slices_fresh_from = -math.inf
        """Monotonic time from which EndpointSlice data counts as fresh for the guard."""
        self._stopping = asyncio.Event()
        if leadership is not None:
            leadership.subscribe(self._leadership_changed)

    @property
    def ready(self) -> bool:
        return self.cache.synced.is_set() and not self._stopping.is_set()

    @property
    def leadership(self) -> Leadership | None:
        """This replica's role, when it takes part in leader election or sharding."""
        return self._leadership

    @property
    def stopping(self) -> bool:
        """True from the moment :meth:`stop` is called."""
        return self._stopping.is_set()

    async def run(self) -> None:
        """Watch, wait for the caches, then reconcile until stopped."""
        informing = asyncio.create_task(self._informers.run(), name="informers")
        campaigning = asyncio.create_task(self._campaign(), name="leader-election")
        campaigning.add_done_callback(self._campaign_ended)
        try:
            synced = asyncio.create_task(self.cache.synced.wait())
            stopping = asyncio.create_task(self._stopping.wait())
            await asyncio.wait({synced, stopping, informing}, return_when=asyncio.FIRST_COMPLETED)
            for waiter in (synced, stopping):
                waiter.cancel()
            if informing.done():
                informing.result()
            if self._stopping.is_set():
                await self._step_down(campaigning)
                return
            logger.info(
                "caches synced: %d objects to check", sum(1 for _ in self.cache.primary_keys())
            )
            for key in self.cache.primary_keys():
                self.queue.add(key)
            working = asyncio.create_task(self.queue.run(self._reconcile), name="queue")
            stopping = asyncio.create_task(self._stopping.wait())
            await asyncio.wait({working, stopping, informing}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            await self.queue.shutdown(grace=self._settings.shutdown_grace_seconds)
            with contextlib.suppress(asyncio.CancelledError):
                await working
            if informing.done():
                informing.result()
            await self._step_down(campaigning)
        finally:
            for task in (campaigning, informing):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def stop(self) -> None:
        """Stop taking work; ``run`` returns once in-flight writes finish (or the grace ends)."""
        self._stopping.set()

    async def _campaign(self) -> None:
        if self._leadership is not None:
            await self._leadership.campaign()

    def _campaign_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            logger.error("leader election failed: %s", task.exception())
            self.stop()

    async def _step_down(self, campaigning: asyncio.Task[None]) -> None:
        """After the last write of a graceful stop: end the campaign, release the Lease."""
        campaigning.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await campaigning
        if self._leadership is not None:
            await self._leadership.release()

    def _leadership_changed(self, leading: bool) -> None:
        """A new leader plans every key: as a standby it planned none."""
        if leading and self.cache.synced.is_set():
            for key in self.cache.primary_keys():
                self.queue.add(key)

    def _watch_restarted(self, restart: Restart) -> None:
        if restart.resource == SLICES_LABEL and restart.reason is not RestartReason.CLOSED:
            retry_at = self._monotonic() + restart.delay
            self._slices_fresh_from = max(self._slices_fresh_from, retry_at)
        if self._on_watch_restart is not None:
            self._on_watch_restart(restart)

    def _fresh_holds(self) -> dict[ObjectKey, Hold]:
        """The holds, each counted from no earlier than the slice watch's last failure."""
        fresh_from = self._slices_fresh_from
        return {
            key: hold if hold.since >= fresh_from else Hold(fresh_from, hold.removing)
            for key, hold in self._holds.items()
        }

    def _on_change(self, kind: Kind, old: Any, new: Any) -> None:
        observed_at = self._monotonic()
        for key in keys_for_change(kind, old, new, links=self.cache):
            if key.kind in PLANNED_KINDS and self._planning.in_scope(key.namespace):
                self.queue.add(key, observed_at=observed_at)

    async def _reconcile(self, work: Any) -> Requeue | None:
        key: ObjectKey = work.key
        if key.kind not in PLANNED_KINDS or not self._planning.in_scope(key.namespace):
            return None
        if self._leadership is not None and not self._leadership.owns(key):
            return None
        now = self._monotonic()
        planned = plan(
            [key],
            view=self.cache,
            settings=self._planning,
            now=now,
            now_timestamp=_rfc3339_now(),
            holds=self._fresh_holds(),
        )
        if self._on_plan is not None:
            self._on_plan(key, planned.actions, now)
        for note in await self._applier.note(key, planned.notes):
            logger.warning(
                "%s %s: %s", note.reason, note.key, note.message, extra={"key": str(note.key)}
            )
        hold = next((h for action in planned if (h := hold_of(action)) is not None), None)
        if hold is None:
            self._holds.pop(key, None)
        else:
            self._holds[key] = hold
        if not any(action.key == key for action in planned.withheld):
            # Settled, written or gone: a refusal or hold that comes back later is news again.
            self._applier.forget(key)
        if not planned:
            self._report(Applied(key, Outcome.NOOP), work.observed_at)
            return None
        retry_after: list[float] = []
        for action in planned:
            try:
                applied = await self._applier.apply(action)
            except ApiError as error:
                self._report(Applied(action.key, Outcome.ERROR, error.message), work.observed_at)
                raise
            self._report(applied, work.observed_at)
            if applied.outcome is Outcome.CONFLICT:
                retry_after.append(CONFLICT_REQUEUE_SECONDS)
        if hold is not None:
            # Look again when the grace period ends: the guard lets the change through then.
            remaining = hold.since + self._planning.removal_grace - now
            retry_after.append(max(remaining, 0.0) + 0.05)
        return Requeue(after=min(retry_after)) if retry_after else None

    def _report(self, applied: Applied, observed_at: float | None) -> None:
        if applied.outcome is not Outcome.NOOP:
            logger.info(
                "%s %s%s",
                applied.outcome,
                applied.key,
                f": {applied.message}" if applied.message else "",
                extra={"key": str(applied.key), "outcome": str(applied.outcome)},
            )
        if self._on_result is not None:
            self._on_result(applied, observed_at)
