"""Per transcript: the state the recorder had built before it, and how to replay it."""

from __future__ import annotations

from .runner import Script
from .steps import Call, Step

ZONE_LABEL = "topology.kubernetes.io/zone"
NAMESPACES = ("fid-a", "fid-b", "fid-c", "fid-d", "fid-g", "fid-gone")

WORLD: tuple[Step, ...] = (
    *(
        Call("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        for name in NAMESPACES
    ),
    Call(
        "POST",
        "/api/v1/nodes",
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "fake-node-1", "labels": {ZONE_LABEL: "zone-a"}}},
    ),
)

SCRIPTS: dict[str, Script] = {}


def script_for(name: str) -> Script:
    found = SCRIPTS.get(name.split("-", 1)[0])
    if found is None:
        return Script(prelude=WORLD)
    return found
