"""``headless-reconciler run``: the controller process, from settings to a clean exit.

Builds the pipeline from validated settings (client, Events, applier,
controller), runs it, and turns SIGTERM/SIGINT into a graceful stop: no new
work, in-flight writes finished or abandoned within the grace period, then exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket

from reconciler.api.client import KubeClient, load_configuration
from reconciler.api.ratelimit import TokenBucket
from reconciler.applying.applier import Applier, Mode
from reconciler.applying.events import EventRecorder
from reconciler.config import RunSettings
from reconciler.runtime.cache import ClusterCache
from reconciler.runtime.controller import Controller, ControllerSettings, ResultObserver

logger = logging.getLogger(__name__)


def mode_of(settings: RunSettings) -> Mode:
    if settings.dry_run:
        return Mode.DRY_RUN
    if settings.server_dry_run:
        return Mode.SERVER_DRY_RUN
    return Mode.WRITE


async def build_controller(
    settings: RunSettings, client: KubeClient, *, on_result: ResultObserver | None = None
) -> Controller:
    """The whole pipeline for ``settings``, not yet running.

    ``on_result`` hears the outcome of every reconcile (metrics, and tests
    that wait for the controller to have looked at an object).
    """
    events = EventRecorder(client, instance=socket.gethostname())
    controller_settings = ControllerSettings(
        workers=settings.workers, resync_seconds=settings.resync_seconds
    )
    planning = settings.planning()
    cache = ClusterCache(cluster_domain=planning.cluster_domain)
    applier = Applier(client, mode=mode_of(settings), events=events, uid_of=cache.uid_of)
    return Controller(
        client,
        applier,
        planning=planning,
        cache=cache,
        settings=controller_settings,
        on_result=on_result,
    )


async def run(settings: RunSettings) -> int:
    """Run until SIGTERM/SIGINT; the process exit code."""
    configuration = await load_configuration(
        kubeconfig=str(settings.kubeconfig) if settings.kubeconfig else None,
        context=settings.context,
    )
    rate_limit = TokenBucket(qps=settings.qps, burst=settings.burst)
    async with KubeClient(configuration, rate_limit=rate_limit) as client:
        controller = await build_controller(settings, client)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, controller.stop)
        try:
            logger.info("starting in %s mode", mode_of(settings))
            await controller.run()
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(ValueError, RuntimeError):
                    loop.remove_signal_handler(signum)
    logger.info("stopped")
    return 0
