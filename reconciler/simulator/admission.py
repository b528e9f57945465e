"""What the API server does to an object between decoding a request and storing it.

In the real server's order: decoding (``null`` fields dropped, unknown fields of
custom resources pruned with one ``Warning`` each or refused with
``fieldValidation=Strict``, Go time layouts), scheme defaults, admission
(a Pod's service account, tolerations and priority), the registry strategy
(allocated cluster IPs, statuses reset on create, the status subresource split,
generation bumps, immutable metadata), validation (core rules, Istio's CRD
schema and CEL rules) and, when switched on, istiod's validating webhook.

Field ownership is not recorded here. The real server records it before
admission, so values admission and the registry set (cluster IPs, IP families,
a Pod's service account volume, statuses) belong to nobody: callers record it
with :func:`reconciler.simulator.patching.track_managed_fields` before calling
:func:`admit`.
"""

from __future__ import annotations

import copy
import ipaddress
from typing import Any, Literal

from reconciler.simulator import (
    defaulting,
    validation_causes,
    validation_core,
    validation_events,
    validation_istio,
    validation_meta,
    validation_service,
)
from reconciler.simulator.errors import ApiError, Cause
from reconciler.simulator.jsonpatch import json_equal
from reconciler.simulator.resources import ResourceKind

JsonObject = dict[str, Any]
Operation = Literal["CREATE", "UPDATE"]


class IpAllocator:
    """Hands out ClusterIPs from the service CIDRs, never twice.

    IPv4 (``cidr``, 10.96.0.0/16 as recorded) is the primary family. With an
    ``ipv6_cidr`` (the default) the cluster also serves IPv6 and dual-stack
    Services; ``ipv6_cidr=None`` is the recorded single-stack cluster.
    """

    def __init__(
        self, cidr: str = "10.96.0.0/16", *, ipv6_cidr: str | None = "fd00:10:96::/112"
    ) -> None:
        self.cidr = cidr
        self._networks = {"IPv4": ipaddress.ip_network(cidr)}
        if ipv6_cidr is not None:
            self._networks["IPv6"] = ipaddress.ip_network(ipv6_cidr)
        self._allocated: set[str] = set()
        self._next = dict.fromkeys(self._networks, 10)

    @property
    def families(self) -> tuple[str, ...]:
        """The IP families this cluster serves, primary first."""
        return tuple(self._networks)

    def family_of(self, address: str) -> str | None:
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            return None
        return "IPv4" if parsed.version == 4 else "IPv6"

    def allocate(self, *, family: str = "IPv4") -> str:
        network = self._networks[family]
        for _ in range(network.num_addresses):
            self._next[family] += 1
            if self._next[family] >= network.num_addresses - 1:
                self._next[family] = 2
            address = str(network[self._next[family]])
            if address not in self._allocated:
                self._allocated.add(address)
                return address
        raise ApiError(500, "InternalError", "failed to allocate a serviceIP: range is full")

    def reserve(self, address: str) -> str | None:
        """Take a requested address; the reason it cannot be taken, or None."""
        family = self.family_of(address)
        network = self._networks.get(family or "")
        if network is None or ipaddress.ip_address(address) not in network:
            valid = network or self._networks["IPv4"]
            return (
                f"the provided IP ({address}) is not in the valid range. "
                f"The range of valid IPs is {valid}"
            )
        if address in self._allocated:
            return "provided IP is already allocated"
        self._allocated.add(address)
        return None

    def release(self, address: str) -> None:
        """Return an address to the pool."""
        self._allocated.discard(address)

    def release_service(self, service: JsonObject) -> None:
        """Return every cluster IP of a deleted Service."""
        for address in (service.get("spec") or {}).get("clusterIPs") or []:
            self.release(address)


