"""Plan actions as the exact patches the API receives.

One adapter per written kind (STYLE.md, point 7): the planner's compact
models go back to JSON here and nowhere else. Every patch is a JSON merge patch
that carries ``metadata.resourceVersion``, so a concurrent change makes the
server answer 409 instead of silently overwriting it (SPEC section 4); ``diff
-o json`` prints these same bodies.
"""

from __future__ import annotations

from typing import Any

import msgspec

from reconciler.api.client import PatchType
from reconciler.planning.plans import (
    SetWorkloadEntryHealth,
    UpdateServiceEntryEndpoints,
    UpdateWorkloadEntryAddress,
)

MERGE_PATCH = PatchType.MERGE


def _precondition(resource_version: str) -> dict[str, Any]:
    return {"resourceVersion": resource_version}


def service_entry_patch(action: UpdateServiceEntryEndpoints) -> dict[str, Any]:
    """Replace ``spec.endpoints`` as a whole (a merge patch replaces lists)."""
    return {
        "metadata": _precondition(action.resource_version),
        "spec": {"endpoints": msgspec.to_builtins(action.after)},
    }


def workload_entry_patch(action: UpdateWorkloadEntryAddress) -> dict[str, Any]:
    return {
        "metadata": _precondition(action.resource_version),
        "spec": {"address": action.after},
    }


def health_patch(action: SetWorkloadEntryHealth, *, resource_version: str) -> dict[str, Any]:
    """The whole ``status.conditions`` list, for the ``status`` subresource."""
    return {
        "metadata": _precondition(resource_version),
        "status": {"conditions": msgspec.to_builtins(action.conditions)},
    }
