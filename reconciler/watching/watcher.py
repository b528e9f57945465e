"""List, then watch, forever: one resource's changes as a small stream of events.

The shape is kube-rs's ``watcher`` (and client-go's reflector loop):

1. LIST everything (paginated) and yield :class:`Relisted` with the full
   state: the consumer replaces its store with it, which also forgets objects
   deleted while we were not watching.
2. WATCH from the list's resourceVersion, with bookmarks and a server-side
   timeout (about five minutes, jittered so watchers do not all reconnect at
   once), yielding :class:`Applied` and :class:`Deleted`.
3. When the stream ends, watch again from the last resourceVersion seen,
   bookmarks included, so nothing is missed and nothing is listed twice.
4. On 410 Gone (an ERROR line or an HTTP 410), that resourceVersion is too old
   to resume from: go back to 1.
5. On any other failure, wait (:mod:`~reconciler.watching.backoff`) and resume
   from the last resourceVersion, or list again if there is none yet.

Every restart is reported through an optional observer with its reason, and
every watch line (bookmarks included) through another with its type, for
metrics and health checks. The watcher never gives up and never raises an API
error; it stops when the consumer stops iterating or its task is cancelled.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic

from reconciler.api.client import KubeClient
from reconciler.api.errors import ApiError, GoneError, TransientError
from reconciler.api.resources import P, Resource
from reconciler.watching.backoff import Backoff
from reconciler.watching.decoding import Change, decoder_for
from reconciler.watching.listing import DEFAULT_PAGE_SIZE, list_all

_MAX_RETRY_AFTER = 30.0


@dataclass(frozen=True, slots=True)
class Relisted(Generic[P]):
    """The complete state after a (re)list: replace the store with ``objects``."""

    objects: list[P]
    resource_version: str


@dataclass(frozen=True, slots=True)
class Applied(Generic[P]):
    """An object was created or changed; ``object`` is its new state."""

    object: P


@dataclass(frozen=True, slots=True)
class Deleted(Generic[P]):
    """An object was deleted; ``object`` is its last state."""

    object: P


WatchEvent = Relisted[P] | Applied[P] | Deleted[P]


class RestartReason(StrEnum):
    CLOSED = "closed"
    """The server ended the stream (its timeout): resume at once."""
    EXPIRED = "expired"
    """410 Gone: the resourceVersion is too old; list again."""
    TRANSIENT = "transient"
    """Connection loss, timeout, 429 or 5xx: back off, then resume."""
    ERROR = "error"
    """Any other refusal (403, undecodable data, ...): back off, then resume."""


@dataclass(frozen=True, slots=True)
class Restart:
    """Why a watcher is listing or watching again, from where, and how long it waits first."""

    resource: str
    reason: RestartReason
    resume_from: str | None
    """The resourceVersion the next watch starts from; None when the watcher lists again."""
    delay: float
    error: ApiError | None = None

    @property
    def relist(self) -> bool:
        return self.resume_from is None


RestartObserver = Callable[[Restart], None]

LineObserver = Callable[[str, str], None]
"""Called with ``(resource, type)`` for each watch line: ADDED, MODIFIED, DELETED, BOOKMARK."""


class Watcher(Generic[P]):
    """The list-then-watch loop for one resource, namespace and selector."""

    def __init__(
        self,
        client: KubeClient,
        resource: Resource[P],
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        watch_timeout: float = 300.0,
        watch_timeout_jitter: float = 0.2,
        backoff: Backoff | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        random: Callable[[], float] = random.random,
        on_restart: RestartObserver | None = None,
        on_line: LineObserver | None = None,
    ) -> None:
        self._client = client
        self._resource = resource
        self._namespace = namespace
        self._label_selector = label_selector
        self._field_selector = field_selector
        self._page_size = page_size
        self._watch_timeout = watch_timeout
        self._watch_timeout_jitter = watch_timeout_jitter
        self._backoff = backoff or Backoff()
        self._sleep = sleep
        self._random = random
        self._on_restart = on_restart
        self._on_line = on_line
        self._decoder = decoder_for(resource.projection)

    async def events(self) -> AsyncGenerator[WatchEvent[P], None]:
        """The events, forever. Iterate under ``contextlib.aclosing`` to stop early."""
        resource_version: str | None = None
        while True:
            try:
                if resource_version is None:
                    listing = await list_all(
                        self._client,
                        self._resource,
                        namespace=self._namespace,
                        label_selector=self._label_selector,
                        field_selector=self._field_selector,
                        page_size=self._page_size,
                    )
                    resource_version = listing.resource_version
                    yield Relisted(listing.items, resource_version)
                lines = self._client.stream_watch(
                    self._resource,
                    namespace=self._namespace,
                    resource_version=resource_version,
                    timeout_seconds=self._jittered_timeout(),
                    allow_bookmarks=True,
                    label_selector=self._label_selector,
                    field_selector=self._field_selector,
                )
                received = False
                async with aclosing(lines):
                    async for raw in lines:
                        line = self._decoder.line(raw)
                        received = True
                        if self._on_line is not None:
                            kind = line.type if isinstance(line, Change) else "BOOKMARK"
                            self._on_line(self._resource.label, kind)
                        resource_version = line.resource_version or resource_version
                        if isinstance(line, Change):
                            deleted = line.type == "DELETED"
                            yield Deleted(line.object) if deleted else Applied(line.object)
                await self._restart(RestartReason.CLOSED, resource_version, back_off=not received)
            except GoneError as error:
                resource_version = None
                await self._restart(RestartReason.EXPIRED, resource_version, error=error)
            except TransientError as error:
                await self._restart(RestartReason.TRANSIENT, resource_version, error=error)
            except ApiError as error:
                await self._restart(RestartReason.ERROR, resource_version, error=error)

    def _jittered_timeout(self) -> int:
        return round(self._watch_timeout * (1 + self._watch_timeout_jitter * self._random()))

    async def _restart(
        self,
        reason: RestartReason,
        resume_from: str | None,
        *,
        error: ApiError | None = None,
        back_off: bool = True,
    ) -> None:
        """Report the restart, then wait as the backoff (and any ``Retry-After``) says.

        A stream the server ended after delivering something is the normal
        rhythm of a watch and resumes at once; one that ended without a single
        line is treated as a failure, so a server that keeps closing watches
        cannot make us spin.
        """
        delay = self._backoff.next_delay() if back_off else 0.0
        if isinstance(error, TransientError) and error.retry_after is not None:
            delay = max(delay, min(error.retry_after, _MAX_RETRY_AFTER))
        if self._on_restart is not None:
            self._on_restart(Restart(self._resource.label, reason, resume_from, delay, error))
        if delay > 0:
            await self._sleep(delay)
