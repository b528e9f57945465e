"""Namespace deletion as kube-controller-manager's namespace controller carries it out.

A DELETE of a namespace only marks it: ``deletionTimestamp``, phase
``Terminating``, and the ``kubernetes`` entry in ``spec.finalizers`` that keeps
it (fidelity transcript 13). This controller then deletes every namespaced
object in it, reports progress in the namespace's status conditions (worded as
the real ones), waits for objects held by finalizers to go, and removes the
``kubernetes`` finalizer, after which the namespace itself is gone. Tests rely
on this to clean up the way a real cluster does: delete the namespace and wait.

Pods are removed at once rather than left in a graceful termination that no
kubelet would ever finish.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.simulator.controllers.garbage import delete_object
from reconciler.simulator.resources import ALL_KINDS, NAMESPACES, PODS, ResourceKind
from reconciler.simulator.store import JsonObject, Store, Subscription, WatchRecord, now_rfc3339

NAMESPACE_FINALIZER = "kubernetes"
_NAMESPACED_KINDS = tuple(kind for kind in ALL_KINDS if kind.namespaced)
_log = logging.getLogger(__name__)


_OK_CONDITIONS = (
    (
        "NamespaceDeletionDiscoveryFailure",
        "ResourcesDiscovered",
        "All resources successfully discovered",
    ),
    (
        "NamespaceDeletionGroupVersionParsingFailure",
        "ParsedGroupVersions",
        "All legacy kube types successfully parsed",
    ),
    (
        "NamespaceDeletionContentFailure",
        "ContentDeleted",
        "All content successfully deleted, may be waiting on finalization",
    ),
    ("NamespaceContentRemaining", "ContentRemoved", "All content successfully removed"),
    (
        "NamespaceFinalizersRemaining",
        "ContentHasNoFinalizers",
        "All content-preserving finalizers finished",
    ),
)


@dataclass(slots=True)
class Remaining:
    """Objects still in a terminating namespace after a deletion pass."""

    resources: Counter[str] = field(default_factory=Counter)
    """By ``<resource>.<group>``, as the namespace controller names them."""
    finalizers: Counter[str] = field(default_factory=Counter)

    def add(self, kind: ResourceKind, obj: Mapping[str, Any]) -> None:
        self.resources[f"{kind.plural}.{kind.group}"] += 1
        for finalizer in (obj.get("metadata") or {}).get("finalizers") or []:
            self.finalizers[finalizer] += 1


def _wanted_conditions(remaining: Remaining) -> list[tuple[str, str, str, str]]:
    """(type, status, reason, message) for each condition the controller maintains."""
    wanted = [(kind, "False", reason, message) for kind, reason, message in _OK_CONDITIONS]
    if remaining.resources:
        listed = ", ".join(
            f"{name} has {count} resource instances"
            for name, count in sorted(remaining.resources.items())
        )
        wanted[3] = (
            wanted[3][0],
            "True",
            "SomeResourcesRemain",
            f"Some resources are remaining: {listed}",
        )
    if remaining.finalizers:
        listed = ", ".join(
            f"{name} in {count} resource instances"
            for name, count in sorted(remaining.finalizers.items())
        )
        wanted[4] = (
            wanted[4][0],
            "True",
            "SomeFinalizersRemain",
            f"Some content in the namespace has finalizers remaining: {listed}",
        )
    return wanted


def updated_conditions(current: list[JsonObject], remaining: Remaining) -> list[JsonObject]:
    """The namespace's status conditions after a pass; unchanged ones keep their time."""
    conditions = [dict(condition) for condition in current]
    now = now_rfc3339()
    for kind, status, reason, message in _wanted_conditions(remaining):
        fresh = {
            "type": kind,
            "status": status,
            "lastTransitionTime": now,
            "reason": reason,
            "message": message,
        }
        existing = next((c for c in conditions if c.get("type") == kind), None)
        if existing is None:
            conditions.append(fresh)
        elif (existing.get("status"), existing.get("reason"), existing.get("message")) != (
            status,
            reason,
            message,
        ):
            existing.clear()
            existing.update(fresh)
    return conditions


def _terminating(namespace: Mapping[str, Any]) -> bool:
    return (namespace.get("metadata") or {}).get("deletionTimestamp") is not None


class NamespaceController:
    """Empties terminating namespaces, then lets them go."""

    def __init__(self, store: Store, *, latency: float = 0.0) -> None:
        self._store = store
        self._latency = latency
        """Seconds between noticing work and doing it, as a real controller's queue takes."""
        self._terminating: set[str] = set()
        self._pending: dict[str, None] = {}

    async def run(self) -> None:
        """Finish the namespaces terminating now, then any that start to, until cancelled."""
        feed = self._store.subscribe()
        try:
            for namespace in self._store.list(NAMESPACES)[0]:
                if _terminating(namespace):
                    self._mark(namespace["metadata"]["name"])
            await self._flush(feed)
            async for record in feed:
                self._observe(record)
                if feed.queue.empty():
                    await self._settle(feed)
                    await self._flush(feed)
        finally:
            feed.close()

    def _mark(self, name: str) -> None:
        self._terminating.add(name)
        self._pending[name] = None

    def _observe(self, record: WatchRecord) -> None:
        if record.kind.key == NAMESPACES.key:
            if record.type == "DELETED":
                self._terminating.discard(record.name)
                self._pending.pop(record.name, None)
            elif _terminating(record.object):
                self._mark(record.name)
        elif record.kind.namespaced and record.namespace in self._terminating:
            self._pending[record.namespace] = None

    async def _settle(self, feed: Subscription) -> None:
        """With work pending, let ``latency`` pass, taking in the changes that come meanwhile."""
        if self._latency <= 0 or not self._pending:
            return
        await asyncio.sleep(self._latency)
        while not feed.queue.empty():
            record = feed.queue.get_nowait()
            if record is None:
                feed.queue.put_nowait(None)
                return
            self._observe(record)

    async def _flush(self, feed: Subscription) -> None:
        while self._pending and feed.queue.empty():
            name = next(iter(self._pending))
            del self._pending[name]
            try:
                self._finish(name)
            except Exception:
                _log.exception("deleting the content of namespace %s failed", name)
            await asyncio.sleep(0)

    def _finish(self, name: str) -> None:
        namespace = self._store.get(NAMESPACES, "", name)
        if namespace is None or not _terminating(namespace):
            return
        spec = namespace.setdefault("spec", {})
        if NAMESPACE_FINALIZER not in (spec.get("finalizers") or []):
            return
        remaining = self._delete_content(name)
        status = namespace.setdefault("status", {})
        conditions = updated_conditions(status.get("conditions") or [], remaining)
        if conditions != status.get("conditions"):
            status["conditions"] = conditions
            namespace = self._store.update(NAMESPACES, namespace)
        if remaining.resources:
            return
        namespace["spec"]["finalizers"] = [
            f for f in namespace["spec"]["finalizers"] if f != NAMESPACE_FINALIZER
        ]
        self._store.update(NAMESPACES, namespace)

    def _delete_content(self, namespace: str) -> Remaining:
        """Delete everything in the namespace; what is left, held by finalizers."""
        remaining = Remaining()
        for kind in _NAMESPACED_KINDS:
            for obj in self._store.list(kind, namespace)[0]:
                name = obj["metadata"]["name"]
                grace = 0 if kind is PODS else None
                if not delete_object(
                    self._store, kind, namespace, name, grace_period_seconds=grace
                ):
                    remaining.add(kind, obj)
        return remaining
