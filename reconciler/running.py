"""``headless-reconciler run``: the controller process, from settings to a clean exit.

Builds the pipeline from validated settings (client, Events, applier,
controller), runs it, and turns SIGTERM/SIGINT into a graceful stop: no new
work, in-flight writes finished or abandoned within the grace period, the
leader's Lease released so a standby takes over at once, then exit.

Around the pipeline sit its telemetry and its endpoints: the metrics registry
and the watch activity are fed by hooks of the client (every request), the
watchers (every line and restart) and the controller (every plan and
outcome); ``/metrics``, ``/healthz`` and ``/readyz`` are served on
``--metrics-address`` from before the first list until after the last write.
:func:`controller_process` assembles all of it, for ``run`` and for tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import AsyncIterator, Mapping, Sized
from dataclasses import dataclass

from kubernetes_asyncio.client import Configuration

from reconciler.api.client import KubeClient, load_configuration
from reconciler.api.ratelimit import TokenBucket
from reconciler.api.resources import BY_KIND
from reconciler.applying.applier import Applied, Applier, Mode
from reconciler.applying.events import EventRecorder
from reconciler.config import RunSettings
from reconciler.drift import UnmanagedAudit
from reconciler.health import Health, WatchActivity, watches_alive
from reconciler.leadership.lease import LEASES
from reconciler.leadership.settings import leadership_for
from reconciler.metrics import WATCHED_RESOURCES, Metrics
from reconciler.models.refs import Kind
from reconciler.runtime.cache import ClusterCache
from reconciler.runtime.controller import Controller, ControllerSettings, ResultObserver
from reconciler.serving import Served, serving
from reconciler.watching import Restart

logger = logging.getLogger(__name__)


def mode_of(settings: RunSettings) -> Mode:
    if settings.dry_run:
        return Mode.DRY_RUN
    if settings.server_dry_run:
        return Mode.SERVER_DRY_RUN
    return Mode.WRITE


class Telemetry:
    """The process's metrics and watch activity, and the hooks that feed both."""

    def __init__(self, settings: RunSettings) -> None:
        self.activity = WatchActivity(WATCHED_RESOURCES)
        self.metrics = Metrics(
            mode=mode_of(settings), namespaces=settings.namespaces, activity=self.activity
        )
        self.metrics.set_leader(mode_of(settings) is not Mode.DRY_RUN)

    def request_finished(self, verb: str, resource: str, code: str) -> None:
        self.metrics.request_finished(verb, resource, code)
        self.activity.requested(verb, resource, code)

    def watch_line_received(self, resource: str, type: str) -> None:
        self.metrics.watch_line_received(resource, type)
        self.activity.received(resource, type)

    def watch_restarted(self, restart: Restart) -> None:
        self.metrics.watch_restarted(restart)
        self.activity.restarted(restart)
        if restart.error is not None:
            # An operator's first question when nothing happens: can it reach the API at all?
            logger.warning(
                "watching %s failed (%s), retrying in %.1fs: %s",
                restart.resource,
                restart.reason,
                restart.delay,
                restart.error.message,
            )


async def build_controller(
    settings: RunSettings,
    client: KubeClient,
    *,
    on_result: ResultObserver | None = None,
    telemetry: Telemetry | None = None,
) -> Controller:
    """The whole pipeline for ``settings``, not yet running.

    ``on_result`` hears the outcome of every reconcile (tests that wait for
    the controller to have looked at an object); ``telemetry`` hears
    everything the metrics need.
    """
    events = EventRecorder(client, instance=socket.gethostname())
    controller_settings = ControllerSettings(
        workers=settings.workers, resync_seconds=settings.resync_seconds
    )
    planning = settings.planning()
    cache = ClusterCache(
        cluster_domain=planning.cluster_domain,
        paired_name_template=planning.paired_name_template,
    )
    leadership = leadership_for(
        settings,
        client,
        cache,
        kubeconfig=settings.kubeconfig,
        dry_run=settings.dry_run,
        cluster_domain=planning.cluster_domain,
    )
    if leadership.elects:
        # The fence again at the wire, after any wait for the rate limit: a write that passed
        # the applier's check must not leave once the renew deadline has gone by.
        client.write_gate = lambda resource: resource is LEASES or leadership.may_write()
    applier = Applier(
        client,
        mode=mode_of(settings),
        events=events,
        uid_of=cache.uid_of,
        may_write=leadership.may_write,
    )
    telemetry = telemetry or Telemetry(settings)
    metrics = telemetry.metrics
    if leadership.elects:
        metrics.set_leader(False)
        leadership.subscribe(metrics.set_leader)
    controller = Controller(
        client,
        applier,
        planning=planning,
        cache=cache,
        settings=controller_settings,
        on_result=_both(metrics.reconciled, on_result),
        on_plan=metrics.planned,
        on_watch_line=telemetry.watch_line_received,
        on_watch_restart=telemetry.watch_restarted,
        leadership=leadership,
    )
    metrics.read_from(
        cache_sizes=_stores_by_resource(cache),
        queue=controller.queue,
        unmanaged=UnmanagedAudit(cache, planning).counts,
    )
    return controller


