"""Validation of the other core kinds the simulator serves, worded as the real server does.

Leases (positive durations, transitions not negative), Namespaces and Nodes
(their names), Pods (container names, images and ports; on update only the
few mutable spec fields may change) and EndpointSlices (address types, the
addresses of their family, ports, hostnames). Services, Events and metadata
have modules of their own (``validation_service``, ``validation_events``,
``validation_meta``); the wording helpers are in ``validation_causes``.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from reconciler.simulator.errors import Cause
from reconciler.simulator.validation_causes import (
    PROTOCOLS,
    dns1123_label,
    dns1123_subdomain,
    duplicate,
    forbidden,
    iana_port_name,
    invalid_value,
    not_supported,
    port_number,
    qualified_name,
    required,
    too_many,
)
from reconciler.simulator.validation_meta import validate_object_meta

JsonObject = dict[str, Any]


def validate_lease(lease: JsonObject) -> list[Cause]:
    causes = validate_object_meta(lease, namespaced=True)
    spec = lease.get("spec") or {}
    duration = spec.get("leaseDurationSeconds")
    if duration is not None and duration <= 0:
        causes.append(
            invalid_value("spec.leaseDurationSeconds", duration, "must be greater than 0")
        )
    transitions = spec.get("leaseTransitions")
    if transitions is not None and transitions < 0:
        causes.append(
            invalid_value(
                "spec.leaseTransitions", transitions, "must be greater than or equal to 0"
            )
        )
    return causes


def validate_namespace(namespace: JsonObject) -> list[Cause]:
    return validate_object_meta(namespace, namespaced=False, name_rule=dns1123_label)


def validate_node(node: JsonObject) -> list[Cause]:
    return validate_object_meta(node, namespaced=False)


def validate_pod(pod: JsonObject) -> list[Cause]:
    """Object metadata and the container basics (names, images, ports)."""
    causes = validate_object_meta(pod, namespaced=True)
    spec = pod.get("spec") or {}
    containers = spec.get("containers") or []
    if not containers:
        causes.append(required("spec.containers"))
    names: set[str] = set()
    for position, container in enumerate(containers):
        path = f"spec.containers[{position}]"
        name = container.get("name") or ""
        if not name:
            causes.append(required(f"{path}.name"))
        else:
            causes += [invalid_value(f"{path}.name", name, m) for m in dns1123_label(name)]
            if name in names:
                causes.append(duplicate(f"{path}.name", name))
            names.add(name)
        if not container.get("image"):
            causes.append(required(f"{path}.image"))
        for index, port in enumerate(container.get("ports") or []):
            port_path = f"{path}.ports[{index}]"
            causes += [
                invalid_value(f"{port_path}.containerPort", port.get("containerPort", 0), m)
                for m in port_number(port.get("containerPort", 0))
            ]
            if port.get("name"):
                causes += [
                    invalid_value(f"{port_path}.name", port["name"], m)
                    for m in iana_port_name(port["name"])
                ]
    return causes


_POD_MUTABLE_SPEC = ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds")


def validate_pod_update(new: JsonObject, old: JsonObject) -> list[Cause]:
    """Only images, activeDeadlineSeconds and tolerations may change in a Pod's spec."""

    def comparable(pod: JsonObject) -> JsonObject:
        spec = json.loads(json.dumps(pod.get("spec") or {}))
        for group in ("containers", "initContainers"):
            for container in spec.get(group) or []:
                container.pop("image", None)
        for name in _POD_MUTABLE_SPEC:
            spec.pop(name, None)
        return dict(spec)

    if comparable(new) == comparable(old):
        return []
    return [
        forbidden(
            "spec",
            "pod updates may not change fields other than `spec.containers[*].image`,"
            "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
            "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
            "(allow it to be set to 1 if it was previously negative)",
        )
    ]


# --- EndpointSlices --------------------------------------------------------------------------


def validate_endpoint_slice(slice_: JsonObject) -> list[Cause]:
    causes = validate_object_meta(slice_, namespaced=True)
    address_type = slice_.get("addressType") or ""
    if not address_type:
        causes.append(required("addressType"))
    elif address_type not in ("FQDN", "IPv4", "IPv6"):
        causes.append(not_supported("addressType", address_type, ("FQDN", "IPv4", "IPv6")))
    endpoints = slice_.get("endpoints") or []
    if len(endpoints) > 1000:
        causes.append(too_many("endpoints", len(endpoints), 1000))
    for position, endpoint in enumerate(endpoints):
        causes += _slice_endpoint(endpoint, f"endpoints[{position}]", address_type)
    ports = slice_.get("ports") or []
    names: set[str] = set()
    for position, port in enumerate(ports):
        path = f"ports[{position}]"
        name = port.get("name") or ""
        if name:
            causes += [invalid_value(f"{path}.name", name, m) for m in dns1123_label(name)]
        if name in names:
            causes.append(duplicate(f"{path}.name", name))
        names.add(name)
        protocol = port.get("protocol")
        if protocol is None:
            causes.append(required(f"{path}.protocol"))
        elif protocol not in PROTOCOLS:
            causes.append(not_supported(f"{path}.protocol", protocol, PROTOCOLS))
        if "appProtocol" in port:
            causes += [
                invalid_value(f"{path}.appProtocol", port["appProtocol"], m)
                for m in qualified_name(str(port["appProtocol"]))
            ]
    return causes


def _slice_endpoint(endpoint: JsonObject, path: str, address_type: str) -> list[Cause]:
    causes: list[Cause] = []
    addresses = endpoint.get("addresses") or []
    if not addresses:
        causes.append(required(f"{path}.addresses", "must contain at least 1 address"))
    elif len(addresses) > 100:
        causes.append(too_many(f"{path}.addresses", len(addresses), 100))
    for index, address in enumerate(addresses):
        version = {"IPv4": 4, "IPv6": 6}.get(address_type)
        if version is None:
            continue
        try:
            valid = ipaddress.ip_address(address).version == version
        except ValueError:
            valid = False
        if not valid:
            causes.append(
                invalid_value(
                    f"{path}.addresses[{index}]", address, f"must be a valid {address_type} address"
                )
            )
    if endpoint.get("nodeName") is not None:
        causes += [
            invalid_value(f"{path}.nodeName", endpoint["nodeName"], m)
            for m in dns1123_subdomain(endpoint["nodeName"])
        ]
    if endpoint.get("hostname") is not None:
        causes += [
            invalid_value(f"{path}.hostname", endpoint["hostname"], m)
            for m in dns1123_label(endpoint["hostname"])
        ]
    return causes
