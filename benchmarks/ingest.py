"""Scenario 1: watch ingest, events per second, the project against the alternatives and the limit.

Each measurement is a fresh feed process (:mod:`benchmarks.feed`) and a fresh
consumer process (:mod:`benchmarks.consumers`), so no tool inherits another's
heap or warm caches, and server and consumer each have a core. The figure is
the median of ``repeats`` runs.

Besides the HTTP runs, the same lines are timed in memory (no socket): the
project's decoder alone against ``orjson.loads`` alone, and the project's
whole ingest step (decode, store, index, map to keys, queue) on its own. They
separate the cost of parsing from the cost of reading the socket and from the
cost of keeping the cache, which is what a profile of a miss needs.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from benchmarks.feed import NAMESPACE, stream_lines
from benchmarks.processes import Child, JsonObject

FAST_TOOLS = ("project", "project-watch", "orjson")
SLOW_TOOLS = ("kubernetes-asyncio", "kopf")


@dataclass(frozen=True, slots=True)
class IngestSize:
    endpoints: int
    objects: int
    fast_events: int
    """Events for the project and the orjson limit (thousands per second)."""
    slow_events: int
    """Events for kubernetes-asyncio and kopf (hundreds per second)."""


async def measure(tool: str, size: IngestSize, *, within: float = 300.0) -> JsonObject:
    events = size.fast_events if tool in FAST_TOOLS else size.slow_events
    feed = await Child.spawn(
        "benchmarks.feed",
        "--events", str(events), "--objects", str(size.objects), "--endpoints", str(size.endpoints),
    )  # fmt: skip
    try:
        listening = await feed.wait_for(lambda e: "port" in e, within=within)
        consumer = await Child.spawn(
            "benchmarks.consumers", tool, "--url", f"http://127.0.0.1:{listening['port']}",
            "--events", str(events), "--objects", str(size.objects), "--within", str(within),
        )  # fmt: skip
        try:
            result = await consumer.wait_for(lambda e: "tool" in e, within=within + 30)
        finally:
            await consumer.finish(within=5.0)
    finally:
        await feed.finish(within=5.0)
    return {**result, "events": events, "bytes_per_event": listening["bytes"] // events}


def _median_run(runs: list[JsonObject]) -> JsonObject:
    complete = [run for run in runs if run.get("events_per_second")]
    if not complete:
        return {**runs[-1], "runs": len(runs)}
    rates = [run["events_per_second"] for run in complete]
    middle = sorted(complete, key=lambda run: run["events_per_second"])[len(complete) // 2]
    return {
        "events_per_second": round(statistics.median(rates), 1),
        "runs_events_per_second": [round(rate, 1) for rate in rates],
        "events": middle["events"],
        "bytes_per_event": middle["bytes_per_event"],
        "handler_calls": middle["handler_calls"],
        "peak_rss_mib": round(middle["peak_rss"] / 2**20, 1),
        "complete": all(run["complete"] for run in runs),
    }


async def ingest(size: IngestSize, *, repeats: int, tools: Iterable[str]) -> JsonObject:
    by_tool: JsonObject = {}
    for tool in tools:
        try:
            runs = [await measure(tool, size) for _ in range(repeats)]
        except (RuntimeError, TimeoutError, ValueError) as error:
            by_tool[tool] = {"error": f"{type(error).__name__}: {error}"[:2000]}
            continue
        by_tool[tool] = _median_run(runs)
    return {
        "endpoints_per_slice": size.endpoints,
        "slices": size.objects,
        "tools": by_tool,
        "in_memory": in_memory(size),
    }


def _rate(lines: list[bytes], step: Callable[[bytes], Any], *, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for line in lines:
            step(line)
        best = min(best, time.perf_counter() - started)
    return len(lines) / best


def in_memory(size: IngestSize) -> JsonObject:
    """Events per second without a socket: parse only, and the project's whole ingest step."""
    from reconciler.models.projections import EndpointSlice

    lines = stream_lines(events=size.fast_events, objects=size.objects, endpoints=size.endpoints)
    decoder = _decoder(EndpointSlice)
    pipeline = ingest_step()
    return {
        "events": len(lines),
        "orjson_loads_per_second": round(_rate(lines, orjson.loads), 1),
        "project_decode_per_second": round(_rate(lines, decoder), 1),
        "project_ingest_step_per_second": round(_rate(lines, pipeline, repeats=1), 1),
    }


def _decoder(projection: type[Any]) -> Callable[[bytes], Any]:
    from reconciler.watching.decoding import decoder_for

    return decoder_for(projection).line


def ingest_step() -> Callable[[bytes], None]:
    """The project's work for one watch line, after the socket: what :class:`Informers` runs."""
    from reconciler.models.projections import EndpointSlice, ObjectMeta, ServiceEntry
    from reconciler.models.refs import Kind, ObjectKey
    from reconciler.planning.references import SERVICE_ANNOTATION
    from reconciler.runtime.cache import ClusterCache
    from reconciler.runtime.mapping import keys_for_change
    from reconciler.runtime.queue import WorkQueue
    from reconciler.watching import Applied, Relisted
    from reconciler.watching.decoding import Change, decoder_for

    cache = ClusterCache()
    entry = ServiceEntry(
        metadata=ObjectMeta(
            name="web", namespace=NAMESPACE, annotations={SERVICE_ANNOTATION: "web"}
        )
    )
    cache.apply(Kind.SERVICE_ENTRY, Relisted([entry], "1"))
    cache.apply(Kind.ENDPOINT_SLICE, Relisted([], "1"))
    decoder = decoder_for(EndpointSlice)
    queue: WorkQueue[ObjectKey] = WorkQueue()

    def step(line: bytes) -> None:
        decoded = decoder.line(line)
        if not isinstance(decoded, Change):
            return
        for change in cache.apply(Kind.ENDPOINT_SLICE, Applied(decoded.object)):
            for key in keys_for_change(Kind.ENDPOINT_SLICE, change.old, change.new, links=cache):
                queue.add(key)

    return step


def main_profile(size: IngestSize) -> str:
    """A pyinstrument profile of the in-memory ingest step (for a missed target)."""
    from pyinstrument import Profiler

    lines = stream_lines(events=size.fast_events, objects=size.objects, endpoints=size.endpoints)
    step = ingest_step()
    profiler = Profiler(interval=0.0002)
    profiler.start()
    for line in lines:
        step(line)
    profiler.stop()
    text: str = profiler.output_text(unicode=False, color=False)
    return text


def run_ingest_sync(size: IngestSize, *, repeats: int, tools: Iterable[str]) -> JsonObject:
    return asyncio.run(ingest(size, repeats=repeats, tools=tools))
