"""The simulator's storage: objects, one global resourceVersion, a bounded event history.

This plays the part of etcd plus the API server's watch cache. Every change gets
the next value of one cluster-wide counter, is appended to its resource's
history and is fanned out to subscribers (watch handlers and the in-simulator
controllers). The history is bounded, and :meth:`Store.compact` forgets it (etcd
compaction): LISTs at an older exact revision then get ``410 Expired``. A watch
is served from a narrower window, the watch cache: the last
``watch_cache_size`` changes of its resource. Resuming from before that window
gets ``410 Expired`` although etcd still has the revision (fidelity README,
surprise 1). Every resource's cache starts at the store's first revision.

Everything here is synchronous and runs on the server's event loop, so each
operation is atomic with respect to the others. Objects are stored as plain JSON
dicts; callers receive copies and hand over ownership of what they store.
"""

from __future__ import annotations

import asyncio
import builtins
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

from reconciler.simulator.errors import already_exists, gone, not_found
from reconciler.simulator.resources import ResourceKind

WatchEventType = Literal["ADDED", "MODIFIED", "DELETED"]
JsonObject = dict[str, Any]


def clone(obj: JsonObject) -> JsonObject:
    """A deep copy of a JSON object; a JSON round trip is several times faster than deepcopy."""
    copied: JsonObject = orjson.loads(orjson.dumps(obj))
    return copied


def deletion_may_complete(kind: ResourceKind, obj: JsonObject) -> bool:
    """Whether an object being deleted may go now, as the registry decides.

    Held by any finalizer, by a pod's unfinished grace period
    (``deletionGracePeriodSeconds`` above 0), and for a Namespace by its
    ``spec.finalizers``.
    """
    meta = obj["metadata"]
    if not meta.get("deletionTimestamp") or meta.get("finalizers"):
        return False
    if meta.get("deletionGracePeriodSeconds"):
        return False
    return not (kind.key == "namespaces" and (obj.get("spec") or {}).get("finalizers"))


def now_rfc3339() -> str:
    """Second-precision UTC timestamp, the format of ``metadata.creationTimestamp``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class WatchRecord:
    """One change, as a watch reports it. ``object`` is a snapshot: never mutate it."""

    resource_version: int
    type: WatchEventType
    kind: ResourceKind
    object: JsonObject

    @property
    def namespace(self) -> str:
        return str(self.object.get("metadata", {}).get("namespace", ""))

    @property
    def name(self) -> str:
        return str(self.object.get("metadata", {}).get("name", ""))


@dataclass(frozen=True, slots=True)
class WriteRecord:
    """One write request that reached the server, kept for tests to audit.

    ``applied`` is False for dry runs, refused requests and no-op writes that
    changed nothing.
    """

    verb: str
    resource: str
    namespace: str
    name: str
    code: int
    user_agent: str
    field_manager: str
    content_type: str
    dry_run: bool
    applied: bool
    resource_version: int
    body: Any = None
    at: float = field(default_factory=time.monotonic)
    """When the server answered (``time.monotonic``), to line writes up with a test's timeline."""


class Subscription:
    """A live feed of changes, for one resource or for all of them.

    Unbounded: a slow reader never blocks writers, it just falls behind.
    """

    def __init__(self, store: Store, kind_key: str | None) -> None:
        self._store = store
        self.kind_key = kind_key
        self.queue: asyncio.Queue[WatchRecord | None] = asyncio.Queue()

    def push(self, record: WatchRecord) -> None:
        self.queue.put_nowait(record)

    def close(self) -> None:
        """Stop the feed; a reader blocked in ``get`` wakes up with the end marker."""
        self._store._unsubscribe(self)
        self.queue.put_nowait(None)

    async def get(self) -> WatchRecord | None:
        """The next change, or None once the subscription is closed."""
        return await self.queue.get()

    def __aiter__(self) -> AsyncIterator[WatchRecord]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[WatchRecord]:
        while True:
            record = await self.queue.get()
            if record is None:
                return
            yield record


