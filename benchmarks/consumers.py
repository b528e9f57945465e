"""The four ways to consume one EndpointSlice watch stream, each in a process of its own.

``python -m benchmarks.consumers TOOL --url URL --events N --objects K``
reads the stream :mod:`benchmarks.feed` serves and prints one JSON line: how
long it took from the first event to having seen every slice's last version,
and the peak RSS. The tools:

- ``project``: the controller's own ingest path, :class:`Informers` (list,
  watch, msgspec decoding into projections, store and index updates) with the
  controller's change callback (mapping the change to keys, queueing them);
- ``project-watch``: the project's watch layer alone (:class:`Watcher`: HTTP,
  line splitting, msgspec decoding), without the cache, for the breakdown;
- ``kubernetes-asyncio``: the client library's ``Watch`` over
  ``list_endpoint_slice_for_all_namespaces``, which builds its generated
  models, keeping the latest object of each slice in a dict;
- ``kopf``: kopf 1.45 with one no-op ``@kopf.on.event`` handler on
  EndpointSlices, ``standalone`` (no peering) and cluster-wide, logging at
  WARNING and posting of k8s Events off, so it does no I/O of its own;
- ``orjson``: the limit: the same HTTP read and line split, then only
  ``orjson.loads`` of each line (and a look at its name and resourceVersion).

Every tool does the same bookkeeping per event (a dict lookup to notice the
last version of each slice) and nothing else of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from benchmarks.feed import NAMESPACE, WATCH_PATH, final_versions

TOKEN = "benchmark"


class Completion:
    """Notices the first event and the moment every slice's last version has been seen."""

    def __init__(self, finals: dict[str, str]) -> None:
        self._finals = finals
        self._remaining = len(finals)
        self.first: float | None = None
        self.last: float | None = None
        self.calls = 0
        self.done = asyncio.Event()

    def seen(self, name: str, resource_version: str) -> None:
        now = time.perf_counter()
        self.calls += 1
        if self.first is None:
            self.first = now
        if self._finals.get(name) == resource_version:
            self._remaining -= 1
            if self._remaining == 0:
                self.last = now
                self.done.set()


async def project(url: str, completion: Completion) -> None:
    from reconciler.api.client import KubeClient
    from reconciler.models.projections import EndpointSlice, ObjectMeta, ServiceEntry
    from reconciler.models.refs import Kind, ObjectKey
    from reconciler.planning.references import SERVICE_ANNOTATION
    from reconciler.runtime.cache import ClusterCache
    from reconciler.runtime.informers import Informers
    from reconciler.runtime.mapping import keys_for_change
    from reconciler.runtime.queue import WorkQueue
    from reconciler.simulator.kubeconfig import client_configuration
    from reconciler.watching import Relisted

    cache = ClusterCache()
    entry = ServiceEntry(
        metadata=ObjectMeta(
            name="web", namespace=NAMESPACE, annotations={SERVICE_ANNOTATION: "web"}
        )
    )
    cache.apply(Kind.SERVICE_ENTRY, Relisted([entry], "1"))
    queue: WorkQueue[ObjectKey] = WorkQueue()

    def on_change(kind: Kind, old: Any, new: Any) -> None:
        observed_at = time.monotonic()
        for key in keys_for_change(kind, old, new, links=cache):
            queue.add(key, observed_at=observed_at)
        if isinstance(new, EndpointSlice):
            completion.seen(new.metadata.name, new.metadata.resource_version)

    async with KubeClient(client_configuration(server=url, token=TOKEN)) as client:
        informers = Informers(client, cache, on_change=on_change)
        await _until(completion, informers.run())


async def project_watch(url: str, completion: Completion) -> None:
    from reconciler.api.client import KubeClient
    from reconciler.api.resources import ENDPOINT_SLICES
    from reconciler.simulator.kubeconfig import client_configuration
    from reconciler.watching import Applied, Watcher

    async with KubeClient(client_configuration(server=url, token=TOKEN)) as client:
        events = Watcher(client, ENDPOINT_SLICES).events()
        async with contextlib.aclosing(events):
            async for event in events:
                if isinstance(event, Applied):
                    meta = event.object.metadata
                    completion.seen(meta.name, meta.resource_version)
                    if completion.done.is_set():
                        return


