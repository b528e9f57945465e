"""Scenario 5: bytes per cached endpoint above an empty cache, by RSS and by tracemalloc.

``python -m benchmarks.memory --endpoints N --per-slice P --measure rss|tracemalloc``
builds LIST pages of EndpointSlices (:mod:`benchmarks.shapes`, 500 slices a
page, as the watcher asks for them) before taking the baseline, then decodes
them and fills the controller's cache exactly as a first list does
(``Relisted`` into :class:`ClusterCache`, indexes included), drops everything
but the cache, and prints one JSON line.

RSS is what a pod's memory limit sees, and includes what the allocator keeps
after decoding's garbage is freed; tracemalloc counts only the live Python
objects (the cache and its indexes). They run in separate processes because
tracemalloc's bookkeeping would inflate the RSS.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import sys
import tracemalloc

import orjson

from benchmarks import shapes
from benchmarks.shapes import Identities, Pod

PAGE = 500


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def pages(*, endpoints: int, per_slice: int) -> list[bytes]:
    ids = Identities(seed=5)
    items = []
    for index in range((endpoints + per_slice - 1) // per_slice):
        service = f"svc-{index // 3:05d}"
        count = min(per_slice, endpoints - index * per_slice)
        pods = [Pod(f"{service}-{index % 3}{k}", ids.address(), ids.uid()) for k in range(count)]
        items.append(
            shapes.endpoint_slice(
                name=f"{service}-{index % 3}",
                namespace=f"ns-{index % 100:02d}",
                service=service,
                service_uid=ids.uid(),
                uid=ids.uid(),
                pods=pods,
                resource_version=str(1000 + index),
            )
        )
    return [
        orjson.dumps(
            {
                "kind": "EndpointSliceList",
                "apiVersion": "discovery.k8s.io/v1",
                "metadata": {"resourceVersion": "99999"},
                "items": items[start : start + PAGE],
            }
        )
        for start in range(0, len(items), PAGE)
    ]


def measure(*, endpoints: int, per_slice: int, mode: str) -> dict[str, float | int | str]:
    from reconciler.models.projections import EndpointSlice
    from reconciler.models.refs import Kind
    from reconciler.runtime.cache import ClusterCache
    from reconciler.watching import Relisted
    from reconciler.watching.decoding import decoder_for

    payloads = pages(endpoints=endpoints, per_slice=per_slice)
    decoder = decoder_for(EndpointSlice)
    cache = ClusterCache()
    gc.collect()
    if mode == "tracemalloc":
        tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0] if mode == "tracemalloc" else rss_bytes()
    items: list[EndpointSlice] = []
    for payload in payloads:
        items.extend(decoder.page(payload).items)
    cache.apply(Kind.ENDPOINT_SLICE, Relisted(items, "99999"))
    del items
    gc.collect()
    after = tracemalloc.get_traced_memory()[0] if mode == "tracemalloc" else rss_bytes()
    cached = sum(len(s.endpoints or ()) for s in cache.endpoint_slices)
    return {
        "mode": mode,
        "endpoints": cached,
        "per_slice": per_slice,
        "slices": len(cache.endpoint_slices),
        "bytes": after - before,
        "bytes_per_endpoint": round((after - before) / cached, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory")
    parser.add_argument("--endpoints", type=int, required=True)
    parser.add_argument("--per-slice", type=int, required=True)
    parser.add_argument("--measure", choices=["rss", "tracemalloc"], required=True)
    args = parser.parse_args()
    result = measure(endpoints=args.endpoints, per_slice=args.per_slice, mode=args.measure)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