@dataclass(slots=True)
class _History:
    records: deque[WatchRecord]
    oldest_retained: int
    """Lowest resourceVersion a watch may resume from without 410."""


class Store:
    """Objects by resource, namespace and name; a global resourceVersion; bounded history."""

    def __init__(
        self,
        *,
        history_size: int = 2000,
        first_resource_version: int = 100,
        watch_cache_size: int | None = None,
    ) -> None:
        self.history_size = history_size
        self.watch_cache_size = watch_cache_size
        """Changes per resource a watch can resume within; None: the whole history."""
        self._rv = first_resource_version
        self._first_rv = first_resource_version
        self._objects: dict[str, dict[tuple[str, str], JsonObject]] = {}
        self._history: dict[str, _History] = {}
        self._subscribers: list[Subscription] = []
        self.write_log: list[WriteRecord] = []
        self.uid_factory: Callable[[], str] = lambda: str(uuid.uuid4())

    # -- reading -------------------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        """The newest resourceVersion handed out, cluster-wide."""
        return self._rv

    def get(self, kind: ResourceKind, namespace: str, name: str) -> JsonObject | None:
        stored = self._objects.get(kind.key, {}).get((namespace, name))
        return clone(stored) if stored is not None else None

    def require(self, kind: ResourceKind, namespace: str, name: str) -> JsonObject:
        found = self.get(kind, namespace, name)
        if found is None:
            raise not_found(kind, name)
        return found

    def list(
        self, kind: ResourceKind, namespace: str | None = None
    ) -> tuple[list[JsonObject], int]:
        """Copies of every object of the kind (in one namespace if given), in key order."""
        bucket = self._objects.get(kind.key, {})
        keys = sorted(k for k in bucket if namespace is None or k[0] == namespace)
        return [clone(bucket[k]) for k in keys], self._rv

    def peek_all(self, kind: ResourceKind) -> Iterable[JsonObject]:
        """The stored objects themselves, without copying: read-only, for hot internal loops."""
        return self._objects.get(kind.key, {}).values()

    def count(self, kind: ResourceKind) -> int:
        return len(self._objects.get(kind.key, {}))

    # -- writing -------------------------------------------------------------------------------

    def _next_rv(self) -> int:
        self._rv += 1
        return self._rv

    def create(self, kind: ResourceKind, obj: JsonObject, *, dry_run: bool = False) -> JsonObject:
        """Store a new object, filling uid, creationTimestamp and resourceVersion.

        With ``dry_run`` the object is returned as it would be stored (without a
        resourceVersion, as the real server does) and nothing changes.
        """
        meta = obj.setdefault("metadata", {})
        key = (meta.get("namespace", "") if kind.namespaced else "", meta["name"])
        bucket = self._objects.setdefault(kind.key, {})
        if key in bucket:
            raise already_exists(kind, meta["name"])
        meta.setdefault("uid", self.uid_factory())
        meta.setdefault("creationTimestamp", now_rfc3339())
        if dry_run:
            meta.pop("resourceVersion", None)
            return clone(obj)
        rv = self._next_rv()
        meta["resourceVersion"] = str(rv)
        bucket[key] = obj
        self._record(kind, "ADDED", obj, rv)
        return clone(obj)

    def update(self, kind: ResourceKind, obj: JsonObject, *, dry_run: bool = False) -> JsonObject:
        """Replace a stored object; the caller has checked preconditions.

        An update that changes nothing keeps the resourceVersion and emits no
        event (fidelity README, surprise 7). An object being deleted is removed
        by the update that leaves nothing holding it (see :func:`deletion_may_complete`).
        """
        meta = obj["metadata"]
        key = (meta.get("namespace", "") if kind.namespaced else "", meta["name"])
        bucket = self._objects.get(kind.key, {})
        current = bucket.get(key)
        if current is None:
            raise not_found(kind, meta["name"])
        meta["resourceVersion"] = current["metadata"]["resourceVersion"]
        if obj == current or dry_run:
            return clone(obj)
        if deletion_may_complete(kind, obj):
            return self.delete(kind, key[0], key[1])
        rv = self._next_rv()
        meta["resourceVersion"] = str(rv)
        bucket[key] = obj
        self._record(kind, "MODIFIED", obj, rv)
        return clone(obj)

    def delete(
        self, kind: ResourceKind, namespace: str, name: str, *, dry_run: bool = False
    ) -> JsonObject:
        """Remove an object now. The DELETED event carries a new resourceVersion."""
        key = (namespace if kind.namespaced else "", name)
        bucket = self._objects.get(kind.key, {})
        current = bucket.get(key)
        if current is None:
            raise not_found(kind, name)
        if dry_run:
            return clone(current)
        del bucket[key]
        rv = self._next_rv()
        tombstone = clone(current)
        tombstone["metadata"]["resourceVersion"] = str(rv)
        self._record(kind, "DELETED", tombstone, rv)
        return clone(current)

    # -- history and watching ------------------------------------------------------------------

    def _history_of(self, kind: ResourceKind) -> _History:
        history = self._history.get(kind.key)
        if history is None:
            # Nothing of this kind was ever evicted, so every revision since the store began
            # can be resumed from (a never-written kind must not answer 410).
            history = _History(deque(), oldest_retained=self._first_rv)
            self._history[kind.key] = history
        return history

    def _record(self, kind: ResourceKind, event: WatchEventType, obj: JsonObject, rv: int) -> None:
        snapshot = clone(obj)
        record = WatchRecord(rv, event, kind, snapshot)
        history = self._history_of(kind)
        history.records.append(record)
        while len(history.records) > self.history_size:
            dropped = history.records.popleft()
            history.oldest_retained = dropped.resource_version
        for subscriber in list(self._subscribers):
            if subscriber.kind_key is None or subscriber.kind_key == kind.key:
                subscriber.push(record)

    def oldest_resource_version(self, kind: ResourceKind) -> int:
        """The oldest resourceVersion whose state of this kind is still known (etcd's horizon)."""
        return self._history_of(kind).oldest_retained

    def oldest_watchable(self, kind: ResourceKind) -> int:
        """The oldest resourceVersion a watch of this kind may still resume from."""
        history = self._history_of(kind)
        size = self.watch_cache_size
        if size is None or len(history.records) <= size:
            return history.oldest_retained
        return history.records[-size - 1].resource_version

    def history(self, kind: ResourceKind) -> builtins.list[WatchRecord]:
        """Every retained change of one kind, oldest first (for LISTs at an older revision)."""
        return builtins.list(self._history_of(kind).records)

    def events_since(self, kind: ResourceKind, resource_version: int) -> builtins.list[WatchRecord]:
        """Changes after ``resource_version``, or 410 Expired if the watch cache lost them."""
        oldest = self.oldest_watchable(kind)
        if resource_version < oldest:
            raise gone(f"too old resource version: {resource_version} ({oldest + 1})")
        history = self._history_of(kind)
        return [r for r in history.records if r.resource_version > resource_version]

    def compact(self, kind: ResourceKind | None = None) -> None:
        """Forget history up to now: any watch resuming from before this gets 410."""
        kinds = [self._history_of(kind)] if kind is not None else list(self._history.values())
        for history in kinds:
            history.records.clear()
            history.oldest_retained = self._rv

    def subscribe(self, kind: ResourceKind | None = None) -> Subscription:
        """Changes from now on, for one kind or (None) for every kind."""
        subscription = Subscription(self, kind.key if kind is not None else None)
        self._subscribers.append(subscription)
        return subscription

    def _unsubscribe(self, subscription: Subscription) -> None:
        if subscription in self._subscribers:
            self._subscribers.remove(subscription)
