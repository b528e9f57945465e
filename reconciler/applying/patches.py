"""Plan actions as the exact requests the API receives.

One adapter per written kind (STYLE.md, point 7): the planner's compact
models go back to JSON here and nowhere else. Every patch is a JSON merge patch
that carries ``metadata.resourceVersion``, so a concurrent change makes the
server answer 409 instead of silently overwriting it (SPEC section 4); ``diff
-o json`` prints these same bodies.

Paired Services are created whole, then kept with precondition patches rather
than server-side apply: apply never removes what another field manager wrote,
so a selector key or a port someone added to the twin would stay, and the
twin would never equal its source again. A merge patch says exactly what
changes: lists (``ports``, ``ipFamilies``, ``ownerReferences``) are replaced
whole, map keys (``selector``, annotations) are set or removed one by one, so
labels and annotations users added are never touched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from reconciler.api.client import PatchType, Preconditions
from reconciler.models.projections import ObjectMeta, ServicePort, ServiceSpec
from reconciler.planning.departed import DEPARTED_ANNOTATION, encode_departed
from reconciler.planning.plans import (
    CreatePairedService,
    DeletePairedService,
    SetWorkloadEntryHealth,
    UpdatePairedService,
    UpdateServiceEntryEndpoints,
    UpdateWorkloadEntryAddress,
)

MERGE_PATCH = PatchType.MERGE

JsonObject = dict[str, Any]


def _precondition(resource_version: str) -> dict[str, Any]:
    return {"resourceVersion": resource_version}


def service_entry_patch(action: UpdateServiceEntryEndpoints) -> dict[str, Any]:
    """Replace ``spec.endpoints`` as a whole (a merge patch replaces lists).

    The memory of departed endpoints travels in the same patch, so the list
    and the memory change together or not at all; ``null`` removes it.
    """
    metadata: dict[str, Any] = _precondition(action.resource_version)
    if action.departed is not None:
        metadata["annotations"] = {DEPARTED_ANNOTATION: encode_departed(action.departed)}
    return {"metadata": metadata, "spec": {"endpoints": msgspec.to_builtins(action.after)}}


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


# -- paired Services -------------------------------------------------------------------------------


def paired_service_body(action: CreatePairedService) -> JsonObject:
    """The whole paired Service, as POSTed: copied fields and marks only."""
    after = action.after
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": after.metadata.name,
            "namespace": after.metadata.namespace,
            **_marks(after.metadata),
        },
        "spec": _paired_spec(after.spec),
    }


def paired_service_patch(action: UpdatePairedService) -> JsonObject:
    """A merge patch from ``before`` to ``after`` over the fields the controller keeps."""
    before, after = action.before, action.after
    patch: JsonObject = {"metadata": _precondition(action.resource_version)}
    patch["metadata"].update(_merge_diff(_marks(before.metadata), _marks(after.metadata)))
    spec = _merge_diff(_paired_spec(before.spec), _paired_spec(after.spec))
    if spec:
        patch["spec"] = spec
    return patch


def paired_service_preconditions(action: DeletePairedService) -> Preconditions:
    """Delete exactly the object judged ours: same uid, unchanged since."""
    return Preconditions(uid=action.uid, resource_version=action.resource_version)


def _marks(metadata: ObjectMeta) -> JsonObject:
    return {
        "labels": dict(metadata.labels),
        "annotations": dict(metadata.annotations),
        "ownerReferences": list(msgspec.to_builtins(metadata.owner_references)),
    }


def _paired_spec(spec: ServiceSpec) -> JsonObject:
    """The fields a paired Service copies, with the API's names; unset ones left out."""
    fields: JsonObject = {
        "type": spec.type,
        "selector": dict(spec.selector or {}),
        "ports": [_port(port) for port in spec.ports],
    }
    if spec.ip_families:
        fields["ipFamilies"] = list(spec.ip_families)
    if spec.ip_family_policy is not None:
        fields["ipFamilyPolicy"] = spec.ip_family_policy
    if spec.internal_traffic_policy is not None:
        fields["internalTrafficPolicy"] = spec.internal_traffic_policy
    return fields


def _port(port: ServicePort) -> JsonObject:
    fields: JsonObject = {"port": port.port, "protocol": port.protocol}
    if port.name:
        fields["name"] = port.name
    if port.target_port is not None:
        fields["targetPort"] = port.target_port
    if port.app_protocol is not None:
        fields["appProtocol"] = port.app_protocol
    return fields


def _merge_diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> JsonObject:
    """The JSON merge patch (RFC 7386) that turns ``before`` into ``after``."""
    patch: JsonObject = {}
    for key, new in after.items():
        old = before.get(key)
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            nested = _merge_diff(old, new)
            if nested:
                patch[key] = nested
        elif old != new or key not in before:
            patch[key] = new
    for key in sorted(before.keys() - after.keys()):
        patch[key] = None
    return patch
