"""The controller's own HTTP endpoints: ``/metrics``, ``/healthz``, ``/readyz``.

One small aiohttp server on ``--metrics-address`` (default ``:8080``, every
interface), started before the caches list so the kubelet can probe it from
the first second, and stopped only after the controller has finished, so a
probe during shutdown sees ``/readyz`` fail rather than a closed port.

``/metrics`` speaks the Prometheus text format, or OpenMetrics when the
``Accept`` header asks for it (as Prometheus does). The probes answer
``ok`` (200) or list what failed (503); ``?verbose`` lists every check, the
way kube-apiserver's probes do. Access logs are off: probes every few
seconds are not news.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from reconciler.health import Health, ProbeResult

_INDEX = "headless-reconciler: /metrics /healthz /readyz\n"


@dataclass(frozen=True, slots=True)
class Served:
    """Where the server listens (the port is the real one when 0 was asked for)."""

    host: str
    port: int

    @property
    def url(self) -> str:
        """A URL that reaches the server from this machine."""
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"


def parse_address(address: str) -> tuple[str, int]:
    """``[host]:port``, as the settings validated it, split; host ``""`` is every interface."""
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def application(*, registry: CollectorRegistry, health: Health) -> web.Application:
    async def metrics(request: web.Request) -> web.Response:
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        response = web.Response(body=encoder(registry))
        response.headers["Content-Type"] = content_type
        return response

    async def healthz(request: web.Request) -> web.Response:
        return _probe(health.live(), request)

    async def readyz(request: web.Request) -> web.Response:
        return _probe(health.ready(), request)

    async def index(request: web.Request) -> web.Response:
        del request
        return web.Response(text=_INDEX)

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/", index)
    return app


def _probe(result: ProbeResult, request: web.Request) -> web.Response:
    verbose = "verbose" in request.query
    return web.Response(text=result.render(verbose=verbose), status=200 if result.ok else 503)


@contextlib.asynccontextmanager
async def serving(
    address: str, *, registry: CollectorRegistry, health: Health
) -> AsyncIterator[Served]:
    """Serve on ``address`` until the block ends; raises ``OSError`` if it cannot listen."""
    host, port = parse_address(address)
    runner = web.AppRunner(
        application(registry=registry, health=health), access_log=None, handle_signals=False
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host=host or None, port=port, reuse_address=True)
        await site.start()
        bound = runner.addresses[0]
        yield Served(host=host, port=int(bound[1]))
    finally:
        await runner.cleanup()
