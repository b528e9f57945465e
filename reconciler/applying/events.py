"""Kubernetes Events on the objects the controller writes or refuses, rate-limited.

Users look at ``kubectl describe`` first, so every write and every refusal is
recorded there (SPEC section 4). A flapping object must not flood the API, so
each object has a token bucket (like client-go's spam filter): a burst, then
one Event per refill interval; what is suppressed is counted, not queued.
Recording an Event never fails a reconcile: errors are reported to a callback
and dropped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

from reconciler.api.client import KubeClient
from reconciler.api.errors import ApiError
from reconciler.api.resources import EVENTS

COMPONENT: Final = "headless-reconciler"

EventType = Literal["Normal", "Warning"]


@dataclass(frozen=True, slots=True)
class EventTarget:
    """The object an Event is about (``involvedObject``)."""

    api_version: str
    kind: str
    namespace: str
    name: str
    uid: str = ""
    resource_version: str = ""


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class EventRecorder:
    """Creates core/v1 Events, at most ``burst`` at once and one per ``refill_seconds`` after."""

    def __init__(
        self,
        client: KubeClient,
        *,
        instance: str,
        burst: int = 10,
        refill_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        on_error: Callable[[ApiError], None] | None = None,
    ) -> None:
        self._client = client
        self._instance = instance
        self._burst = burst
        self._refill = refill_seconds
        self._clock = clock
        self._on_error = on_error
        self._buckets: dict[tuple[str, str, str], _Bucket] = {}
        self.suppressed = 0
        """Events not sent because their object's bucket was empty."""

    def _allow(self, target: EventTarget) -> bool:
        now = self._clock()
        key = (target.kind, target.namespace, target.name)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(tokens=float(self._burst), updated=now)
        bucket.tokens = min(
            float(self._burst), bucket.tokens + (now - bucket.updated) / self._refill
        )
        bucket.updated = now
        if bucket.tokens < 1.0:
            self.suppressed += 1
            return False
        bucket.tokens -= 1.0
        return True

    async def emit(
        self,
        target: EventTarget,
        *,
        type: EventType,
        reason: str,
        message: str,
        dry_run: bool = False,
    ) -> bool:
        """Record one Event; False when rate-limited or refused by the API.

        ``dry_run`` sends it with ``dryRun=All``: validated, not persisted.
        """
        if not self._allow(target):
            return False
        try:
            await self._client.create(
                EVENTS,
                target.namespace,
                event_body(
                    target, type=type, reason=reason, message=message, instance=self._instance
                ),
                dry_run=dry_run,
            )
        except ApiError as error:
            if self._on_error is not None:
                self._on_error(error)
            return False
        return True


def event_body(
    target: EventTarget, *, type: EventType, reason: str, message: str, instance: str
) -> dict[str, Any]:
    """A core/v1 Event as ``kubectl describe`` expects it (name unique like client-go's)."""
    now = datetime.now(UTC)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    involved: dict[str, Any] = {
        "apiVersion": target.api_version,
        "kind": target.kind,
        "namespace": target.namespace,
        "name": target.name,
    }
    if target.uid:
        involved["uid"] = target.uid
    if target.resource_version:
        involved["resourceVersion"] = target.resource_version
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{target.name}.{time.time_ns():x}",
            "namespace": target.namespace,
        },
        "involvedObject": involved,
        "reason": reason,
        "message": message[:1024],
        "type": type,
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": instance,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }
