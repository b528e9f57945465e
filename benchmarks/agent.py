"""The process under test: the real controller (or ``diff``), reporting what the benchmarks time.

Run as ``python -m benchmarks.agent run|diff --kubeconfig FILE``. Timings are
``time.monotonic()`` readings, which on Linux share one clock across
processes, so the parent can subtract its own readings (the spawn, the
simulator emitting an event) from the agent's.

``run`` builds the controller exactly as ``headless-reconciler run`` does
(:func:`reconciler.running.controller_process`) and writes JSON lines to
stdout: ``synced``, ``planned`` (every key reconciled once after the caches
synced, with the peak RSS so far), then one ``result`` per reconcile that did
something (no-ops are only counted). It reads commands on stdin: ``stats``
(CPU seconds, RSS, writes so far), ``resync`` (queue every primary key, as the
periodic resync does, and report the cost once the queue is idle again) and
``stop``.

``diff`` runs ``headless-reconciler diff -A -o json`` in-process and reports
when it finished, its exit code and its peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import logging
import resource
import sys
import time
from pathlib import Path
from typing import Any

from reconciler.api.client import load_configuration
from reconciler.applying.applier import Applied, Outcome
from reconciler.config import DiffSettings, RunSettings
from reconciler.reporting.commands import run_diff
from reconciler.running import controller_process
from reconciler.runtime.controller import Controller

POLL_SECONDS = 0.002
"""How often the queue is checked for idleness (the resolution of ``planned``)."""


def emit(event: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


class Results:
    """Counts every reconcile; reports the ones that did something once reporting is on."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.reporting = False

    def record(self, applied: Applied, observed_at: float | None) -> None:
        now = time.monotonic()
        self.counts[applied.outcome] = self.counts.get(applied.outcome, 0) + 1
        if self.reporting and applied.outcome is not Outcome.NOOP:
            key = applied.key
            emit(
                "result",
                kind=str(key.kind),
                namespace=key.namespace,
                name=key.name,
                outcome=str(applied.outcome),
                t=now,
                observed_at=observed_at,
            )


async def until_idle(controller: Controller) -> None:
    """Until the queue has had work and has none ready or running."""
    queue = controller.queue
    # The queue signals no idleness; polling it (2 ms) is the resolution of the measurement.
    while queue.ready == 0 and queue.running == 0:  # noqa: ASYNC110
        await asyncio.sleep(POLL_SECONDS)
    while queue.ready or queue.running:  # noqa: ASYNC110
        await asyncio.sleep(POLL_SECONDS)


async def commands(controller: Controller, results: Results) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode().strip():
        if line == "stats":
            emit(
                "stats",
                t=time.monotonic(),
                cpu=cpu_seconds(),
                rss=rss_bytes(),
                peak_rss=peak_rss_bytes(),
                outcomes=results.counts,
            )
        elif line == "resync":
            keys = list(controller.cache.primary_keys())
            started, cpu = time.monotonic(), cpu_seconds()
            for key in keys:
                controller.queue.add(key)
            await until_idle(controller)
            emit(
                "resynced",
                keys=len(keys),
                wall=time.monotonic() - started,
                cpu=cpu_seconds() - cpu,
            )
        elif line == "stop":
            break
    controller.stop()


async def run(kubeconfig: Path, *, qps: float, burst: int) -> None:
    settings = RunSettings(
        kubeconfig=kubeconfig, qps=qps, burst=burst, metrics_address="127.0.0.1:0"
    )
    configuration = await load_configuration(kubeconfig=str(kubeconfig))
    results = Results()
    async with controller_process(settings, configuration, on_result=results.record) as process:
        controller = process.controller
        running = asyncio.create_task(controller.run())
        await controller.cache.synced.wait()
        emit("synced", t=time.monotonic(), objects=sum(1 for _ in controller.cache.primary_keys()))
        await until_idle(controller)
        emit(
            "planned",
            t=time.monotonic(),
            peak_rss=peak_rss_bytes(),
            cpu=cpu_seconds(),
            outcomes=results.counts,
        )
        results.reporting = True
        listening = asyncio.create_task(commands(controller, results))
        await running
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listening


async def diff(kubeconfig: Path) -> None:
    settings = DiffSettings(kubeconfig=kubeconfig, all_namespaces=True, output="json")
    out, err = io.StringIO(), io.StringIO()
    code = await run_diff(settings, out=out, err=err)
    emit(
        "diffed",
        t=time.monotonic(),
        exit=code,
        peak_rss=peak_rss_bytes(),
        cpu=cpu_seconds(),
        output_bytes=len(out.getvalue()),
        error=err.getvalue(),
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.agent")
    parser.add_argument("mode", choices=["run", "diff"])
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--qps", type=float, default=20.0)
    parser.add_argument("--burst", type=int, default=30)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if args.mode == "run":
        asyncio.run(run(args.kubeconfig, qps=args.qps, burst=args.burst))
    else:
        asyncio.run(diff(args.kubeconfig))


if __name__ == "__main__":
    main()
