"""Leader election on a Lease, with client-go's semantics and a hard stop on writes.

Every replica runs an elector for the same Lease. The holder renews it every
``retry_period``; the others read it every ``retry_period`` (plus jitter, so
replicas started together do not poll in lockstep) and take it over once it
has not changed for ``leaseDurationSeconds``, measured on their own monotonic
clock from the moment they *observed* the last change (never from the
``renewTime`` written in it, so clock skew between nodes does not matter).
A standby also tries again the moment the Lease it last saw would expire,
so a crashed leader is replaced within the lease duration plus one retry
period (with its jitter).

What is written is client-go's ``LeaderElectionRecord`` on a
``coordination.k8s.io/v1`` Lease: ``holderIdentity``, ``leaseDurationSeconds``,
``acquireTime``/``renewTime`` as MicroTime in UTC, and ``leaseTransitions``,
counted up on every change of holder. Every update carries the
``resourceVersion`` it read, so two candidates never both win (409 for the
loser, who reads again next time).

Safety does not depend on the other replicas: :meth:`LeaderElector.may_write`
turns false ``renew_deadline`` seconds after the last renewal was *sent*,
whatever the network does, and ``renew_deadline`` is shorter than the lease
duration. A leader whose renewals hang therefore stops writing before anyone
can take over. :meth:`LeaderElector.release` (on SIGTERM) clears the holder,
so a standby takes over on its next try instead of waiting out the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from reconciler.api.errors import AlreadyExistsError, ApiError, ConflictError
from reconciler.leadership.lease import Lease, LeaseApi, LeaseSpec
from reconciler.leadership.microtime import format_micro_time

logger = logging.getLogger(__name__)

RELEASED_LEASE_SECONDS = 1
"""``leaseDurationSeconds`` of a released Lease, as client-go writes it."""


@dataclass(frozen=True, slots=True)
class ElectionSettings:
    """Timings, with client-go's defaults (15s / 10s / 2s)."""

    lease_duration: int = 15
    """Whole seconds (the Lease holds an integer): how long a standby waits for a silent leader."""
    renew_deadline: float = 10.0
    """Seconds without a successful renewal after which the leader stops writing."""
    retry_period: float = 2.0
    """Seconds between renewals by the leader, and between tries by a standby."""
    jitter: float = 0.2
    """A standby waits ``retry_period * (1 + jitter * U[0, 1))`` between tries."""

    def __post_init__(self) -> None:
        if not self.lease_duration > self.renew_deadline > self.retry_period > 0:
            raise ValueError(
                "leader election needs lease duration > renew deadline > retry period > 0, "
                f"got {self.lease_duration}s, {self.renew_deadline}s, {self.retry_period}s"
            )
        if self.jitter < 0:
            raise ValueError(f"jitter must not be negative, got {self.jitter}")


