"""What ``/metrics``, ``/healthz`` and ``/readyz`` of a running controller say (SPEC 5 and 6).

Each test runs the whole process as ``headless-reconciler run`` assembles it
(:func:`reconciler.running.controller_process`: client, controller,
telemetry, HTTP endpoints on a free port) against the ``cluster`` fixture, and
reads the endpoints over HTTP as Prometheus and the kubelet would. Waiting is
on the controller's own reports: a scrape is taken again only after the
controller has reconciled something since the last one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import aiohttp
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from reconciler import running
from reconciler.api.client import load_configuration
from reconciler.applying.applier import Applied
from reconciler.config import RunSettings
from reconciler.planning.references import POD_ANNOTATION, SERVICE_ANNOTATION
from reconciler.runtime.controller import Controller

if TYPE_CHECKING:
    from tests.conftest import Cluster
    from tests.e2e.conftest import Istio, StatefulSetStarter

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
ALERT_RULES = ROOT / "deploy" / "prometheus" / "alerts.yaml"
DASHBOARD = ROOT / "deploy" / "grafana" / "headless-reconciler.json"
METRIC_NAME = re.compile(r"\bheadless_reconciler_[a-z_]+")
WAIT = 10.0

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@dataclass
class ServedController:
    """A running controller process, its HTTP endpoints, and every result it reported."""

    process: running.Process
    http: aiohttp.ClientSession
    results: asyncio.Queue[Applied]

    async def get(self, path: str, **headers: str) -> aiohttp.ClientResponse:
        async with self.http.get(self.process.served.url + path, headers=headers) as response:
            await response.read()
            return response

    async def scrape(self) -> Samples:
        async with self.http.get(self.process.served.url + "/metrics") as response:
            assert response.status == 200
            return parse(await response.text())

    async def scrape_until(
        self, holds: Callable[[Samples], bool], *, within: float = WAIT
    ) -> Samples:
        """The first scrape for which ``holds`` is true, scraping again after each reconcile."""
        samples: Samples = {}
        try:
            async with asyncio.timeout(within):
                while not holds(samples := await self.scrape()):
                    await self.results.get()
                return samples
        except TimeoutError:
            shown = {
                f"{name}{dict(labels)}": found
                for (name, labels), found in samples.items()
                if name.startswith("headless_reconciler_") and found and "_bucket" not in name
            }
            raise AssertionError(
                f"not seen in {within}s; last scrape (non-zero): {shown}"
            ) from None


class Starter(Protocol):
    async def __call__(self, **overrides: Any) -> ServedController: ...


@pytest.fixture
async def start_served(cluster: Cluster, namespace: str) -> AsyncIterator[Starter]:
    """Start a controller process on a free port, caches synced; stopped at teardown."""
    async with contextlib.AsyncExitStack() as stack:
        http = await stack.enter_async_context(aiohttp.ClientSession())

        async def start(**overrides: Any) -> ServedController:
            settings = RunSettings(
                **{
                    "kubeconfig": cluster.kubeconfig,
                    "namespaces": (namespace,),
                    "removal_grace_seconds": 0.5,
                    "metrics_address": "127.0.0.1:0",
                    **overrides,
                }
            )
            configuration = await load_configuration(kubeconfig=str(cluster.kubeconfig))
            results: asyncio.Queue[Applied] = asyncio.Queue()
            process = await stack.enter_async_context(
                running.controller_process(
                    settings,
                    configuration,
                    on_result=lambda applied, _: results.put_nowait(applied),
                )
            )
            task = asyncio.create_task(process.controller.run())
            stack.push_async_callback(_stop, process.controller, task)
            synced = asyncio.create_task(process.controller.cache.synced.wait())
            await asyncio.wait({synced, task}, timeout=WAIT, return_when=asyncio.FIRST_COMPLETED)
            synced.cancel()
            if task.done():
                task.result()
            assert process.controller.cache.synced.is_set(), "caches did not sync"
            return ServedController(process, http, results)

        yield start


async def _stop(controller: Controller, task: asyncio.Task[None]) -> None:
    controller.stop()
    await asyncio.wait_for(task, WAIT)


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample ``headless_reconciler_<name>{labels}``."""
    return samples[("headless_reconciler_" + name, frozenset(labels.items()))]


def drift(samples: Samples, namespace: str) -> dict[str, float]:
    """The drift gauges of the test's namespace, by a short name."""
    found = {
        f"objects {kind}": value(samples, "drift_objects", kind=kind, namespace=namespace)
        for kind in ("ServiceEntry", "WorkloadEntry")
    }
    for kind in ("ServiceEntry", "WorkloadEntry"):
        for reason in ("stale", "missing", "extra"):
            found[f"{reason} {kind}"] = value(samples, "drift_endpoints", kind=kind, reason=reason)
    return found


NO_DRIFT = {
    **{f"objects {kind}": 0.0 for kind in ("ServiceEntry", "WorkloadEntry")},
    **{
        f"{reason} {kind}": 0.0
        for kind in ("ServiceEntry", "WorkloadEntry")
        for reason in ("stale", "missing", "extra")
    },
}


