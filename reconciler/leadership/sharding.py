"""Sharding: splitting the keys among several leaders when one is not enough.

With ``--shard-count N`` each replica set runs with one ``--shard-index`` and
its own Lease, and plans only the keys of its shard. A key's shard is a
stable hash of the namespace and name of what it *follows*, so everything
about one Service is planned by one leader:

- a Service (and so its paired Service) by itself, the headless source;
- a ServiceEntry by the Service it follows (its annotation, else its first
  ``hosts`` entry that names one), or by itself when it follows nothing;
- a WorkloadEntry by the pod it follows, or by itself.

The hash is the first eight bytes of SHA-256 of ``namespace/name``, big-endian,
modulo the shard count: the same in every process and every release (Python's
``hash()`` is salted per process), and computable by hand. Each key maps to
exactly one shard by construction. A reference that changes can move a key
between shards; both leaders see the change, and the resourceVersion on every
write keeps the one with the stale picture from writing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

from reconciler.models.projections import ObjectMeta, ServiceEntry, WorkloadEntry
from reconciler.models.refs import Kind, NamespacedName, ObjectKey
from reconciler.planning.references import (
    POD_ANNOTATION,
    SERVICE_ANNOTATION,
    hosts_service_refs,
    parse_name_ref,
)


def shard_of(anchor: NamespacedName, count: int) -> int:
    """The shard of everything anchored at ``anchor``, in ``range(count)``."""
    digest = hashlib.sha256(f"{anchor.namespace}/{anchor.name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % count


@dataclass(frozen=True, slots=True)
class Shard:
    """One shard of ``count``; the default (0 of 1) owns everything."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(
                f"shard index must be in 0..{self.count - 1} for {self.count} shards, "
                f"got {self.index}"
            )

    def holds(self, anchor: NamespacedName) -> bool:
        return self.count == 1 or shard_of(anchor, self.count) == self.index

    def lease_name(self, base: str) -> str:
        """One Lease per shard; the name carries the count so a re-shard never shares one."""
        return base if self.count == 1 else f"{base}-shard-{self.index}-of-{self.count}"


class AnchorView(Protocol):
    """The cached objects a key's anchor is read from."""

    def service_entry(self, namespace: str, name: str) -> ServiceEntry | None: ...

    def workload_entry(self, namespace: str, name: str) -> WorkloadEntry | None: ...


def anchor_of(key: ObjectKey, view: AnchorView, *, cluster_domain: str) -> NamespacedName:
    """What ``key`` follows (see the module docstring); itself when it follows nothing."""
    own = NamespacedName(key.namespace, key.name)
    if key.kind is Kind.SERVICE_ENTRY:
        entry = view.service_entry(key.namespace, key.name)
        followed = None if entry is None else _followed_service(entry, cluster_domain)
        return followed or own
    if key.kind is Kind.WORKLOAD_ENTRY:
        workload = view.workload_entry(key.namespace, key.name)
        followed = None if workload is None else _annotated(workload.metadata, POD_ANNOTATION)
        return followed or own
    return own


def _followed_service(entry: ServiceEntry, cluster_domain: str) -> NamespacedName | None:
    annotated = _annotated(entry.metadata, SERVICE_ANNOTATION)
    if annotated is not None:
        return annotated
    refs = hosts_service_refs(
        entry.spec.hosts, namespace=entry.metadata.namespace, cluster_domain=cluster_domain
    )
    return NamespacedName(refs[0].namespace, refs[0].service) if refs else None


def _annotated(metadata: ObjectMeta, annotation: str) -> NamespacedName | None:
    value = metadata.annotations.get(annotation)
    ref = None if value is None else parse_name_ref(value, own_namespace=metadata.namespace)
    return None if ref is None else NamespacedName(ref.namespace, ref.name)


class ShardFilter:
    """``filter(key)``: whether ``key`` belongs to this replica's shard, read from the cache."""

    def __init__(self, shard: Shard, view: AnchorView, *, cluster_domain: str) -> None:
        self.shard = shard
        self._view = view
        self._cluster_domain = cluster_domain

    def __call__(self, key: ObjectKey) -> bool:
        if self.shard.count == 1:
            return True
        return self.shard.holds(anchor_of(key, self._view, cluster_domain=self._cluster_domain))
