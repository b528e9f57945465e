"""Every metric the controller exports, defined here and nowhere else (SPEC section 6).

Names follow Prometheus conventions (prefix ``headless_reconciler_``, base
units, ``_total`` counters). Label values come from closed sets (kinds,
results, drift reasons, watched resources, watch event types, restart
reasons, HTTP verbs and codes) or from namespaces; never from object names or
addresses. Series are created at zero for every known label value, so a
dashboard shows zero rather than "no data"; gauges labelled by namespace
exist for the configured namespaces and, once a namespace has been seen,
stay at zero when it is clean again.

Each process builds its own :class:`Metrics` with its own registry (not the
library's global one), so two controllers in one test process never share a
series. The library's ``_created`` series are turned off: they double the
series of every counter and histogram in the text format, and nothing reads
them. State that already lives elsewhere (drift in the
:class:`~reconciler.drift.DriftTracker`, cache sizes, the queue, watch
activity) is read at scrape time by collectors, not copied into gauges on
every change.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Sized
from typing import Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from reconciler import __version__
from reconciler.api.resources import BY_KIND
from reconciler.applying.applier import Applied, Outcome
from reconciler.drift import DriftTracker
from reconciler.health import WatchActivity
from reconciler.models.refs import Kind, ObjectKey
from reconciler.planning.plans import Action, DriftReason
from reconciler.watching import Restart, RestartReason

PREFIX = "headless_reconciler_"

WRITTEN_KINDS: tuple[Kind, ...] = (Kind.SERVICE_ENTRY, Kind.WORKLOAD_ENTRY, Kind.SERVICE)
"""The kinds the controller plans and writes: the ``kind`` label's values."""
ENTRY_KINDS: tuple[Kind, ...] = (Kind.SERVICE_ENTRY, Kind.WORKLOAD_ENTRY)
"""The kinds that hold pod addresses: the only ones with endpoint drift."""
WATCHED_RESOURCES: tuple[str, ...] = tuple(resource.label for resource in BY_KIND.values())
WATCH_EVENT_TYPES = ("ADDED", "MODIFIED", "DELETED", "BOOKMARK")
"""The ``type`` of a watch line, as the API server writes it."""

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""Seconds. Convergence is expected in milliseconds; a held removal waits out its 30s grace."""


class QueueState(Protocol):
    """What the work queue says about its keys (:class:`~reconciler.runtime.queue.WorkQueue`)."""

    @property
    def ready(self) -> int: ...

    @property
    def waiting(self) -> int: ...

    @property
    def running(self) -> int: ...


class Metrics:
    """The registry of one controller process, and the observers that feed it."""

    def __init__(
        self,
        *,
        mode: str,
        namespaces: Iterable[str] = (),
        activity: WatchActivity | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry()
        self.drift = DriftTracker()
        self._namespaces = tuple(sorted(set(namespaces)))
        self._activity = activity or WatchActivity(WATCHED_RESOURCES, monotonic=monotonic)
        self._monotonic = monotonic
        self._wall_clock = wall_clock
        self._started: dict[ObjectKey, float] = {}
        self._cache_sizes: Mapping[str, Sized] = {}
        self._queue: QueueState | None = None
        self._unmanaged: Callable[[], Mapping[tuple[Kind, str], int]] = dict
        self._seen_unmanaged: set[tuple[Kind, str]] = set()

        registry = self.registry
        self.reconciles = Counter(
            PREFIX + "reconcile_total",
            "Reconciles by the kind of object and what came of it.",
            ["kind", "result"],
            registry=registry,
        )
        self.reconcile_duration = Histogram(
            PREFIX + "reconcile_duration_seconds",
            "Seconds from the start of a reconcile (planning) to its outcome (write acknowledged).",
            ["kind"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.event_to_write = Histogram(
            PREFIX + "event_to_write_seconds",
            "Seconds from reading the earliest watch event behind a write to its acknowledgement.",
            ["kind"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.watch_events = Counter(
            PREFIX + "watch_events_total",
            "Watch lines received, by resource and type (ADDED, MODIFIED, DELETED, BOOKMARK).",
            ["resource", "type"],
            registry=registry,
        )
        self.watch_restarts = Counter(
            PREFIX + "watch_restarts_total",
            "Watches started again, by resource and reason (closed, expired, transient, error).",
            ["resource", "reason"],
            registry=registry,
        )
        self.api_requests = Counter(
            PREFIX + "api_requests_total",
            "HTTP requests to the API server, by verb, resource and status code "
            "('<error>' when no answer came).",
            ["verb", "resource", "code"],
            registry=registry,
        )
        self.leader = Gauge(
            PREFIX + "leader",
            "1 while this process may write (it leads); 0 in --dry-run or as a standby.",
            registry=registry,
        )
        self.build = Info(
            PREFIX + "build", "Version and mode of the running controller.", registry=registry
        )
        self.build.info({"version": __version__, "mode": mode})
        registry.register(_Collected(self))
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        self._precreate()

    def _precreate(self) -> None:
        for kind in WRITTEN_KINDS:
            for outcome in Outcome:
                self.reconciles.labels(kind=kind, result=outcome)
            self.reconcile_duration.labels(kind=kind)
            self.event_to_write.labels(kind=kind)
        for resource in WATCHED_RESOURCES:
            for type in WATCH_EVENT_TYPES:
                self.watch_events.labels(resource=resource, type=type)
            for reason in RestartReason:
                self.watch_restarts.labels(resource=resource, reason=reason)

    # -- what is read at scrape time -------------------------------------------------------------

    def read_from(
        self,
        *,
        cache_sizes: Mapping[str, Sized],
        queue: QueueState,
        unmanaged: Callable[[], Mapping[tuple[Kind, str], int]],
    ) -> None:
        """Where the scrape-time gauges come from: the cache's stores by resource, the queue,
        and the unmanaged-staleness audit."""
        self._cache_sizes = cache_sizes
        self._queue = queue
        self._unmanaged = unmanaged

    # -- observers: the hooks of the client, the watchers and the controller ---------------------

    def request_finished(self, verb: str, resource: str, code: str) -> None:
        self.api_requests.labels(verb=verb, resource=resource, code=code).inc()

    def watch_line_received(self, resource: str, type: str) -> None:
        self.watch_events.labels(resource=resource, type=type).inc()

    def watch_restarted(self, restart: Restart) -> None:
        self.watch_restarts.labels(resource=restart.resource, reason=restart.reason).inc()

    def planned(self, key: ObjectKey, actions: Sequence[Action], at: float) -> None:
        """A plan for ``key`` was made at monotonic time ``at``: drift, and when timing began."""
        self.drift.record(key, actions, at=at)
        for reported in [action.key for action in actions] or [key]:
            self._started[reported] = at

    def reconciled(self, applied: Applied, observed_at: float | None) -> None:
        """One outcome; ``observed_at`` is when the earliest event behind it was read."""
        kind = applied.key.kind
        self.reconciles.labels(kind=kind, result=applied.outcome).inc()
        now = self._monotonic()
        started = self._started.pop(applied.key, None)
        if started is not None:
            self.reconcile_duration.labels(kind=kind).observe(max(now - started, 0.0))
        if applied.outcome is Outcome.UPDATED and observed_at is not None:
            self.event_to_write.labels(kind=kind).observe(max(now - observed_at, 0.0))

    def set_leader(self, leading: bool) -> None:
        """Leader election will call this on every change of leadership."""
        self.leader.set(1 if leading else 0)

    # -- collected at scrape time ----------------------------------------------------------------

    def _namespaced(
        self, kinds: Sequence[Kind], seen: Iterable[tuple[Kind, str]]
    ) -> set[tuple[Kind, str]]:
        labels = {(kind, namespace) for kind in kinds for namespace in self._namespaces}
        labels.update((kind, namespace) for kind, namespace in seen if kind in kinds)
        return labels

    def _scrape_time_families(self) -> Iterator[Metric]:
        yield from self._drift_families()
        yield from self._state_families()

    def _drift_families(self) -> Iterator[Metric]:
        drift = self.drift
        objects = drift.drifted_objects()
        family = GaugeMetricFamily(
            PREFIX + "drift_objects",
            "Objects whose latest plan differs from the live pods (or from their source Service).",
            labels=["kind", "namespace"],
        )
        for kind, namespace in sorted(self._namespaced(WRITTEN_KINDS, drift.planned)):
            family.add_metric([kind, namespace], objects[(kind, namespace)])
        yield family

        endpoints = drift.drifted_endpoints()
        family = GaugeMetricFamily(
            PREFIX + "drift_endpoints",
            "Endpoints (WorkloadEntry addresses) that differ from the live pods, by reason.",
            labels=["kind", "reason"],
        )
        for kind in ENTRY_KINDS:
            for reason in DriftReason:
                family.add_metric([kind, reason], endpoints[(kind, reason)])
        yield family

        since = drift.drift_since()
        now = self._monotonic()
        family = GaugeMetricFamily(
            PREFIX + "oldest_drift_seconds",
            "Age of the oldest drift still standing, as seen by this process (0 when none).",
            labels=["kind"],
        )
        for kind in WRITTEN_KINDS:
            first = since.get(kind)
            family.add_metric([kind], 0.0 if first is None else max(now - first, 0.0))
        yield family

        conflicts = drift.paired_conflicts()
        family = GaugeMetricFamily(
            PREFIX + "paired_service_conflicts",
            "Headless Services whose paired Service cannot be made: the name is taken by a "
            "Service we do not own, or asked for by another headless Service.",
            labels=["namespace"],
        )
        namespaces = {ns for kind, ns in drift.planned if kind is Kind.SERVICE}
        for namespace in sorted(namespaces | set(self._namespaces) | set(conflicts)):
            family.add_metric([namespace], conflicts[namespace])
        yield family

        unmanaged = self._unmanaged()
        self._seen_unmanaged.update(unmanaged)
        family = GaugeMetricFamily(
            PREFIX + "unmanaged_stale_addresses",
            "Stale or recycled addresses in entries nothing repairs (not opted in, or refused).",
            labels=["kind", "namespace"],
        )
        for kind, namespace in sorted(self._namespaced(ENTRY_KINDS, self._seen_unmanaged)):
            family.add_metric([kind, namespace], unmanaged.get((kind, namespace), 0))
        yield family

    def _state_families(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            PREFIX + "cache_objects", "Objects held in the cache, by resource.", labels=["resource"]
        )
        for resource in WATCHED_RESOURCES:
            store = self._cache_sizes.get(resource)
            family.add_metric([resource], 0 if store is None else len(store))
        yield family

        family = GaugeMetricFamily(
            PREFIX + "queue_keys",
            "Keys in the work queue: ready to run, waiting (backoff or requeue), running.",
            labels=["state"],
        )
        queue = self._queue
        family.add_metric(["ready"], 0 if queue is None else queue.ready)
        family.add_metric(["waiting"], 0 if queue is None else queue.waiting)
        family.add_metric(["running"], 0 if queue is None else queue.running)
        yield family

        progress = self._activity.last_progress()
        offset = self._wall_clock() - self._monotonic()
        family = GaugeMetricFamily(
            PREFIX + "watch_progress_timestamp_seconds",
            "Unix time of the watch's last progress: a list or watch answered, a watch line, "
            "or a stream the API server ended normally.",
            labels=["resource"],
        )
        for resource in WATCHED_RESOURCES:
            last = progress.get(resource)
            family.add_metric([resource], 0.0 if last is None else last + offset)
        yield family


class _Collected:
    """The scrape-time families of :class:`Metrics`, registered as one collector."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def describe(self) -> Iterator[Metric]:
        for family in self._metrics._scrape_time_families():
            yield GaugeMetricFamily(family.name, family.documentation, labels=[])

    def collect(self) -> Iterator[Metric]:
        return self._metrics._scrape_time_families()
