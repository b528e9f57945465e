"""Builders of projections as the watch layer decodes them, and a clock moved by hand.

Imported by the tests of this folder as ``runtime_world``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from reconciler.models.projections import (
    Endpoint,
    EndpointConditions,
    EndpointPort,
    EndpointSlice,
    Namespace,
    ObjectMeta,
    Service,
    ServiceEntry,
    ServiceEntrySpec,
    ServiceSpec,
    TargetRef,
    WorkloadEntry,
    WorkloadSpec,
)

NS = "ns"


def meta(
    name: str,
    *,
    namespace: str = NS,
    version: str = "1",
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> ObjectMeta:
    return ObjectMeta(
        name=name,
        namespace=namespace,
        uid=f"uid-{namespace}-{name}",
        resource_version=version,
        labels=dict(labels or {}),
        annotations=dict(annotations or {}),
    )


def endpoint(pod: str, address: str, *, ready: bool = True, by_hostname: bool = False) -> Endpoint:
    return Endpoint(
        addresses=(address,),
        conditions=EndpointConditions(ready=ready),
        hostname=pod,
        target_ref=None if by_hostname else TargetRef(kind="Pod", name=pod, uid=f"uid-{pod}"),
    )


def endpoint_slice(
    name: str,
    *endpoints: Endpoint,
    service: str | None = "web",
    namespace: str = NS,
    version: str = "1",
    address_type: str = "IPv4",
    port: int = 8080,
) -> EndpointSlice:
    labels = {"kubernetes.io/service-name": service} if service else {}
    return EndpointSlice(
        metadata=meta(name, namespace=namespace, version=version, labels=labels),
        address_type=address_type,
        endpoints=endpoints or None,
        ports=(EndpointPort(name="http", port=port, protocol="TCP"),),
    )


def service(
    name: str,
    *,
    namespace: str = NS,
    version: str = "1",
    annotations: Mapping[str, str] | None = None,
) -> Service:
    return Service(
        metadata=meta(name, namespace=namespace, version=version, annotations=annotations),
        spec=ServiceSpec(cluster_ip="None", selector={"app": name}),
    )


def service_entry(
    name: str,
    *,
    namespace: str = NS,
    version: str = "1",
    annotations: Mapping[str, str] | None = None,
    hosts: Iterable[str] = ("external.example.com",),
) -> ServiceEntry:
    return ServiceEntry(
        metadata=meta(name, namespace=namespace, version=version, annotations=annotations),
        spec=ServiceEntrySpec(hosts=tuple(hosts), resolution="STATIC"),
    )


def workload_entry(
    name: str, *, pod: str | None, namespace: str = NS, version: str = "1"
) -> WorkloadEntry:
    annotations = {"headless-reconciler.io/pod": pod} if pod is not None else {}
    return WorkloadEntry(
        metadata=meta(name, namespace=namespace, version=version, annotations=annotations),
        spec=WorkloadSpec(address="10.0.0.1"),
    )


def namespace(
    name: str = NS, *, version: str = "1", labels: Mapping[str, str] | None = None
) -> Namespace:
    return Namespace(metadata=meta(name, namespace="", version=version, labels=labels))


@dataclass
class _FakeTimer:
    when: float
    callback: Callable[[], None]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class FakeClock:
    """A monotonic clock that moves only when told to, firing the timers that fall due."""

    now_value: float = 1000.0
    timers: list[_FakeTimer] = field(default_factory=list)

    def now(self) -> float:
        return self.now_value

    def call_at(self, when: float, callback: Callable[[], None]) -> _FakeTimer:
        timer = _FakeTimer(when, callback)
        self.timers.append(timer)
        return timer

    def deadlines(self) -> list[float]:
        """When the armed timers fire, earliest first (relative to now)."""
        return sorted(t.when - self.now_value for t in self.timers if not t.cancelled)

    def advance(self, seconds: float) -> None:
        self.now_value += seconds
        for timer in sorted(self.timers, key=lambda t: t.when):
            if not timer.cancelled and timer.when <= self.now_value:
                timer.cancelled = True
                timer.callback()
        self.timers = [t for t in self.timers if not t.cancelled]


async def settle() -> None:
    """Let every task that can make progress without time passing do so.

    Not a sleep: time (the fake clock) stands still; this only yields to the
    event loop until the queue's dispatcher and the runs it started have had
    their turn.
    """
    for _ in range(50):
        await asyncio.sleep(0)
