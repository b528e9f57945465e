"""A whole simulated cluster control plane in one object: API server, storage, controllers.

Tests, the demo and the ``simulate`` playground all need the same thing: a real
HTTP endpoint on 127.0.0.1 that the real kubernetes-asyncio client (and
kubectl) can use unchanged, backed by a store, with the in-simulator
controllers (EndpointSlice controller, garbage collector, namespace controller)
running beside it, fault injection at hand, and a clean shutdown that leaves no
task, connection or warning behind.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from aiohttp import web
from kubernetes_asyncio.client import ApiClient, Configuration

from reconciler.simulator import kubeconfig, serialization
from reconciler.simulator.admission import IpAllocator
from reconciler.simulator.controllers import ControllerFactory
from reconciler.simulator.faults import Faults, RequestRecord
from reconciler.simulator.resources import NAMESPACES
from reconciler.simulator.server import ApiServer, stop_watches
from reconciler.simulator.store import Store, now_rfc3339
from reconciler.simulator.verbs import Settings

logger = logging.getLogger(__name__)

INITIAL_NAMESPACES = ("default", "kube-system")
"""Namespaces a fresh cluster already has."""


class Simulator:
    """The simulated API server and its controllers; ``async with Simulator() as sim:``."""

    def __init__(
        self,
        *,
        store: Store | None = None,
        controllers: Sequence[ControllerFactory] = (),
        token: str | None = None,
        seed: int = 0,
        bookmark_interval: float = 60.0,
        future_resource_version_wait: float = 3.0,
        istio_webhook: bool = False,
        anonymous_is_admin: bool = False,
    ) -> None:
        self.store = store if store is not None else Store()
        self.ips = IpAllocator()
        self.faults = Faults(self.store, seed=seed)
        self.settings = Settings(
            bookmark_interval=bookmark_interval,
            future_resource_version_wait=future_resource_version_wait,
            istio_webhook=istio_webhook,
            anonymous_is_admin=anonymous_is_admin,
        )
        self.requests: list[RequestRecord] = []
        """Every request served, named as RBAC names it."""
        self.token = token or secrets.token_urlsafe(32)
        self._controller_factories = list(controllers)
        self._controller_tasks: list[asyncio.Task[None]] = []
        self._server: ApiServer | None = None
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._host = "127.0.0.1"
        self._port = 0

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve on ``host:port`` (0 picks a free port) and start the controllers."""
        self._seed_namespaces()
        server = ApiServer(
            store=self.store,
            ips=self.ips,
            faults=self.faults,
            token=self.token,
            settings=self.settings,
            requests=self.requests,
        )
        runner = web.AppRunner(server.application(), access_log=None, shutdown_timeout=5.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._server, self._runner, self._site = server, runner, site
        self._host = host
        self._port = int(runner.addresses[0][1])
        server.server_address = f"{host}:{self._port}"
        self.faults.on_restart = self._restart
        for factory in self._controller_factories:
            controller = factory(self.store)
            task = asyncio.create_task(controller.run(), name=type(controller).__name__)
            task.add_done_callback(_report_crash)
            self._controller_tasks.append(task)

    async def stop(self) -> None:
        """Stop controllers, end every watch and request, close the listener."""
        for task in self._controller_tasks:
            task.cancel()
        await asyncio.gather(*self._controller_tasks, return_exceptions=True)
        self._controller_tasks.clear()
        self.faults.clear()
        self.faults.on_restart = None
        if self._server is not None:
            await stop_watches(self._server, abort=False)
        if self._runner is not None:
            await self._runner.cleanup()
        self._server = self._runner = self._site = None

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    def _seed_namespaces(self) -> None:
        for name in INITIAL_NAMESPACES:
            if self.store.get(NAMESPACES, "", name) is not None:
                continue
            namespace = {
                "metadata": {
                    "name": name,
                    "uid": self.store.uid_factory(),
                    "creationTimestamp": now_rfc3339(),
                    "labels": {"kubernetes.io/metadata.name": name},
                },
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            }
            self.store.create(NAMESPACES, serialization.to_storage(NAMESPACES, namespace))

    async def _restart(self, pause: float) -> None:
        """Drop every connection, refuse new ones for ``pause`` seconds, then listen again."""
        server, runner, site = self._server, self._runner, self._site
        if server is None or runner is None or site is None:
            raise RuntimeError("the simulator is not running")
        await site.stop()
        await stop_watches(server, abort=True)
        if runner.server is not None:
            for connection in runner.server.connections:
                connection.force_close()
        await asyncio.sleep(pause)
        self._site = web.TCPSite(runner, self._host, self._port, reuse_address=True)
        await self._site.start()

    def cut_watches(self, *, resource: str | None = None, agent: str | None = None) -> int:
        """Drop open watch connections now, as a network blip would; returns how many.

        ``resource`` (plural) and ``agent`` (a User-Agent prefix) narrow which.
        """
        if self._server is None:
            raise RuntimeError("the simulator is not running")
        cut = [
            stream
            for stream in self._server.watches
            if (resource is None or stream.resource == resource)
            and (agent is None or stream.user_agent.startswith(agent))
        ]
        for stream in cut:
            stream.stop(abort=True)
        return len(cut)

    # -- access ----------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._runner is None:
            raise RuntimeError("the simulator is not running")
        return f"http://{self._host}:{self._port}"

    @property
    def open_watches(self) -> int:
        """How many watch streams are being served right now."""
        return len(self._server.watches) if self._server is not None else 0

    async def wait_for_open_watches(self, count: int, *, agent: str | None = None) -> None:
        """Wait until exactly ``count`` watch streams are being served (to clients whose
        User-Agent starts with ``agent``, if given)."""
        if self._server is None:
            raise RuntimeError("the simulator is not running")
        await self._server.wait_for_watches(count, agent=agent)

    @property
    def bookmark_interval(self) -> float:
        return self.settings.bookmark_interval

    @bookmark_interval.setter
    def bookmark_interval(self, seconds: float) -> None:
        self.settings.bookmark_interval = seconds

    def write_kubeconfig(self, path: Path) -> Path:
        """A kubeconfig for kubectl, ``diff`` and ``run``: this server and its token."""
        return kubeconfig.write_kubeconfig(path, server=self.url, token=self.token)

    def client_configuration(self) -> Configuration:
        return kubeconfig.client_configuration(server=self.url, token=self.token)

    def api_client(self) -> ApiClient:
        """A kubernetes-asyncio client for this server; close it when done."""
        return kubeconfig.api_client(server=self.url, token=self.token)


def _report_crash(task: asyncio.Task[None]) -> None:
    if task.cancelled() or task.exception() is None:
        return
    logger.error("simulator controller %s crashed", task.get_name(), exc_info=task.exception())
