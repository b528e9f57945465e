"""One watcher per resource, feeding the cache and telling the controller what changed.

This is the informer of client-go: list and watch (the
:class:`~reconciler.watching.Watcher`), keep the store (the cache's
reflectors), then notify. The callback runs after the cache holds the change,
so whatever it triggers reads state at least as new as the event; it runs for
every object applied or deleted and for every object a relist found changed,
added or gone, with the old and new state (``None`` where absent). The cache's
``synced`` event is set once every resource has been listed.

The callback is synchronous and should only enqueue keys: a slow callback
delays every later event of that resource.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import aclosing
from typing import Any

from reconciler.api.client import KubeClient
from reconciler.api.resources import BY_KIND, Resource
from reconciler.models.refs import Kind
from reconciler.runtime.cache import ClusterCache
from reconciler.watching import LineObserver, RestartObserver, Watcher

ChangeCallback = Callable[[Kind, Any, Any], None]
"""``on_change(kind, old, new)``: a projection of ``kind``, or None where it did not exist."""


class Informers:
    """Runs the watchers of every kind the cache holds."""

    def __init__(
        self,
        client: KubeClient,
        cache: ClusterCache,
        *,
        on_change: ChangeCallback,
        watch_timeout: float = 300.0,
        on_restart: RestartObserver | None = None,
        on_line: LineObserver | None = None,
    ) -> None:
        self._client = client
        self._cache = cache
        self._on_change = on_change
        self._watch_timeout = watch_timeout
        self._on_restart = on_restart
        self._on_line = on_line

    async def run(self) -> None:
        """Watch until cancelled; watchers retry on their own, so this only ends by cancellation."""
        async with asyncio.TaskGroup() as group:
            for kind, resource in BY_KIND.items():
                group.create_task(self._inform(kind, resource), name=f"watch {resource.label}")

    async def _inform(self, kind: Kind, resource: Resource[Any]) -> None:
        watcher = Watcher(
            self._client,
            resource,
            watch_timeout=self._watch_timeout,
            on_restart=self._on_restart,
            on_line=self._on_line,
        )
        events = watcher.events()
        async with aclosing(events):
            async for event in events:
                for change in self._cache.apply(kind, event):
                    self._on_change(kind, change.old, change.new)
