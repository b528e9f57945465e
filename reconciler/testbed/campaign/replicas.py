"""The controller's replicas in a campaign: real pipelines, killed and replaced on schedule.

Each replica is what ``headless-reconciler run`` builds (``running.build_controller``)
with its own client, identity and User-Agent (``headless-reconciler/<version>
(<identity>)``), so the simulator's write log says which replica wrote what, as
an API server's audit log would. Killing a replica cancels its task: like
SIGKILL, nothing is released and in-flight requests are cut. A replacement is a
new process with a new identity, as a new pod would be.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from reconciler import running
from reconciler.api.client import USER_AGENT, KubeClient, load_configuration
from reconciler.applying.applier import Applied
from reconciler.config import RunSettings
from reconciler.leadership.role import Leadership
from reconciler.models.refs import ObjectKey
from reconciler.runtime.controller import Controller
from reconciler.testbed.campaign.world import LEASE_NAMESPACE

AGENT_PREFIX: Final = USER_AGENT.split("/", 1)[0] + "/"
"""Every replica's User-Agent starts so: fault rules aim at the controller only."""
LEASE_DURATION: Final = 2
RENEW_DEADLINE: Final = 1.0
RETRY_PERIOD: Final = 0.2
REMOVAL_GRACE: Final = 1.0
"""The campaign's ``--removal-grace``: long enough to ride out a restart, short to wait out."""
START_WITHIN: Final = 20.0


def user_agent_of(identity: str) -> str:
    return f"{USER_AGENT} ({identity})"


def identity_of(user_agent: str) -> str | None:
    """The replica identity in a User-Agent, or None for any other client."""
    if not user_agent.startswith(AGENT_PREFIX) or not user_agent.endswith(")"):
        return None
    return user_agent.rpartition("(")[2][:-1]


@dataclass(eq=False)
class Replica:
    identity: str
    controller: Controller
    task: asyncio.Task[None]
    client: KubeClient
    results: list[Applied] = field(default_factory=list)
    closed: bool = False
    _reported: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def user_agent(self) -> str:
        return user_agent_of(self.identity)

    @property
    def leading(self) -> bool:
        leadership = self.controller.leadership
        return isinstance(leadership, Leadership) and leadership.leading and not self.task.done()

    def record(self, applied: Applied, observed_at: float | None) -> None:
        del observed_at
        self.results.append(applied)
        self._reported.set()

    async def wait_reconciled(self, keys: set[ObjectKey], *, after: int) -> None:
        """Until every key has a result reported after position ``after``."""
        while not keys <= {applied.key for applied in self.results[after:]}:
            self._reported.clear()
            await self._reported.wait()


class Fleet:
    """The live replicas; ``crashes`` collects any that died on their own."""

    def __init__(self, kubeconfig: Path) -> None:
        self._kubeconfig = kubeconfig
        self._started = 0
        self.replicas: list[Replica] = []
        self.crashes: list[str] = []
        self._pending: set[asyncio.Task[None]] = set()
        self._leadership_changed = asyncio.Event()

    @property
    def live(self) -> list[Replica]:
        return [replica for replica in self.replicas if not replica.task.done()]

    def leader(self) -> Replica | None:
        return next((replica for replica in self.live if replica.leading), None)

    async def start(self) -> Replica:
        identity = f"replica-{self._started}"
        self._started += 1
        settings = RunSettings(
            kubeconfig=self._kubeconfig,
            removal_grace_seconds=REMOVAL_GRACE,
            leader_elect=True,
            leader_identity=identity,
            lease_namespace=LEASE_NAMESPACE,
            lease_duration=LEASE_DURATION,
            renew_deadline=RENEW_DEADLINE,
            retry_period=RETRY_PERIOD,
        )
        configuration = await load_configuration(kubeconfig=str(self._kubeconfig))
        client = KubeClient(configuration, user_agent=user_agent_of(identity))
        replicas: list[Replica] = []
        controller = await running.build_controller(
            settings, client, on_result=lambda applied, at: replicas[0].record(applied, at)
        )
        leadership = controller.leadership
        if isinstance(leadership, Leadership):
            leadership.subscribe(lambda _leading: self._leadership_changed.set())
        task = asyncio.create_task(controller.run(), name=f"controller {identity}")
        replica = Replica(identity, controller, task, client)
        replicas.append(replica)
        task.add_done_callback(lambda done: self._ended(replica, done))
        self.replicas.append(replica)
        return replica

    def _ended(self, replica: Replica, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            self.crashes.append(f"{replica.identity}: {type(error).__name__}: {error}")
        elif not replica.controller.stopping:
            self.crashes.append(f"{replica.identity}: returned without being stopped")

    async def kill(self, replica: Replica, *, restart_after: float) -> None:
        """SIGKILL: cancel everything at once; a new replica starts ``restart_after`` s later."""
        replica.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await replica.task
        await _close(replica)
        self._later(restart_after, self._replace)

    def _later(self, delay: float, action: Callable[[], Awaitable[object]]) -> None:
        async def run() -> None:
            await asyncio.sleep(delay)
            await action()

        task = asyncio.create_task(run())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _replace(self) -> None:
        await self.start()

    async def settle(self, size: int) -> None:
        """Pending restarts done now, and ``size`` replicas live, each with warm caches."""
        for task in list(self._pending):
            task.cancel()
        self._pending.clear()
        while len(self.live) < size:
            await self.start()
        async with asyncio.timeout(START_WITHIN):
            for replica in self.live:
                await replica.controller.cache.synced.wait()

    async def wait_leader(self, *, within: float) -> Replica:
        """Until some live replica leads."""
        async with asyncio.timeout(within):
            while (leader := self.leader()) is None:
                self._leadership_changed.clear()
                await self._leadership_changed.wait()
        return leader

    async def stop(self) -> None:
        """Gracefully, as SIGTERM would; then every client closed."""
        for task in list(self._pending):
            task.cancel()
        for replica in self.live:
            replica.controller.stop()
        for replica in self.replicas:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(replica.task, START_WITHIN)
            await _close(replica)


async def _close(replica: Replica) -> None:
    if not replica.closed:
        replica.closed = True
        await replica.client.close()