async def kubernetes_asyncio(url: str, completion: Completion) -> None:
    from kubernetes_asyncio import client as k8s
    from kubernetes_asyncio import watch

    from reconciler.simulator.kubeconfig import client_configuration

    store: dict[tuple[str, str], Any] = {}
    async with k8s.ApiClient(client_configuration(server=url, token=TOKEN)) as api:
        slices = k8s.DiscoveryV1Api(api)
        watcher = watch.Watch()
        async with watcher:
            stream = watcher.stream(
                slices.list_endpoint_slice_for_all_namespaces,
                allow_watch_bookmarks=True,
                timeout_seconds=600,
            )
            async for event in stream:
                meta = event["object"].metadata
                store[(meta.namespace, meta.name)] = event["object"]
                completion.seen(meta.name, meta.resource_version)
                if completion.done.is_set():
                    return


async def kopf_operator(url: str, completion: Completion) -> None:
    import kopf

    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(server=url, scheme="Bearer", token=TOKEN)

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.posting.enabled = False
        settings.watching.server_timeout = 600

    @kopf.on.event("discovery.k8s.io", "v1", "endpointslices", registry=registry)
    async def on_slice(event: kopf.RawEvent, **_: Any) -> None:
        meta = event["object"]["metadata"]
        completion.seen(meta["name"], meta["resourceVersion"])

    stop = asyncio.Event()
    operator = asyncio.create_task(
        kopf.operator(registry=registry, clusterwide=True, standalone=True, stop_flag=stop)
    )
    waiting = asyncio.create_task(completion.done.wait())
    await asyncio.wait({operator, waiting}, return_when=asyncio.FIRST_COMPLETED)
    stop.set()
    if operator.done():
        operator.result()


async def orjson_lines(url: str, completion: Completion) -> None:
    import aiohttp
    import orjson

    async with (
        aiohttp.ClientSession() as session,
        session.get(url + WATCH_PATH, params={"watch": "true"}) as response,
    ):
        buffer = b""
        async for chunk in response.content.iter_any():
            lines = (buffer + chunk).split(b"\n")
            buffer = lines.pop()
            for line in lines:
                meta = orjson.loads(line)["object"]["metadata"]
                completion.seen(meta["name"], meta["resourceVersion"])
            if completion.done.is_set():
                return


async def _until(completion: Completion, work: Awaitable[None]) -> None:
    task = asyncio.ensure_future(work)
    waiting = asyncio.create_task(completion.done.wait())
    await asyncio.wait({task, waiting}, return_when=asyncio.FIRST_COMPLETED)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    waiting.cancel()


TOOLS: dict[str, Callable[[str, Completion], Awaitable[None]]] = {
    "project": project,
    "project-watch": project_watch,
    "kubernetes-asyncio": kubernetes_asyncio,
    "kopf": kopf_operator,
    "orjson": orjson_lines,
}


async def consume(tool: str, *, url: str, events: int, objects: int, within: float) -> None:
    completion = Completion(final_versions(events=events, objects=objects))
    result: dict[str, Any] = {"tool": tool}
    try:
        await asyncio.wait_for(TOOLS[tool](url, completion), within)
    except TimeoutError:
        pass
    except ImportError as error:
        result["error"] = f"{error.name} is not installed (pip install -e '.[bench]')"
    result |= {
        "complete": completion.done.is_set(),
        "handler_calls": completion.calls,
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }
    if completion.first is not None and completion.last is not None:
        seconds = completion.last - completion.first
        result["seconds"] = seconds
        result["events_per_second"] = (events - 1) / seconds if seconds > 0 else None
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    # Measured and reported: skip the teardown (kopf's takes its watch timeouts to finish).
    os._exit(0)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.consumers")
    parser.add_argument("tool", choices=sorted(TOOLS))
    parser.add_argument("--url", required=True)
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--objects", type=int, required=True)
    parser.add_argument("--within", type=float, default=300.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(
        consume(
            args.tool, url=args.url, events=args.events, objects=args.objects, within=args.within
        )
    )


if __name__ == "__main__":
    main()
