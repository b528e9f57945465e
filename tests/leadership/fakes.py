"""A clock that moves only when told to, and an in-memory Lease with the API server's rules."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from reconciler.api.errors import AlreadyExistsError, ConflictError
from reconciler.leadership.lease import Lease, LeaseSpec
from reconciler.models.projections import ObjectMeta

START = datetime(2026, 11, 29, 5, 12, tzinfo=UTC)
"""Wall time at fake monotonic 0: a whole second, where isoformat() would drop the fraction."""


async def settle() -> None:
    """Let every task that can progress without time passing do so (the clock stands still)."""
    for _ in range(50):
        await asyncio.sleep(0)


class FakeClock:
    """Monotonic and wall time that advance only through :meth:`advance`, waking due sleepers."""

    def __init__(self) -> None:
        self._now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._sequence = itertools.count()

    def monotonic(self) -> float:
        return self._now

    def wall(self) -> datetime:
        return START + timedelta(seconds=self._now)

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._sequence), woken))
        await woken

    async def advance(self, seconds: float) -> None:
        """Move time forward, waking each sleeper at its own moment and letting it run."""
        target = self._now + seconds
        await settle()
        while self._sleepers and self._sleepers[0][0] <= target:
            when, _, woken = heapq.heappop(self._sleepers)
            if woken.done():
                continue
            self._now = max(self._now, when)
            woken.set_result(None)
            await settle()
        self._now = target
        await settle()


@dataclass
class MemoryLeases:
    """One namespace's Leases as the API server keeps them: resourceVersions, 409s, create on PUT.

    ``hold_writes()`` makes every create and replace wait until ``release_writes()``:
    a renewal stuck in the network.
    """

    leases: dict[str, Lease] = field(default_factory=dict)
    writes: list[tuple[str, LeaseSpec]] = field(default_factory=list)
    _revision: int = 0
    _open: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: int = 0

    def __post_init__(self) -> None:
        self._open.set()

    def hold_writes(self) -> None:
        self._open.clear()

    def release_writes(self) -> None:
        self._open.set()

    def spec(self, name: str) -> LeaseSpec:
        return self.leases[name].spec

    async def get(self, namespace: str, name: str) -> Lease | None:
        del namespace
        await asyncio.sleep(0)
        return self.leases.get(name)

    async def create(self, namespace: str, name: str, spec: LeaseSpec) -> Lease:
        await self._wait_open()
        if name in self.leases:
            raise AlreadyExistsError(
                code=409, reason="AlreadyExists", message=f'leases "{name}" already exists'
            )
        return self._store(namespace, name, spec, "create")

    async def replace(
        self, namespace: str, name: str, spec: LeaseSpec, *, resource_version: str
    ) -> Lease:
        await self._wait_open()
        current = self.leases.get(name)
        if current is not None and current.metadata.resource_version != resource_version:
            raise ConflictError(
                code=409,
                reason="Conflict",
                message=f'Operation cannot be fulfilled on leases "{name}": '
                "the object has been modified",
            )
        return self._store(namespace, name, spec, "update")

    def overwrite(self, name: str, spec: LeaseSpec) -> None:
        """Someone else (kubectl, another controller) writes the Lease."""
        self._store("default", name, spec, "update")

    async def _wait_open(self) -> None:
        self.arrived += 1
        await self._open.wait()

    def _store(self, namespace: str, name: str, spec: LeaseSpec, verb: str) -> Lease:
        self._revision += 1
        lease = Lease(
            metadata=ObjectMeta(
                name=name, namespace=namespace, resource_version=str(self._revision)
            ),
            spec=spec,
        )
        self.leases[name] = lease
        self.writes.append((verb, spec))
        return lease
