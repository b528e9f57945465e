"""Exchanges compared in part, because the recording itself is partial.

The recorder truncated some bodies (the 150-pod slices, the 4096/4097
endpoint requests, a deletecollection PodList, the ``/api/v1`` resource list)
and recorded discovery of a full cluster where the simulator serves a chosen
set of resources. For those, the request is restored (4097 endpoints really
are sent) and both bodies are narrowed to what the recording can vouch for.
Each adaptation says why; ``test_replay`` lists them in one table.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from .transcripts import Exchange, Request

Narrowing = Callable[[Exchange, Any, Any], tuple[Any, Any]]
"""(exchange, recorded body, actual body) -> the parts of both to compare."""


@dataclass(frozen=True, slots=True)
class Adaptation:
    reason: str
    request: Callable[[Request], Request] | None = None
    narrow: Narrowing | None = None


def served_resources_only(_: Exchange, recorded: Any, actual: Any) -> tuple[Any, Any]:
    """An APIResourceList: the entries both sides list, each in its own order."""
    served = {entry["name"] for entry in actual["resources"]}
    shown = {entry["name"] for entry in recorded["resources"]}
    left = {**recorded, "resources": [e for e in recorded["resources"] if e["name"] in served]}
    right = {**actual, "resources": [e for e in actual["resources"] if e["name"] in shown]}
    return left, right


def served_groups_only(_: Exchange, recorded: Any, actual: Any) -> tuple[Any, Any]:
    """An APIGroupList: the recorded groups the simulator serves, in the recorded order."""
    served = {group["name"] for group in actual["groups"]}
    return {**recorded, "groups": [g for g in recorded["groups"] if g["name"] in served]}, actual


def counted_slices(exchange: Exchange, recorded: Any, actual: Any) -> tuple[Any, Any]:
    """Slices whose endpoints the recorder cut to 3: compare counts and the first's shape."""
    counts = {
        entry["name"]: entry["endpoints"]
        for entry in exchange.response.extras["recorder_summary"]["slices"]
    }
    left = copy.deepcopy(recorded)
    for item in left["items"]:
        item.pop("x-recorder-truncated", None)
        item["endpoints"] = _endpoint_summary(item["endpoints"], counts[item["metadata"]["name"]])
    right = copy.deepcopy(actual)
    for item in right["items"]:
        endpoints = item.get("endpoints") or []
        item["endpoints"] = _endpoint_summary(endpoints, len(endpoints))
    for body in (left, right):
        body["items"].sort(key=lambda item: -item["endpoints"]["count"])
    return left, right


def _endpoint_summary(endpoints: list[Any], count: int) -> dict[str, Any]:
    first = endpoints[0] if endpoints else {}
    return {"count": count, "fields": list(first), "conditions": first.get("conditions")}


def first_of_list(exchange: Exchange, recorded: Any, actual: Any) -> tuple[Any, Any]:
    """A list the recorder cut to its first item: that item, and the count it noted."""
    summary = exchange.response.extras["recorder_summary"]
    left = {**recorded, "items": recorded["items"][:1], "count": summary["items"]}
    right = {**actual, "items": actual["items"][:1], "count": len(actual["items"])}
    return left, right


def first_three_endpoints(_: Exchange, recorded: Any, actual: Any) -> tuple[Any, Any]:
    """A ServiceEntry whose endpoints the recorder cut to the first three."""
    if not isinstance(actual.get("spec"), dict):
        return recorded, actual
    right = copy.deepcopy(actual)
    right["spec"]["endpoints"] = right["spec"].get("endpoints", [])[:3]
    return recorded, right


def with_endpoints(count: int, *, labelled: bool) -> Callable[[Request], Request]:
    """The request as really sent: ``count`` endpoints where the recorder kept three."""

    def restore(request: Request) -> Request:
        body = copy.deepcopy(request.body)
        body["spec"]["endpoints"] = [_endpoint(i, labelled=labelled) for i in range(count)]
        return replace(request, body=body)

    return restore


def _endpoint(index: int, *, labelled: bool) -> dict[str, Any]:
    endpoint: dict[str, Any] = {"address": f"10.0.{index // 256}.{index % 256}"}
    if labelled:
        endpoint["labels"] = {"i": str(index)}
    return endpoint
