"""Two ``headless-reconciler run`` processes electing a leader, stopped by real signals.

SIGKILL gives the leader no chance to release its Lease, so the standby must
wait it out: it takes over within the lease duration plus one (jittered)
retry period. SIGTERM releases it, so the standby takes over on its next try,
well within 3 seconds. Who leads is read from the Lease through a watch, the
way ``kubectl get lease -w`` would show it. Timings are short (lease 2s, renew
deadline 1s, retry 0.2s) to keep the test fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest
from kubernetes_asyncio.client import ApiClient, CoordinationV1Api

from reconciler.testbed.waiting import watch_until

if TYPE_CHECKING:
    from tests.conftest import Cluster

pytestmark = pytest.mark.e2e

LEASE = "headless-reconciler"
LEASE_DURATION = 2
RETRY_PERIOD = 0.2
TAKEOVER_AFTER_KILL = LEASE_DURATION + RETRY_PERIOD * 1.2
SLACK = 0.5
"""Seconds for process scheduling and the watch that reports the change."""
START_WITHIN = 20.0


class Candidate:
    """One ``run`` process and its JSON log lines."""

    def __init__(self, identity: str, process: asyncio.subprocess.Process) -> None:
        self.identity = identity
        self.process = process

    async def logged(self, message: str, *, within: float = START_WITHIN) -> dict[str, Any]:
        """The first log record whose message starts with ``message``."""
        assert self.process.stderr is not None
        async with asyncio.timeout(within):
            while line := await self.process.stderr.readline():
                with contextlib.suppress(ValueError):
                    record: dict[str, Any] = json.loads(line)
                    if str(record.get("message", "")).startswith(message):
                        return record
        raise AssertionError(f"{self.identity} exited before logging {message!r}")

    async def finish(self) -> int:
        assert self.process.stderr is not None
        await asyncio.wait_for(self.process.stderr.read(), 10)
        return await asyncio.wait_for(self.process.wait(), 10)


@pytest.fixture
async def start(cluster: Cluster, namespace: str) -> AsyncIterator[Any]:
    cluster.require_simulator()
    started: list[Candidate] = []

    async def start_candidate(identity: str) -> Candidate:
        environment = {
            **os.environ,
            "HEADLESS_RECONCILER_METRICS_ADDRESS": "127.0.0.1:0",
            "HEADLESS_RECONCILER_LOG_FORMAT": "json",
            "HEADLESS_RECONCILER_LEADER_ELECT": "true",
            "HEADLESS_RECONCILER_LEADER_IDENTITY": identity,
            "HEADLESS_RECONCILER_LEASE_NAMESPACE": namespace,
            "HEADLESS_RECONCILER_LEASE_DURATION": str(LEASE_DURATION),
            "HEADLESS_RECONCILER_RENEW_DEADLINE": "1",
            "HEADLESS_RECONCILER_RETRY_PERIOD": str(RETRY_PERIOD),
        }
        process = await asyncio.create_subprocess_exec(
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
        candidate = Candidate(identity, process)
        started.append(candidate)
        await candidate.logged("caches synced")
        return candidate

    yield start_candidate
    for candidate in started:
        if candidate.process.returncode is None:
            candidate.process.kill()
            await candidate.process.wait()


async def wait_for_holder(api: ApiClient, namespace: str, holder: str, within: float) -> float:
    """The monotonic time the Lease was seen held by ``holder``."""
    await watch_until(
        functools.partial(CoordinationV1Api(api).list_namespaced_lease, namespace),
        lambda leases: any(lease["spec"].get("holderIdentity") == holder for lease in leases),
        within=within,
        what=f"Lease {namespace}/{LEASE} held by {holder}",
        field_selector=f"metadata.name={LEASE}",
    )
    return time.monotonic()


async def test_sigkill_of_the_leader_hands_over_within_the_lease_duration_plus_a_retry(
    start: Any, api: ApiClient, namespace: str
) -> None:
    leader = await start("process-a")
    await wait_for_holder(api, namespace, "process-a", START_WITHIN)
    await start("process-b")

    killed_at = time.monotonic()
    leader.process.send_signal(signal.SIGKILL)
    took_over_at = await wait_for_holder(api, namespace, "process-b", TAKEOVER_AFTER_KILL + 5)

    assert took_over_at - killed_at <= TAKEOVER_AFTER_KILL + SLACK
    print(f"takeover after SIGKILL: {took_over_at - killed_at:.2f}s")


async def test_sigterm_of_the_leader_hands_over_within_three_seconds(
    start: Any, api: ApiClient, namespace: str
) -> None:
    leader = await start("process-a")
    await wait_for_holder(api, namespace, "process-a", START_WITHIN)
    await start("process-b")

    stopped_at = time.monotonic()
    leader.process.send_signal(signal.SIGTERM)
    took_over_at = await wait_for_holder(api, namespace, "process-b", 3.0)

    assert took_over_at - stopped_at < 3.0
    assert await leader.finish() == 0
    print(f"takeover after SIGTERM: {took_over_at - stopped_at:.2f}s")