def _both(first: ResultObserver, second: ResultObserver | None) -> ResultObserver:
    if second is None:
        return first

    def observe(applied: Applied, observed_at: float | None) -> None:
        first(applied, observed_at)
        second(applied, observed_at)

    return observe


def _stores_by_resource(cache: ClusterCache) -> Mapping[str, Sized]:
    return {
        BY_KIND[Kind.NAMESPACE].label: cache.namespaces,
        BY_KIND[Kind.SERVICE].label: cache.services,
        BY_KIND[Kind.ENDPOINT_SLICE].label: cache.endpoint_slices,
        BY_KIND[Kind.SERVICE_ENTRY].label: cache.service_entries,
        BY_KIND[Kind.WORKLOAD_ENTRY].label: cache.workload_entries,
    }


def health_of(controller: Controller, activity: WatchActivity) -> Health:
    """Liveness: watchers not stuck. Readiness: caches synced, not shutting down."""
    health = Health()
    stall_after = 2 * ControllerSettings().watch_timeout_seconds + 60.0
    health.add_liveness("watches", watches_alive(activity, stall_after=stall_after))
    health.add_readiness(
        "caches-synced",
        lambda: None if controller.cache.synced.is_set() else "the caches have not listed yet",
    )
    health.add_readiness(
        "not-shutting-down", lambda: "shutting down" if controller.stopping else None
    )
    return health


@dataclass(frozen=True)
class Process:
    """A controller with its telemetry and endpoints, not yet running (``controller.run()``)."""

    controller: Controller
    metrics: Metrics
    health: Health
    served: Served


class ServingError(Exception):
    """The metrics and health endpoints cannot listen where they were told to."""


@contextlib.asynccontextmanager
async def controller_process(
    settings: RunSettings,
    configuration: Configuration,
    *,
    on_result: ResultObserver | None = None,
) -> AsyncIterator[Process]:
    """Client, controller, telemetry and endpoints for ``settings``; all closed at the end."""
    telemetry = Telemetry(settings)
    rate_limit = TokenBucket(qps=settings.qps, burst=settings.burst)
    async with KubeClient(
        configuration, rate_limit=rate_limit, on_request=telemetry.request_finished
    ) as client:
        controller = await build_controller(
            settings, client, on_result=on_result, telemetry=telemetry
        )
        health = health_of(controller, telemetry.activity)
        async with contextlib.AsyncExitStack() as stack:
            endpoints = serving(
                settings.metrics_address, registry=telemetry.metrics.registry, health=health
            )
            try:
                served = await stack.enter_async_context(endpoints)
            except OSError as error:
                raise ServingError(
                    f"cannot serve metrics and health on {settings.metrics_address} "
                    f"(--metrics-address): {error.strerror or error}"
                ) from error
            yield Process(controller, telemetry.metrics, health, served)


async def run(settings: RunSettings) -> int:
    """Run until SIGTERM/SIGINT; the process exit code."""
    configuration = await load_configuration(
        kubeconfig=str(settings.kubeconfig) if settings.kubeconfig else None,
        context=settings.context,
    )
    try:
        async with controller_process(settings, configuration) as process:
            controller = process.controller
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, controller.stop)
            try:
                logger.info(
                    "starting in %s mode; /metrics, /healthz and /readyz on %s:%d",
                    mode_of(settings),
                    process.served.host or "*",
                    process.served.port,
                )
                await controller.run()
            finally:
                for signum in (signal.SIGTERM, signal.SIGINT):
                    with contextlib.suppress(ValueError, RuntimeError):
                        loop.remove_signal_handler(signum)
    except ServingError as error:
        logger.error("%s", error)
        return 1
    logger.info("stopped")
    return 0
