"""How far the cluster is from what it should be, as the drift metrics report it.

Managed drift is read off the plans, never counted from events: the
controller hands every plan it makes to :class:`DriftTracker`, which keeps,
per object, the drift of the latest plan that concerned it. The gauges are
therefore exact whatever happened before: after a restart (every key is
planned once the caches sync), in ``--dry-run`` (the plan is made; only the
write is skipped), and after a write (the write's own watch event re-plans
the key, which then shows no drift). Objects without drift cost nothing.

An object has drift when its plan writes to it, or withholds a write while
endpoints differ (a held mass removal, a WorkloadEntry whose pod has no ready
address). A paired-Service conflict (a foreign Service where ours should be)
is tracked beside drift: it is not something a write can fix.

Unmanaged staleness is the audit's finding for entries nothing will repair
(not opted in, or refused). :class:`UnmanagedAudit` runs the pure audit over
the controller's own cache, at most once per interval, when the metrics are
scraped: no task of its own, no API request.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from reconciler.models.refs import Kind, ObjectKey
from reconciler.planning.plans import Action, DriftReason, NoWrite, Verdict, is_write
from reconciler.planning.settings import PlanningSettings
from reconciler.reporting.audit import audit, unmanaged_stale_addresses
from reconciler.reporting.scope import Scope
from reconciler.runtime.cache import ClusterCache


@dataclass(frozen=True, slots=True)
class _Finding:
    """What the latest plan of ``planned`` said about one object."""

    planned: ObjectKey
    drifted: bool
    endpoints: Mapping[DriftReason, int]
    since: float
    """Monotonic time the drift (or conflict) was first seen, in this process."""
    conflict: bool


def has_drift(action: Action) -> bool:
    """Does ``action`` say its object differs from the live pods (or from its source)?"""
    return is_write(action) or bool(action.changes)


def is_paired_conflict(action: Action) -> bool:
    return isinstance(action, NoWrite) and action.verdict is Verdict.CONFLICT


class DriftTracker:
    """Per object, the drift of the latest plan that named it."""

    def __init__(self) -> None:
        self._findings: dict[ObjectKey, _Finding] = {}
        self._planned: set[tuple[Kind, str]] = set()

    def record(self, planned: ObjectKey, actions: Sequence[Action], *, at: float) -> None:
        """The plan made for key ``planned`` at monotonic time ``at`` replaces what it said before.

        Objects the previous plan of ``planned`` reported and this one does not
        are settled; an object still drifting keeps the time its drift began.
        """
        self._planned.add((planned.kind, planned.namespace))
        named: set[ObjectKey] = set()
        for action in actions:
            key = action.key
            self._planned.add((key.kind, key.namespace))
            drifted, conflict = has_drift(action), is_paired_conflict(action)
            if not drifted and not conflict:
                continue
            named.add(key)
            previous = self._findings.get(key)
            self._findings[key] = _Finding(
                planned=planned,
                drifted=drifted,
                endpoints=Counter(change.reason for change in action.changes),
                since=at if previous is None else previous.since,
                conflict=conflict,
            )
        settled = [
            key
            for key, finding in self._findings.items()
            if finding.planned == planned and key not in named
        ]
        for key in settled:
            del self._findings[key]

    @property
    def planned(self) -> frozenset[tuple[Kind, str]]:
        """Every ``(kind, namespace)`` planned so far: their gauges exist, at zero when clean."""
        return frozenset(self._planned)

    def drifted_objects(self) -> Counter[tuple[Kind, str]]:
        """Objects with drift, by ``(kind, namespace)``."""
        return Counter(
            (key.kind, key.namespace) for key, finding in self._findings.items() if finding.drifted
        )

    def drifted_endpoints(self) -> Counter[tuple[Kind, DriftReason]]:
        """Endpoints (or WorkloadEntry addresses) that differ, by ``(kind, reason)``."""
        counts: Counter[tuple[Kind, DriftReason]] = Counter()
        for key, finding in self._findings.items():
            for reason, count in finding.endpoints.items():
                counts[(key.kind, reason)] += count
        return counts

    def drift_since(self) -> dict[Kind, float]:
        """Per kind, when the oldest drift still standing was first seen (monotonic)."""
        oldest: dict[Kind, float] = {}
        for key, finding in self._findings.items():
            if finding.drifted:
                oldest[key.kind] = min(finding.since, oldest.get(key.kind, finding.since))
        return oldest

    def paired_conflicts(self) -> Counter[str]:
        """Paired Services blocked by a foreign Service of the same name, by namespace."""
        return Counter(key.namespace for key, finding in self._findings.items() if finding.conflict)


class UnmanagedAudit:
    """Stale addresses in entries nothing repairs, audited from the cache once an interval."""

    def __init__(
        self,
        cache: ClusterCache,
        settings: PlanningSettings,
        *,
        interval: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cache = cache
        self._settings = settings
        self._interval = interval
        self._monotonic = monotonic
        self._counts: dict[tuple[Kind, str], int] = {}
        self._computed_at: float | None = None

    def counts(self) -> Mapping[tuple[Kind, str], int]:
        """Stale or recycled addresses by ``(kind, namespace)``; empty until the caches sync."""
        now = self._monotonic()
        fresh = self._computed_at is not None and now - self._computed_at < self._interval
        if self._cache.synced.is_set() and not fresh:
            self._counts = self._compute()
            self._computed_at = now
        return self._counts

    def _compute(self) -> dict[tuple[Kind, str], int]:
        in_scope = self._settings.in_scope
        report = audit(
            service_entries=(
                entry for entry in self._cache.service_entries if in_scope(entry.metadata.namespace)
            ),
            workload_entries=(
                entry
                for entry in self._cache.workload_entries
                if in_scope(entry.metadata.namespace)
            ),
            slices=self._cache.endpoint_slices,
            view=self._cache,
            settings=self._settings,
            scope=Scope(namespaces=tuple(sorted(self._settings.namespaces))),
        )
        return unmanaged_stale_addresses(report)