def admit(
    *,
    kind: ResourceKind,
    new: JsonObject,
    old: JsonObject | None,
    operation: Operation,
    subresource: str | None,
    field_validation: str,
    ips: IpAllocator,
    istio_webhook: bool = False,
    dry_run: bool = False,
) -> list[str]:
    """Default, prepare, prune and validate ``new`` in place.

    Returns the warning texts (``unknown field "spec.foo"``), one ``Warning``
    header each; the server writes them as ``299 - "<text>"``. Raises
    ``ApiError`` when the object must be refused: 400 for decode errors and
    strict field validation, 422 Invalid with causes, 400 from istiod's webhook
    when ``istio_webhook`` (off by default, as in the recording). ``old`` is
    the stored object on UPDATE. Cluster IPs taken for a refused or ``dry_run``
    write are given back.
    """
    warnings = defaulting.decode(kind, new, field_validation=field_validation)
    if not kind.builtin:
        refusal = validation_istio.wrong_kind(kind, new)
        if refusal is not None:
            raise refusal
    defaulting.apply_scheme_defaults(kind, new)
    allocated: list[str] = []
    try:
        if operation == "CREATE":
            allocated = _prepare_create(kind, new, ips)
            causes = _validate(kind, new, None)
        else:
            if old is None:
                raise ValueError("an UPDATE needs the stored object")
            allocated = _prepare_update(kind, new, old, subresource, ips)
            causes = _validate(kind, new, old)
        if causes:
            raise validation_causes.refuse(kind, _name(new), causes)
        if istio_webhook and not kind.builtin:
            refusal = validation_istio.webhook_refusal(kind, new)
            if refusal is not None:
                raise refusal
    except ApiError:
        for address in allocated:
            ips.release(address)
        raise
    if dry_run:
        for address in allocated:
            ips.release(address)
    return warnings


def _name(obj: JsonObject) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _has_generation(kind: ResourceKind) -> bool:
    return not kind.builtin or kind.kind == "EndpointSlice"


def _prepare_create(kind: ResourceKind, new: JsonObject, ips: IpAllocator) -> list[str]:
    metadata = new.setdefault("metadata", {})
    metadata.pop("deletionTimestamp", None)
    metadata.pop("deletionGracePeriodSeconds", None)
    if _has_generation(kind):
        metadata["generation"] = 1
    if not kind.builtin and "status" in kind.subresources:
        new.pop("status", None)
    if kind.kind == "Service":
        causes, allocated = defaulting.prepare_service(new, None, ips)
        if causes:
            raise validation_causes.refuse(kind, _name(new), causes)
        new["status"] = {"loadBalancer": {}}
        return allocated
    if kind.kind == "Pod":
        defaulting.admit_pod(new)
        new["status"] = {"phase": "Pending", "qosClass": defaulting.pod_qos_class(new)}
    elif kind.kind == "Namespace":
        defaulting.prepare_namespace(new)
    return []


def _prepare_update(
    kind: ResourceKind,
    new: JsonObject,
    old: JsonObject,
    subresource: str | None,
    ips: IpAllocator,
) -> list[str]:
    _keep_system_metadata(new, old)
    if subresource == "status":
        _write_status_only(kind, new, old)
        return []
    if subresource == "finalize":
        finalizers = (new.get("spec") or {}).get("finalizers")
        _replace_with(new, old)
        new.setdefault("spec", {})["finalizers"] = finalizers
        return []
    if "status" in kind.subresources:
        _copy_field(new, old, "status")
    if kind.kind == "Namespace":
        new.setdefault("spec", {})["finalizers"] = copy.deepcopy(
            (old.get("spec") or {}).get("finalizers", [])
        )
    _bump_generation(kind, new, old)
    if kind.kind == "Service":
        causes, allocated = defaulting.prepare_service(new, old, ips)
        if causes:
            raise validation_causes.refuse(kind, _name(new), causes)
        return allocated
    return []


