"""A wire-level stand-in for the API server, for tests of the client's own behaviour.

It records each request exactly as it arrived (method, path, query, headers,
body) and answers from a script: a status with a body, or a chunked stream
that may be cut mid-line. That is what checks headers, query strings, chunk
splitting and connection loss; behaviour that needs a real API server's
semantics is tested against the simulator instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from aiohttp import web
from kubernetes_asyncio.client import Configuration

from reconciler.api.client import KubeClient, load_configuration
from reconciler.api.retrying import RetryPolicy


@dataclass
class Answer:
    status: int = 200
    body: bytes = b"{}"
    headers: dict[str, str] = field(default_factory=dict)
    chunks: list[bytes] | None = None
    """When set, the body is streamed in these chunks instead."""
    cut: bool = False
    """Drop the connection after the chunks instead of ending the stream."""


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


class WireServer:
    def __init__(self) -> None:
        self.answers: list[Answer] = []
        self.seen: list[Seen] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(
            Seen(
                request.method,
                request.path,
                dict(request.query),
                dict(request.headers),
                await request.read(),
            )
        )
        answer = self.answers.pop(0) if self.answers else Answer()
        if answer.chunks is None:
            return web.Response(
                status=answer.status,
                body=answer.body,
                headers={"Content-Type": "application/json", **answer.headers},
            )
        response = web.StreamResponse(status=answer.status)
        response.enable_chunked_encoding()
        response.content_type = "application/json"
        await response.prepare(request)
        for chunk in answer.chunks:
            await response.write(chunk)
        if answer.cut:
            assert request.transport is not None
            request.transport.close()
            return response
        await response.write_eof()
        return response


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def write_kubeconfig(path: Path, contexts: dict[str, tuple[str, str]], current: str) -> Path:
    """A kubeconfig with one cluster and token user per context: name -> (server, token)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": n, "cluster": {"server": s}} for n, (s, _) in contexts.items()],
        "users": [{"name": n, "user": {"token": t}} for n, (_, t) in contexts.items()],
        "contexts": [{"name": n, "context": {"cluster": n, "user": n}} for n in contexts],
        "current-context": current,
    }
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
async def wire_server() -> AsyncIterator[WireServer]:
    server = WireServer()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    server.url = f"http://127.0.0.1:{port}"
    yield server
    await runner.cleanup()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def configuration(wire_server: WireServer, tmp_path: Path) -> Configuration:
    path = write_kubeconfig(
        tmp_path / "kubeconfig", {"wire": (wire_server.url, "secret-token")}, "wire"
    )
    return await load_configuration(kubeconfig=str(path), environ={})


@pytest.fixture
async def kube(
    configuration: Configuration, sleeps: Sleeps
) -> AsyncIterator[tuple[KubeClient, list[tuple[str, str, str]]]]:
    requests: list[tuple[str, str, str]] = []
    policy = RetryPolicy(sleep=sleeps, random=lambda: 0.0)
    client = KubeClient(
        configuration,
        retry_policy=policy,
        on_request=lambda *request: requests.append(request),
    )
    async with client:
        yield client, requests


@pytest.fixture
def kubeconfig_writer() -> Callable[..., Path]:
    return write_kubeconfig


@pytest.fixture
def answer() -> type[Answer]:
    return Answer
