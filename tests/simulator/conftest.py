"""A started simulator per test, the real kubernetes-asyncio client, and a raw HTTP client.

The typed client shows the simulator works for the library the project uses;
the raw client (aiohttp against ``sim.url`` with the token) checks what the
typed client hides: exact bytes, key order, headers and error bodies.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import pytest
from kubernetes_asyncio.client import ApiClient

from reconciler.simulator.simulator import Simulator


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    raw: bytes
    warnings: list[str]

    def json(self) -> Any:
        return orjson.loads(self.raw)

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")


class Http:
    """Raw HTTP against the simulator, authenticated as the kubeconfig user by default."""

    def __init__(self, session: aiohttp.ClientSession, sim: Simulator) -> None:
        self._session = session
        self._sim = sim

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, str]] | str = (),
        body: Any = None,
        data: bytes | str | None = None,
        content_type: str = "application/json",
        accept: str = "application/json",
        token: str | None = "",
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        sent = {"Accept": accept, "Content-Type": content_type, **(headers or {})}
        if token == "":
            token = self._sim.token
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        if body is not None:
            data = orjson.dumps(body)
        url = self._sim.url + path
        if isinstance(query, str):
            url += "?" + query if query else ""
            params: Sequence[tuple[str, str]] = ()
        else:
            params = query
        async with self._session.request(
            method, url, params=params, data=data, headers=sent
        ) as response:
            raw = await response.read()
            return Reply(
                response.status,
                dict(response.headers),
                raw,
                response.headers.getall("Warning", []),
            )

    async def get(self, path: str, **kwargs: Any) -> Reply:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, body: Any = None, **kwargs: Any) -> Reply:
        return await self.request("POST", path, body=body, **kwargs)

    async def put(self, path: str, body: Any = None, **kwargs: Any) -> Reply:
        return await self.request("PUT", path, body=body, **kwargs)

    async def patch(self, path: str, body: Any = None, **kwargs: Any) -> Reply:
        kwargs.setdefault("content_type", "application/merge-patch+json")
        return await self.request("PATCH", path, body=body, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> Reply:
        return await self.request("DELETE", path, **kwargs)

    async def watch_lines(self, path: str, query: str, *, limit: int | None = None) -> list[Any]:
        """Read a watch stream to its end (or ``limit`` events) and parse each line."""
        headers = {"Authorization": f"Bearer {self._sim.token}", "Accept": "application/json"}
        events: list[Any] = []
        async with self._session.get(f"{self._sim.url}{path}?{query}", headers=headers) as response:
            assert response.status == 200
            async for line in response.content:
                events.append(orjson.loads(line))
                if limit is not None and len(events) >= limit:
                    break
        return events


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(future_resource_version_wait=0.2) as simulator:
        yield simulator


@pytest.fixture
async def api(sim: Simulator) -> AsyncIterator[ApiClient]:
    async with sim.api_client() as client:
        yield client


@pytest.fixture
async def http(sim: Simulator) -> AsyncIterator[Http]:
    async with aiohttp.ClientSession() as session:
        yield Http(session, sim)


class Manifests:
    """Minimal manifests the tests create, so each test shows only what it is about."""

    @staticmethod
    def service(name: str, **spec: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "labels": {"app": name}},
            "spec": {
                "clusterIP": "None",
                "selector": {"app": name},
                "ports": [{"name": "http", "port": 80}],
            },
        }
        body["spec"].update(spec)
        return body

    @staticmethod
    def service_entry(name: str, *, namespace: str = "default") -> dict[str, Any]:
        return {
            "apiVersion": "networking.istio.io/v1",
            "kind": "ServiceEntry",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "hosts": [f"{name}.example.internal"],
                "location": "MESH_INTERNAL",
                "resolution": "STATIC",
                "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}],
                "endpoints": [{"address": "192.0.2.10"}],
            },
        }

    @staticmethod
    def pod(
        name: str, *, node: str | None = "fake-node-1", labels: dict[str, str] | None = None
    ) -> dict[str, Any]:
        spec: dict[str, Any] = {"containers": [{"name": "app", "image": "registry.invalid/app:1"}]}
        if node is not None:
            spec["nodeName"] = node
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": labels or {"app": "web"}},
            "spec": spec,
        }

    @staticmethod
    def lease(name: str) -> dict[str, Any]:
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": name},
            "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15},
        }

    @staticmethod
    def namespace(name: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name},
            "spec": {"finalizers": ["kubernetes"]},
        }


@pytest.fixture
def manifests() -> type[Manifests]:
    return Manifests