class ElectionClock(Protocol):
    """Monotonic seconds for deadlines, UTC wall time for what is written, and sleeping."""

    def monotonic(self) -> float: ...

    def wall(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


LeadershipObserver = Callable[[], None]


class LeaderElector:
    """Campaigns for one Lease until cancelled; leads while it renews in time."""

    def __init__(
        self,
        leases: LeaseApi,
        *,
        namespace: str,
        name: str,
        identity: str,
        settings: ElectionSettings | None = None,
        clock: ElectionClock | None = None,
        uniform: Callable[[], float] = random.random,
        on_started_leading: LeadershipObserver | None = None,
        on_stopped_leading: LeadershipObserver | None = None,
    ) -> None:
        if not identity:
            raise ValueError("a leader election identity must not be empty")
        self._leases = leases
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self._settings = settings or ElectionSettings()
        self._clock = clock or SystemClock()
        self._uniform = uniform
        self._on_started = on_started_leading
        self._on_stopped = on_stopped_leading
        self._observed: Lease | None = None
        self._observed_at = 0.0
        self._renewed_at: float | None = None
        """Monotonic time the last successful acquire or renewal was sent; None when not leading."""

    @property
    def leading(self) -> bool:
        """Whether this replica holds the Lease and may act on it (as :meth:`may_write`)."""
        return self.may_write()

    def may_write(self) -> bool:
        """True only while the last renewal was sent less than ``renew_deadline`` seconds ago.

        Checked before every write: it turns false on time alone, even while a
        renewal is still in flight, so a partitioned leader stops writing
        before its Lease can expire for anyone else.
        """
        return (
            self._renewed_at is not None
            and self._clock.monotonic() < self._renewed_at + self._settings.renew_deadline
        )

    async def run(self) -> None:
        """Acquire, lead while renewing in time, stand by again after a loss; until cancelled."""
        while True:
            await self._acquire()
            self._started_leading()
            await self._renew_until_lost()
            self._stopped_leading(
                f"the Lease was not renewed within {self._settings.renew_deadline:g}s, "
                "or another replica holds it"
            )

    async def release(self) -> bool:
        """Give the Lease up (holder cleared) so a standby takes over at once.

        Call after :meth:`run` is cancelled and the last write has finished.
        Returns whether a Lease held by this replica was released.
        """
        if self._renewed_at is not None:
            self._stopped_leading("releasing the Lease on shutdown", level=logging.INFO)
        observed = self._observed
        for _ in range(2):
            if observed is None or observed.spec.holder != self.identity:
                return False
            now = self._now_text()
            spec = LeaseSpec(
                lease_duration_seconds=RELEASED_LEASE_SECONDS,
                acquire_time=now,
                renew_time=now,
                lease_transitions=observed.spec.lease_transitions or 0,
            )
            try:
                self._observed = await self._leases.replace(
                    self.namespace,
                    self.name,
                    spec,
                    resource_version=observed.metadata.resource_version,
                )
            except ConflictError:
                observed = await self._read_quietly()
                continue
            except ApiError as error:
                logger.warning("could not release Lease %s: %s", self._lease_name, error)
                return False
            logger.info("released Lease %s", self._lease_name)
            return True
        return False

    # -- the two phases ----------------------------------------------------------------------------

    async def _acquire(self) -> None:
        while not await self._attempt():
            await self._clock.sleep(self._standby_wait())

    async def _renew_until_lost(self) -> None:
        while self._renewed_at is not None:
            deadline = self._renewed_at + self._settings.renew_deadline
            remaining = deadline - self._clock.monotonic()
            await self._clock.sleep(max(0.0, min(self._settings.retry_period, remaining)))
            if self._clock.monotonic() >= deadline:
                return
            await self._attempt(deadline=deadline)

    def _standby_wait(self) -> float:
        """A jittered retry period, cut short when the observed Lease expires sooner."""
        wait = self._settings.retry_period * (1.0 + self._settings.jitter * self._uniform())
        lease = self._observed
        if lease is not None and lease.spec.holder not in ("", self.identity):
            expires_in = self._expires_at(lease) - self._clock.monotonic()
            wait = min(wait, max(expires_in, 0.0))
        return wait

    def _expires_at(self, lease: Lease) -> float:
        return self._observed_at + (lease.spec.lease_duration_seconds or 0)

    # -- one try -----------------------------------------------------------------------------------

    async def _attempt(self, *, deadline: float | None = None) -> bool:
        """One acquire-or-renew, given up at ``deadline`` (default: one renew deadline from now)."""
        started = self._clock.monotonic()
        until = deadline if deadline is not None else started + self._settings.renew_deadline
        trying = asyncio.ensure_future(self._try_acquire_or_renew(started))
        timer = asyncio.ensure_future(self._clock.sleep(max(0.0, until - started)))
        try:
            await asyncio.wait({trying, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (trying, timer):
                task.cancel()
            await asyncio.gather(trying, timer, return_exceptions=True)
        if trying.cancelled():
            logger.warning("a Lease request to %s took too long; abandoned", self._lease_name)
            return False
        return trying.result()

    async def _try_acquire_or_renew(self, started: float) -> bool:
        """client-go's ``tryAcquireOrRenew``: True when this replica holds the Lease now."""
        now = self._now_text()
        try:
            if self._renewed_at is not None and self._observed is not None:
                with contextlib.suppress(ConflictError):
                    return self._won(await self._renew(self._observed, now), started)
            lease = await self._leases.get(self.namespace, self.name)
            if lease is None:
                return self._won(await self._create(now), started)
            self._observe(lease)
            if self._held_by_another(lease):
                # Someone else holds it: if we thought we led, we no longer do.
                self._renewed_at = None
                return False
            return self._won(await self._take(lease, now), started)
        except ConflictError:
            return False
        except ApiError as error:
            logger.warning("Lease %s: %s", self._lease_name, error)
            return False

    async def _renew(self, lease: Lease, now: str) -> Lease:
        spec = LeaseSpec(
            holder_identity=self.identity,
            lease_duration_seconds=self._settings.lease_duration,
            acquire_time=lease.spec.acquire_time or now,
            renew_time=now,
            lease_transitions=lease.spec.lease_transitions or 0,
        )
        return await self._leases.replace(
            self.namespace, self.name, spec, resource_version=lease.metadata.resource_version
        )

    async def _create(self, now: str) -> Lease:
        spec = LeaseSpec(
            holder_identity=self.identity,
            lease_duration_seconds=self._settings.lease_duration,
            acquire_time=now,
            renew_time=now,
            lease_transitions=0,
        )
        try:
            return await self._leases.create(self.namespace, self.name, spec)
        except AlreadyExistsError as error:
            raise ConflictError(
                code=error.code, reason=error.reason, message=error.message
            ) from None

    async def _take(self, lease: Lease, now: str) -> Lease:
        """Renew our own Lease, or take over an expired or released one (a new transition)."""
        if lease.spec.holder == self.identity:
            return await self._renew(lease, now)
        spec = LeaseSpec(
            holder_identity=self.identity,
            lease_duration_seconds=self._settings.lease_duration,
            acquire_time=now,
            renew_time=now,
            lease_transitions=(lease.spec.lease_transitions or 0) + 1,
        )
        return await self._leases.replace(
            self.namespace, self.name, spec, resource_version=lease.metadata.resource_version
        )

    def _held_by_another(self, lease: Lease) -> bool:
        holder = lease.spec.holder
        return (
            holder not in ("", self.identity) and self._expires_at(lease) > self._clock.monotonic()
        )

    def _observe(self, lease: Lease) -> None:
        """Remember the Lease, and when it was first seen like this (the expiry clock)."""
        observed = self._observed
        if observed is None or (observed.metadata.resource_version, observed.spec) != (
            lease.metadata.resource_version,
            lease.spec,
        ):
            self._observed = lease
            self._observed_at = self._clock.monotonic()

    def _won(self, lease: Lease, started: float) -> bool:
        self._observed = lease
        self._observed_at = self._clock.monotonic()
        self._renewed_at = started
        return True

    async def _read_quietly(self) -> Lease | None:
        try:
            return await self._leases.get(self.namespace, self.name)
        except ApiError:
            return None

    # -- transitions -------------------------------------------------------------------------------

    def _started_leading(self) -> None:
        transitions = self._observed.spec.lease_transitions if self._observed else 0
        logger.info(
            "leading: holding Lease %s as %s (transitions: %s)",
            self._lease_name,
            self.identity,
            transitions,
        )
        if self._on_started is not None:
            self._on_started()

    def _stopped_leading(self, why: str, *, level: int = logging.WARNING) -> None:
        self._renewed_at = None
        logger.log(level, "stopped leading (%s): no more writes from this replica", why)
        if self._on_stopped is not None:
            self._on_stopped()

    @property
    def _lease_name(self) -> str:
        return f"{self.namespace}/{self.name}"

    def _now_text(self) -> str:
        return format_micro_time(self._clock.wall())