def _keep_system_metadata(new: JsonObject, old: JsonObject) -> None:
    """``BeforeUpdate``: generation, uid, creation and deletion stamps come from storage."""
    metadata = new.setdefault("metadata", {})
    old_metadata = old.get("metadata") or {}
    for name in ("generation", "creationTimestamp"):
        if name in old_metadata:
            metadata[name] = old_metadata[name]
        else:
            metadata.pop(name, None)
    if not metadata.get("uid") and "uid" in old_metadata:
        metadata["uid"] = old_metadata["uid"]
    if old_metadata.get("deletionTimestamp"):
        metadata["deletionTimestamp"] = old_metadata["deletionTimestamp"]
    if (
        "deletionGracePeriodSeconds" in old_metadata
        and "deletionGracePeriodSeconds" not in metadata
    ):
        metadata["deletionGracePeriodSeconds"] = old_metadata["deletionGracePeriodSeconds"]


def _copy_field(new: JsonObject, old: JsonObject, name: str) -> None:
    if name in old:
        new[name] = copy.deepcopy(old[name])
    else:
        new.pop(name, None)


def _replace_with(new: JsonObject, old: JsonObject) -> None:
    """Make ``new`` the stored object again, keeping the managed fields just recorded."""
    managed = (new.get("metadata") or {}).get("managedFields")
    new.clear()
    new.update(copy.deepcopy(old))
    if managed is not None:
        new.setdefault("metadata", {})["managedFields"] = managed


def _write_status_only(kind: ResourceKind, new: JsonObject, old: JsonObject) -> None:
    """A write to ``/status`` changes the status (and, for built-ins, labels and annotations)."""
    if not kind.builtin:
        had_status = "status" in new
        status = new.get("status")
        _replace_with(new, old)
        if had_status:
            new["status"] = status
        else:
            new.pop("status", None)
        return
    _copy_field(new, old, "spec")
    metadata = new.setdefault("metadata", {})
    old_metadata = old.get("metadata") or {}
    for name in ("ownerReferences", "deletionTimestamp"):
        if name in old_metadata:
            metadata[name] = copy.deepcopy(old_metadata[name])
        else:
            metadata.pop(name, None)


def _bump_generation(kind: ResourceKind, new: JsonObject, old: JsonObject) -> None:
    if not _has_generation(kind):
        return
    content = {key: value for key, value in new.items() if key != "metadata"}
    old_content = {key: value for key, value in old.items() if key != "metadata"}
    changed = not json_equal(content, old_content)
    if kind.kind == "EndpointSlice":
        labels = (new.get("metadata") or {}).get("labels") or {}
        old_labels = (old.get("metadata") or {}).get("labels") or {}
        changed = changed or not json_equal(labels, old_labels)
    if changed:
        generation = (old.get("metadata") or {}).get("generation") or 0
        new.setdefault("metadata", {})["generation"] = generation + 1


def _validate(kind: ResourceKind, new: JsonObject, old: JsonObject | None) -> list[Cause]:
    """The refusals of the registry strategy, generic metadata checks first on update."""
    causes: list[Cause] = []
    if old is not None:
        causes += validation_meta.validate_object_meta_update(new, old)
    if kind.kind == "Event":
        return causes + validation_events.validate_event(kind, new, old)
    causes += _validate_kind(kind, new)
    if old is None:
        return causes
    if kind.kind == "Service":
        causes += validation_service.validate_service_update(new, old)
    elif kind.kind == "Pod":
        causes += validation_core.validate_pod_update(new, old)
    return causes


def _validate_kind(kind: ResourceKind, obj: JsonObject) -> list[Cause]:
    if not kind.builtin:
        causes = validation_meta.validate_object_meta(obj, namespaced=kind.namespaced)
        return causes + validation_istio.validate_custom_resource(kind, obj)
    validators = {
        "Service": validation_service.validate_service,
        "Lease": validation_core.validate_lease,
        "EndpointSlice": validation_core.validate_endpoint_slice,
        "Namespace": validation_core.validate_namespace,
        "Node": validation_core.validate_node,
        "Pod": validation_core.validate_pod,
    }
    validator = validators.get(kind.kind)
    if validator is None:
        return validation_meta.validate_object_meta(obj, namespaced=kind.namespaced)
    return validator(obj)
