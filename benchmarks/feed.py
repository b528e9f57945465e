"""A minimal API server that replays one pre-serialised EndpointSlice watch stream, fast.

Serving from the simulator would time its serialisation too; here the whole
stream is built once, before the server listens, and a watch is answered by
writing those bytes in large chunks, so the reader is always the bottleneck.

It looks enough like a cluster for kopf to start: ``/version``, discovery
(from the simulator's own documents), an empty LIST for every resource, and
for any watch but the first EndpointSlice watch a stream that stays open and
silent until its timeout (kopf and the project's watcher reconnect when a
stream ends, and must not get the events twice).

Run ``python -m benchmarks.feed --events N --objects K --endpoints E``: it
prints ``{"port": ..., "bytes": ...}`` on the first line of stdout and serves until stdin closes.

The stream: ``K`` slices of ``E`` endpoints, ``N`` events; event ``j``
concerns slice ``j % K``, ADDED the first time and MODIFIED after, each
modification giving one endpoint a new IP and uid (a pod restart). The last
resourceVersion of each slice is known in advance (:func:`final_versions`),
which is how consumers know they have seen the whole stream.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Final

import orjson
from aiohttp import web

from benchmarks import shapes
from benchmarks.shapes import Identities, Pod
from reconciler.simulator import discovery

NAMESPACE: Final = "bench"
FIRST_RESOURCE_VERSION: Final = 1000
CHUNK: Final = 1 << 18
WATCH_PATH: Final = "/apis/discovery.k8s.io/v1/endpointslices"


def slice_name(index: int) -> str:
    return f"slice-{index:05d}"


def final_versions(*, events: int, objects: int) -> dict[str, str]:
    """Each slice's resourceVersion in the last event that concerns it."""
    last: dict[str, str] = {}
    for j in range(events):
        last[slice_name(j % objects)] = str(FIRST_RESOURCE_VERSION + j + 1)
    return last


def stream_lines(*, events: int, objects: int, endpoints: int) -> list[bytes]:
    """The stream's lines, newline-terminated."""
    ids = Identities(seed=1)
    service_uid = ids.uid()
    slices = []
    for k in range(objects):
        pods = [Pod(f"web-{k}-{e}", ids.address(), ids.uid()) for e in range(endpoints)]
        slices.append((slice_name(k), ids.uid(), pods))
    lines: list[bytes] = []
    for j in range(events):
        name, uid, pods = slices[j % objects]
        first = j < objects
        if not first:
            victim = (j // objects) % endpoints
            pods[victim] = Pod(pods[victim].name, ids.address(), ids.uid())
        obj = shapes.endpoint_slice(
            name=name,
            namespace=NAMESPACE,
            service="web",
            service_uid=service_uid,
            uid=uid,
            pods=pods,
            resource_version=str(FIRST_RESOURCE_VERSION + j + 1),
            generation=j // objects + 1,
        )
        event = {"type": "ADDED" if first else "MODIFIED", "object": obj}
        lines.append(orjson.dumps(event) + b"\n")
    return lines


class Feed:
    def __init__(self, payload: bytes) -> None:
        self._payload = payload
        self._served = False

    def application(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/version", self._version)
        app.router.add_get("/api", self._api)
        app.router.add_get("/apis", self._apis)
        app.router.add_get("/api/{version}", self._core_resources)
        app.router.add_get("/apis/{group}/{version}", self._group_resources)
        app.router.add_route("*", "/{tail:.*}", self._other)
        return app

    async def _version(self, request: web.Request) -> web.Response:
        return web.json_response({"major": "1", "minor": "28", "gitVersion": "v1.28.0"})

    async def _api(self, request: web.Request) -> web.Response:
        return web.json_response(discovery.api_versions(request.host))

    async def _apis(self, request: web.Request) -> web.Response:
        return web.json_response(discovery.api_group_list())

    async def _core_resources(self, request: web.Request) -> web.Response:
        return self._resources("", request.match_info["version"])

    async def _group_resources(self, request: web.Request) -> web.Response:
        return self._resources(request.match_info["group"], request.match_info["version"])

    def _resources(self, group: str, version: str) -> web.Response:
        found = discovery.api_resource_list(group, version)
        if found is None:
            return web.json_response({"kind": "Status", "code": 404}, status=404)
        return web.json_response(found)

    async def _other(self, request: web.Request) -> web.StreamResponse:
        if request.method != "GET":
            return web.json_response({"kind": "Status", "code": 404}, status=404)
        if request.query.get("watch", "").lower() not in ("true", "1"):
            return web.json_response(
                {
                    "kind": "List",
                    "apiVersion": "v1",
                    "metadata": {"resourceVersion": "1"},
                    "items": [],
                }
            )
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        if request.path == WATCH_PATH and not self._served:
            self._served = True
            view = memoryview(self._payload)
            for start in range(0, len(view), CHUNK):
                await response.write(view[start : start + CHUNK])
        else:
            timeout = float(request.query.get("timeoutSeconds", "60"))
            await asyncio.sleep(min(timeout, 600.0))
        await response.write_eof()
        return response


async def serve(*, events: int, objects: int, endpoints: int) -> None:
    payload = b"".join(stream_lines(events=events, objects=objects, endpoints=endpoints))
    runner = web.AppRunner(Feed(payload).application(), access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    sys.stdout.write(json.dumps({"port": runner.addresses[0][1], "bytes": len(payload)}) + "\n")
    sys.stdout.flush()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    await reader.read()
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.feed")
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--objects", type=int, required=True)
    parser.add_argument("--endpoints", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(serve(events=args.events, objects=args.objects, endpoints=args.endpoints))


if __name__ == "__main__":
    main()
