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

The port listens on every interface and answers anyone who reaches it, so it
serves those three paths (GET, and the HEAD aiohttp adds) and nothing else:
no index, 404 for any other path and 405 for any other method. Answers name
the server without its versions. A connection must finish a request within
``idle_timeout`` of opening (or of its previous answer), so clients that dribble
bytes cannot hold sockets for aiohttp's default hour. A malformed request is
the client's fault, not the controller's: it is answered 400 and logged at
debug level, one line without a traceback, so a port scanner cannot flood the
log with errors; a handler that fails is still logged as an error.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Final

from aiohttp import hdrs, web
from aiohttp.http_exceptions import HttpProcessingError
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from reconciler.health import Health, ProbeResult

SERVER_NAME: Final = "headless-reconciler"
"""The ``Server`` header: which program answers, not which versions of its libraries."""
IDLE_TIMEOUT: Final = 30.0
"""Seconds a connection may take to send a whole request (Prometheus reconnects if it idles)."""

_SUMMARY_LENGTH = 200
"""Characters of aiohttp's complaint kept in the log (it quotes what the client sent)."""

logger = logging.getLogger(__name__)


class _MalformedRequests(logging.Filter):
    """Turns aiohttp's error report of a request it could not parse into one debug line."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, HttpProcessingError):
            return True
        if not logger.isEnabledFor(logging.DEBUG):
            return False
        remote = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        summary = error.message.partition("\n")[0][:_SUMMARY_LENGTH]
        record.msg, record.args = "malformed request from %s: %s", (remote, summary)
        record.exc_info = record.exc_text = None
        return True


logger.addFilter(_MalformedRequests())


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

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.on_response_prepare.append(_name_the_server)
    return app


async def _name_the_server(request: web.Request, response: web.StreamResponse) -> None:
    del request
    response.headers[hdrs.SERVER] = SERVER_NAME


def _probe(result: ProbeResult, request: web.Request) -> web.Response:
    verbose = "verbose" in request.query
    return web.Response(text=result.render(verbose=verbose), status=200 if result.ok else 503)


@contextlib.asynccontextmanager
async def serving(
    address: str,
    *,
    registry: CollectorRegistry,
    health: Health,
    idle_timeout: float = IDLE_TIMEOUT,
) -> AsyncIterator[Served]:
    """Serve on ``address`` until the block ends; raises ``OSError`` if it cannot listen."""
    host, port = parse_address(address)
    runner = web.AppRunner(
        application(registry=registry, health=health),
        access_log=None,
        handle_signals=False,
        keepalive_timeout=idle_timeout,
        logger=logger,
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host=host or None, port=port, reuse_address=True)
        await site.start()
        bound = runner.addresses[0]
        yield Served(host=host, port=int(bound[1]))
    finally:
        await runner.cleanup()
