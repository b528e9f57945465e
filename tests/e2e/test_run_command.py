"""``headless-reconciler run`` as an operator starts it: a process, a kubeconfig, a signal to stop.

The other end-to-end tests drive the controller in-process; this one runs the
real command line, checks it repairs drift, and that SIGTERM and SIGINT end it
cleanly (exit 0, well within a pod's termination grace period).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.conftest import Cluster
    from tests.e2e.conftest import Istio, StatefulSetStarter

pytestmark = pytest.mark.e2e

STOP_WITHIN = 10.0
"""Seconds: a pod's default termination grace is 30."""


async def _start_run(cluster: Cluster, namespace: str) -> asyncio.subprocess.Process:
    environment = {
        **os.environ,
        "HEADLESS_RECONCILER_METRICS_ADDRESS": "127.0.0.1:0",
        "HEADLESS_RECONCILER_LOG_FORMAT": "json",
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "reconciler",
        "run",
        "--kubeconfig",
        str(cluster.kubeconfig),
        "--namespace",
        namespace,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=environment,
    )


async def _stop(process: asyncio.subprocess.Process, signum: int) -> tuple[int, bytes]:
    process.send_signal(signum)
    assert process.stderr is not None
    logged = await asyncio.wait_for(process.stderr.read(), STOP_WITHIN)
    return await asyncio.wait_for(process.wait(), STOP_WITHIN), logged


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_run_repairs_drift_and_stops_cleanly_on_a_signal(
    cluster: Cluster,
    namespace: str,
    statefulset: StatefulSetStarter,
    istio: Istio,
    signum: int,
) -> None:
    pods = await statefulset(2)
    stale = [istio.endpoint_of(pods, 0), {"address": "10.244.250.250"}]
    await istio.create_service_entry(
        "web-static", endpoints=stale, annotations={"headless-reconciler.io/service": "web"}
    )
    process = await _start_run(cluster, namespace)
    try:
        expected = [pod.addresses[0] for pod in pods.pods]
        await istio.wait_for_endpoints("web-static", expected)
    finally:
        if process.returncode is None:
            code, logged = await _stop(process, signum)

    assert code == 0, logged.decode()
    assert b"Traceback" not in logged
    assert b'"message":"stopped"' in logged