async def test_drift_gauges_rise_in_dry_run_after_a_pod_restart_and_fall_to_zero_once_written(
    start_served: Starter, statefulset: StatefulSetStarter, istio: Istio, namespace: str
) -> None:
    pods = await statefulset(3)
    await istio.create_service_entry(
        "web-all",
        endpoints=[istio.endpoint_of(pods, index) for index in range(3)],
        annotations={SERVICE_ANNOTATION: "web"},
    )
    await istio.create_workload_entry(
        "web-1", address=pods.pod(1).addresses[0], annotations={POD_ANNOTATION: "web-1"}
    )
    observer = await start_served(dry_run=True)
    in_sync = await observer.scrape_until(
        lambda s: (
            value(s, "reconcile_total", kind="ServiceEntry", result="noop") >= 1
            and value(s, "reconcile_total", kind="WorkloadEntry", result="noop") >= 1
        )
    )
    assert drift(in_sync, namespace) == NO_DRIFT
    assert value(in_sync, "leader") == 0

    restarted = (await pods.restart(1)).addresses[0]

    stale = {
        **NO_DRIFT,
        "objects ServiceEntry": 1.0,
        "objects WorkloadEntry": 1.0,
        "stale ServiceEntry": 1.0,
        "stale WorkloadEntry": 1.0,
    }
    drifted = await observer.scrape_until(lambda s: drift(s, namespace) == stale)
    assert value(drifted, "oldest_drift_seconds", kind="ServiceEntry") > 0
    assert value(drifted, "reconcile_total", kind="ServiceEntry", result="dry_run") >= 1
    assert value(drifted, "reconcile_total", kind="ServiceEntry", result="updated") == 0

    writer = await start_served()
    await istio.wait_for_endpoints(
        "web-all", [pods.pod(0).addresses[0], restarted, pods.pod(2).addresses[0]]
    )
    await istio.wait_for_address("web-1", restarted)

    written = await writer.scrape_until(lambda s: drift(s, namespace) == NO_DRIFT)
    assert value(written, "leader") == 1
    assert value(written, "reconcile_total", kind="ServiceEntry", result="updated") >= 1
    settled = await observer.scrape_until(lambda s: drift(s, namespace) == NO_DRIFT)
    assert value(settled, "oldest_drift_seconds", kind="ServiceEntry") == 0


async def test_a_write_after_a_restart_is_timed_from_the_watch_event_and_counted(
    start_served: Starter, statefulset: StatefulSetStarter, istio: Istio
) -> None:
    pods = await statefulset(2)
    await istio.create_service_entry(
        "web-all",
        endpoints=[istio.endpoint_of(pods, index) for index in range(2)],
        annotations={SERVICE_ANNOTATION: "web"},
    )
    writer = await start_served()

    restarted = (await pods.restart(0)).addresses[0]
    await istio.wait_for_endpoints("web-all", [restarted, pods.pod(1).addresses[0]])

    samples = await writer.scrape_until(
        lambda s: value(s, "event_to_write_seconds_count", kind="ServiceEntry") >= 1
    )
    assert value(samples, "reconcile_duration_seconds_count", kind="ServiceEntry") >= 1
    assert (
        value(
            samples,
            "watch_events_total",
            resource="endpointslices",
            type="MODIFIED",
        )
        >= 1
    )
    assert (
        value(
            samples,
            "api_requests_total",
            verb="patch",
            resource="serviceentries",
            code="200",
        )
        >= 1
    )
    assert value(samples, "cache_objects", resource="serviceentries") >= 1
    assert (
        value(
            samples,
            "watch_progress_timestamp_seconds",
            resource="endpointslices",
        )
        > 0
    )
    labels = {label_value for _, labels in samples for _, label_value in labels}
    assert not {address for pod in pods.pods for address in pod.addresses} & labels, (
        "no pod address is ever a label value"
    )


def _named_metrics() -> dict[str, set[str]]:
    """Every ``headless_reconciler_*`` name in the alert rules and in the dashboard, by file."""
    rules = yaml.safe_load(ALERT_RULES.read_text())
    expressions = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [
        target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])
    ]
    return {
        ALERT_RULES.name: {name for expr in expressions for name in METRIC_NAME.findall(expr)},
        DASHBOARD.name: {name for expr in queries for name in METRIC_NAME.findall(expr)},
    }


async def test_every_metric_named_in_the_alert_rules_and_the_dashboard_is_scraped(
    start_served: Starter,
) -> None:
    controller = await start_served()

    scraped = {name for name, _ in await controller.scrape()}

    for source, names in _named_metrics().items():
        assert names, f"{source} names no metric"
        assert names <= scraped, f"{source} names metrics that do not exist: {names - scraped}"


async def test_probes_answer_ok_once_synced_and_readiness_fails_from_the_first_moment_of_shutdown(
    start_served: Starter,
) -> None:
    controller = await start_served()
    assert (await controller.get("/healthz")).status == 200
    assert (await controller.get("/readyz")).status == 200

    controller.process.controller.stop()

    assert (await controller.get("/readyz")).status == 503
    assert (await controller.get("/healthz")).status == 200
