"""Watcher events into a store: the reflector of client-go and kube-rs.

The watcher says what happened (a full relist, one object applied, one
deleted); the reflector makes the store match and answers with what changed,
as ``(old, new)`` pairs, so the caller can map each change to keys to
reconcile. A relist replaces the store's contents in one synchronous step and
reports only the objects that differ, including those deleted while no watch
was open. The first relist is what makes the store "synced": before it, an
empty store means "not known yet", not "nothing there".
"""

from __future__ import annotations

from typing import Generic

from reconciler.api.resources import P
from reconciler.runtime.stores import Change, Store, is_unchanged
from reconciler.watching import Applied, Deleted, Relisted, WatchEvent


class Reflector(Generic[P]):
    """Keeps one store equal to what the watcher has seen."""

    def __init__(self, store: Store[P]) -> None:
        self.store = store
        self.synced = False

    def apply(self, event: WatchEvent[P]) -> list[Change[P]]:
        """Apply the event to the store and return the changes it made (possibly none)."""
        match event:
            case Relisted(objects=objects):
                changes = self.store.replace(objects)
                self.synced = True
                return changes
            case Applied(object=obj):
                old = self.store.get(obj.metadata.namespace, obj.metadata.name)
                if old is not None and is_unchanged(old, obj):
                    return []
                self.store.upsert(obj)
                return [Change(old, obj)]
            case Deleted(object=obj):
                gone = self.store.remove(obj.metadata.namespace, obj.metadata.name)
                return [] if gone is None else [Change(gone, None)]
