"""A cache of one kind's projections, by namespace and name, with secondary indexes.

This is the reflector's store of kube-rs and client-go's indexer, sized for a
big cluster (SPEC section 8): the objects are the decoded projections
themselves, never copies, and an index costs one dict slot per indexed value.
An index maps ``(namespace, value)`` to the objects that name it (the Service
an EndpointSlice belongs to, the pods its endpoints are), kept as nested dicts
keyed by the strings the objects already hold. Most values name exactly one
object (a pod is in one slice), so a single key is held as itself and only a
value shared by several objects pays for a set.

An index is a pure function of the object, so replacing or removing an
object recomputes its old values instead of remembering them, and only the
values that differ are written (a pod restart changes one endpoint of a
slice, not its hundred index entries). A :class:`PartIndex` (the pods or the
addresses of a slice's endpoints) goes further: an update compares the two
states' parts position by position, as the EndpointSlice controller rewrites
them in place, and reads the values of the differing parts only, so an index
costs per change what changed, not the whole slice. Everything here is
synchronous: a change, including a whole relist, is applied before any other
task can read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain, compress, count
from operator import ne
from typing import Any, Generic

from reconciler.api.resources import P
from reconciler.models.refs import NamespacedName

IndexFunction = Callable[[P], Iterable[tuple[str, str]]]
"""The ``(namespace, value)`` pairs an object is found under in one index."""


@dataclass(frozen=True, slots=True)
class PartIndex(Generic[P]):
    """An index whose values come from an object's parts, read one part at a time."""

    parts: Callable[[P], Sequence[Any]]
    """The parts, in order (an EndpointSlice's endpoints)."""
    values: Callable[[Any], Iterable[str]]
    """The values one part is found under."""
    cluster_wide: bool = False
    """Values under the namespace ``""`` rather than the object's own."""
    _last: list[tuple[P, P, tuple[set[str], set[str]] | None]] = field(
        default_factory=list, compare=False, repr=False
    )
    """The last comparison: the mapping asks again about the change the index just took."""

    def namespace_of(self, obj: P) -> str:
        return "" if self.cluster_wide else obj.metadata.namespace

    def __call__(self, obj: P) -> list[tuple[str, str]]:
        namespace = self.namespace_of(obj)
        return [(namespace, value) for value in self.values_in(obj)]

    def values_in(self, obj: P) -> Iterator[str]:
        """Every value of every part."""
        for part in self.parts(obj):
            yield from self.values(part)

    def changed_values(self, old: P, new: P) -> tuple[set[str], set[str]] | None:
        """(values gone, values arrived) between two states with parts at the same positions;
        None when they cannot be compared so (another count of parts, another namespace).

        The sets are shared with the caller who asked the same question last: read them only.
        """
        if self._last and self._last[0][0] is old and self._last[0][1] is new:
            return self._last[0][2]
        result = self._compare(old, new)
        self._last[:] = [(old, new, result)]
        return result

    def _compare(self, old: P, new: P) -> tuple[set[str], set[str]] | None:
        before, after = self.parts(old), self.parts(new)
        if len(before) != len(after) or self.namespace_of(old) != self.namespace_of(new):
            return None
        # Position by position in C (itertools/operator): this runs for every watch event.
        changed = list(compress(count(), map(ne, before, after)))
        gone = set(chain.from_iterable(self.values(before[i]) for i in changed))
        arrived = set(chain.from_iterable(self.values(after[i]) for i in changed))
        gone, arrived = gone - arrived, arrived - gone
        if gone:
            gone.difference_update(chain.from_iterable(map(self.values, after)))
        return gone, arrived


_Holders = NamespacedName | set[NamespacedName]


@dataclass(frozen=True, slots=True)
class Change(Generic[P]):
    """One object's state before and after; ``None`` on the side where it did not exist."""

    old: P | None
    new: P | None


def key_of(obj: P) -> NamespacedName:
    return NamespacedName(obj.metadata.namespace, obj.metadata.name)


def is_unchanged(old: P, new: P) -> bool:
    """Same resourceVersion means the same object; without one, compare the content."""
    version = new.metadata.resource_version
    if version:
        return old.metadata.resource_version == version
    return old == new


