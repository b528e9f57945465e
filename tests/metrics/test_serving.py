"""The HTTP endpoints: content negotiation for ``/metrics``, status codes for the probes."""

from __future__ import annotations

import socket

import aiohttp
import pytest
from kubernetes_asyncio.client import Configuration

from reconciler import running
from reconciler.config import RunSettings
from reconciler.health import Health
from reconciler.metrics import Metrics
from reconciler.serving import parse_address, serving


@pytest.fixture
def health() -> Health:
    health = Health()
    health.add_liveness("watches", lambda: None)
    return health


async def test_metrics_are_prometheus_text_unless_the_scraper_asks_for_openmetrics(
    health: Health,
) -> None:
    metrics = Metrics(mode="write")
    async with (
        serving("127.0.0.1:0", registry=metrics.registry, health=health) as served,
        aiohttp.ClientSession() as http,
    ):
        async with http.get(served.url + "/metrics") as plain:
            plain_text = await plain.text()
        async with http.get(
            served.url + "/metrics",
            headers={"Accept": "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"},
        ) as negotiated:
            openmetrics_text = await negotiated.text()

    assert plain.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "headless_reconciler_reconcile_total{" in plain_text
    assert negotiated.headers["Content-Type"].startswith("application/openmetrics-text")
    assert openmetrics_text.endswith("# EOF\n")
    assert "# TYPE headless_reconciler_build info" in openmetrics_text


async def test_probes_answer_200_when_every_check_passes_and_503_naming_what_failed() -> None:
    problems: dict[str, str | None] = {"caches-synced": "the caches have not listed yet"}
    health = Health()
    health.add_readiness("caches-synced", lambda: problems["caches-synced"])
    async with (
        serving("127.0.0.1:0", registry=Metrics(mode="write").registry, health=health) as served,
        aiohttp.ClientSession() as http,
    ):
        async with http.get(served.url + "/readyz") as before:
            before_text = await before.text()
        problems["caches-synced"] = None
        async with http.get(served.url + "/readyz") as after:
            after_text = await after.text()
        async with http.get(served.url + "/readyz?verbose") as verbose:
            verbose_text = await verbose.text()
        async with http.get(served.url + "/healthz") as live:
            live_text = await live.text()

    assert (before.status, before_text) == (
        503,
        "[-]caches-synced failed: the caches have not listed yet\ncheck failed\n",
    )
    assert (after.status, after_text) == (200, "ok\n")
    assert (verbose.status, verbose_text) == (200, "[+]caches-synced ok\nok\n")
    assert (live.status, live_text) == (200, "ok\n")


@pytest.mark.parametrize(
    ("address", "parsed"),
    [(":8080", ("", 8080)), ("127.0.0.1:9000", ("127.0.0.1", 9000)), ("[::1]:0", ("::1", 0))],
)
def test_the_metrics_address_is_host_and_port_with_every_interface_by_default(
    address: str, parsed: tuple[str, int]
) -> None:
    assert parse_address(address) == parsed


async def test_a_busy_metrics_address_stops_the_process_with_one_sentence() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = RunSettings(metrics_address=f"127.0.0.1:{port}")

        with pytest.raises(running.ServingError) as raised:
            async with running.controller_process(settings, Configuration()):
                pytest.fail("the process must not start")

    assert str(raised.value).startswith(
        f"cannot serve metrics and health on 127.0.0.1:{port} (--metrics-address): "
    )
