"""The one place end-to-end tests get their cluster from.

Every end-to-end test asks for ``cluster`` (and usually ``namespace``). It runs
against the built-in simulator always, and a second time against a real cluster
when ``HEADLESS_RECONCILER_E2E_KUBECONFIG`` names a kubeconfig; without it that
variant is skipped. Tests change the world only through the API, so both
variants run the same code.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes_asyncio.client import ApiClient, CoreV1Api
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.config import new_client_from_config

from reconciler.simulator.cluster import simulated_cluster
from reconciler.simulator.simulator import Simulator
from reconciler.testbed.waiting import wait_for_namespace_gone

E2E_KUBECONFIG_ENV = "HEADLESS_RECONCILER_E2E_KUBECONFIG"


@dataclass(frozen=True)
class Cluster:
    """Where end-to-end tests send their requests."""

    kubeconfig: Path
    simulator: Simulator | None
    """The in-process simulator, or None on a real cluster (then skip simulator-only checks)."""

    async def api_client(self) -> ApiClient:
        """A kubernetes-asyncio client for this cluster; close it when done."""
        return await new_client_from_config(config_file=str(self.kubeconfig))

    def require_simulator(self) -> Simulator:
        """For checks only the simulator can make (its write log, fault injection)."""
        if self.simulator is None:
            pytest.skip("needs the simulator's write log or fault injection")
        return self.simulator


@pytest.fixture(params=["simulator", "real-cluster"])
async def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Cluster]:
    if request.param == "real-cluster":
        configured = os.environ.get(E2E_KUBECONFIG_ENV)
        if not configured:
            pytest.skip(f"{E2E_KUBECONFIG_ENV} is not set")
        yield Cluster(kubeconfig=Path(configured), simulator=None)
        return
    async with simulated_cluster(future_resource_version_wait=0.2) as sim:
        yield Cluster(kubeconfig=sim.write_kubeconfig(tmp_path / "kubeconfig"), simulator=sim)


@pytest.fixture
async def api(cluster: Cluster) -> AsyncIterator[ApiClient]:
    client = await cluster.api_client()
    async with client:
        yield client


@pytest.fixture
async def namespace(api: ApiClient) -> AsyncIterator[str]:
    """A fresh namespace per test, deleted (and waited for) afterwards."""
    name = f"e2e-{secrets.token_hex(4)}"
    core = CoreV1Api(api)
    await core.create_namespace({"metadata": {"name": name}})
    yield name
    try:
        await core.delete_namespace(name)
    except ApiException as error:
        if error.status != 404:
            raise
    await wait_for_namespace_gone(api, name=name)