class _Index(Generic[P]):
    """``namespace -> value -> key(s)``, maintained from a pure function of the object."""

    def __init__(self, values_of: IndexFunction[P] | PartIndex[P]) -> None:
        self._values_of = values_of
        self._entries: dict[str, dict[str, _Holders]] = {}

    def update(self, key: NamespacedName, old: P | None, new: P | None) -> None:
        """Move ``key`` from the values of ``old`` to those of ``new``, writing only the difference.

        An EndpointSlice update usually changes one endpoint of a hundred, so
        the two sets of values are compared first and only what differs is
        written; a :class:`PartIndex` compares the parts first.
        """
        if isinstance(self._values_of, PartIndex) and old is not None and new is not None:
            changed = self._values_of.changed_values(old, new)
            if changed is not None:
                namespace = self._values_of.namespace_of(new)
                gone, arrived = changed
                for value in gone:
                    self._discard(key, namespace, value)
                for value in arrived:
                    self._add(key, namespace, value)
                return
        before = set(self._values_of(old)) if old is not None else set()
        after = set(self._values_of(new)) if new is not None else set()
        if before == after:
            return
        for namespace, value in before - after:
            self._discard(key, namespace, value)
        for namespace, value in after - before:
            self._add(key, namespace, value)

    def _add(self, key: NamespacedName, namespace: str, value: str) -> None:
        values = self._entries.setdefault(namespace, {})
        holders = values.get(value)
        if holders is None:
            values[value] = key
        elif isinstance(holders, set):
            holders.add(key)
        elif holders != key:
            values[value] = {holders, key}

    def _discard(self, key: NamespacedName, namespace: str, value: str) -> None:
        values = self._entries.get(namespace)
        holders = None if values is None else values.get(value)
        if values is None or holders is None:
            return
        if isinstance(holders, set):
            holders.discard(key)
            if len(holders) == 1:
                values[value] = next(iter(holders))
        elif holders == key:
            del values[value]
            if not values:
                del self._entries[namespace]

    def lookup(self, namespace: str, value: str) -> tuple[NamespacedName, ...]:
        holders = self._entries.get(namespace, {}).get(value)
        if holders is None:
            return ()
        if isinstance(holders, set):
            return tuple(sorted(holders))
        return (holders,)


class Store(Generic[P]):
    """Projections of one kind by ``namespace/name`` (``""`` for cluster-scoped kinds)."""

    def __init__(
        self, *, indexes: Mapping[str, IndexFunction[P] | PartIndex[P]] | None = None
    ) -> None:
        self._objects: dict[str, dict[str, P]] = {}
        self._indexes = {name: _Index(values_of) for name, values_of in (indexes or {}).items()}
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[P]:
        for objects in self._objects.values():
            yield from objects.values()

    def all_keys(self) -> Iterator[NamespacedName]:
        for namespace, objects in self._objects.items():
            for name in objects:
                yield NamespacedName(namespace, name)

    def get(self, namespace: str, name: str) -> P | None:
        return self._objects.get(namespace, {}).get(name)

    def in_namespace(self, namespace: str) -> Sequence[P]:
        return tuple(self._objects.get(namespace, {}).values())

    def names_in(self, namespace: str) -> Sequence[str]:
        return tuple(self._objects.get(namespace, {}))

    def indexed_keys(self, index: str, namespace: str, value: str) -> tuple[NamespacedName, ...]:
        """Keys of the objects found under ``(namespace, value)`` in ``index``, sorted."""
        return self._indexes[index].lookup(namespace, value)

    def indexed(self, index: str, namespace: str, value: str) -> tuple[P, ...]:
        """The objects found under ``(namespace, value)`` in ``index``, sorted by key."""
        found = (self.get(*key) for key in self.indexed_keys(index, namespace, value))
        return tuple(obj for obj in found if obj is not None)

    def upsert(self, obj: P) -> P | None:
        """Store ``obj`` in place of any object of the same name; return the one replaced."""
        key = key_of(obj)
        objects = self._objects.setdefault(key.namespace, {})
        old = objects.get(key.name)
        if old is None:
            self._count += 1
        objects[key.name] = obj
        for index in self._indexes.values():
            index.update(key, old, obj)
        return old

    def remove(self, namespace: str, name: str) -> P | None:
        """Forget the object; return it, or None if it was not there."""
        objects = self._objects.get(namespace)
        old = None if objects is None else objects.pop(name, None)
        if objects is None or old is None:
            return None
        if not objects:
            del self._objects[namespace]
        self._count -= 1
        key = NamespacedName(namespace, name)
        for index in self._indexes.values():
            index.update(key, old, None)
        return old

    def replace(self, objects: Iterable[P]) -> list[Change[P]]:
        """Make the contents exactly ``objects``; return what was added, changed or removed.

        Objects whose resourceVersion did not change are left as they are, so a
        relist of a quiet cluster reports nothing.
        """
        changes: list[Change[P]] = []
        seen: set[NamespacedName] = set()
        for obj in objects:
            key = key_of(obj)
            seen.add(key)
            old = self.get(*key)
            if old is None or not is_unchanged(old, obj):
                self.upsert(obj)
                changes.append(Change(old, obj))
        for key in [key for key in self.all_keys() if key not in seen]:
            changes.append(Change(self.remove(*key), None))
        return changes
