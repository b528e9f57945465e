"""Validation of core/v1 Services, worded as the real server words it.

What the project writes and a client can get wrong: port names (DNS-1123
labels, required when there is more than one, unique), numbers, protocols and
target ports, the Service type, and the cluster IP rules: IPs of the service
range and the Service's families, ``None`` only for ClusterIP Services, and on
update the primary cluster IP and family that may never change (fidelity 09).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from reconciler.simulator.errors import Cause
from reconciler.simulator.validation_causes import (
    PROTOCOLS,
    GoLiteral,
    dns1035_label,
    dns1123_label,
    duplicate,
    forbidden,
    go_quote,
    iana_port_name,
    invalid_value,
    ip_address,
    not_supported,
    port_number,
    qualified_name,
    required,
)
from reconciler.simulator.validation_meta import validate_labels, validate_object_meta

JsonObject = dict[str, Any]

_SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")


def _service_port(
    port: JsonObject, path: str, *, name_required: bool, names: set[str]
) -> list[Cause]:
    causes: list[Cause] = []
    name = port.get("name") or ""
    if name_required and not name:
        causes.append(required(f"{path}.name"))
    elif name:
        causes += [invalid_value(f"{path}.name", name, m) for m in dns1123_label(name)]
        if name in names:
            causes.append(duplicate(f"{path}.name", name))
        names.add(name)
    causes += [
        invalid_value(f"{path}.port", port.get("port", 0), m)
        for m in port_number(port.get("port", 0))
    ]
    protocol = port.get("protocol") or ""
    if not protocol:
        causes.append(required(f"{path}.protocol"))
    elif protocol not in PROTOCOLS:
        causes.append(not_supported(f"{path}.protocol", protocol, PROTOCOLS))
    target = port.get("targetPort")
    if isinstance(target, str):
        causes += [invalid_value(f"{path}.targetPort", target, m) for m in iana_port_name(target)]
    else:
        causes += [invalid_value(f"{path}.targetPort", target, m) for m in port_number(target)]
    if "appProtocol" in port:
        app = str(port["appProtocol"])
        causes += [invalid_value(f"{path}.appProtocol", app, m) for m in qualified_name(app)]
    return causes


def _service_port_literal(port: JsonObject) -> GoLiteral:
    return GoLiteral(
        f'core.ServicePort{{Name:"", Protocol:{go_quote(str(port.get("protocol", "")))}, '
        f"AppProtocol:(*string)(nil), Port:{port.get('port', 0)}, "
        'TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}'
    )


def _cluster_ip_causes(spec: JsonObject) -> list[Cause]:
    """``ValidateServiceClusterIPsRelatedFields`` for what the simulator allocates."""
    if spec.get("type") == "ExternalName":
        return []
    causes: list[Cause] = []
    cluster_ip = spec.get("clusterIP") or ""
    addresses = list(spec.get("clusterIPs") or [])
    if cluster_ip and not addresses:
        causes.append(required("spec.clusterIPs"))
    elif cluster_ip and addresses[0] != cluster_ip:
        causes.append(
            invalid_value("spec.clusterIPs", addresses, "first value must match `clusterIP`")
        )
    elif not cluster_ip and addresses:
        causes.append(
            invalid_value(
                "spec.clusterIPs", addresses, "must be empty when `clusterIP` is not specified"
            )
        )
    seen: set[str] = set()
    for position, family in enumerate(spec.get("ipFamilies") or []):
        path = f"spec.ipFamilies[{position}]"
        if family not in ("IPv4", "IPv6"):
            causes.append(not_supported(path, family, ("IPv4", "IPv6")))
        if family in seen:
            causes.append(duplicate(path, family))
        seen.add(family)
    policy = spec.get("ipFamilyPolicy")
    supported_policies = ("PreferDualStack", "RequireDualStack", "SingleStack")
    if policy is not None and policy not in supported_policies:
        causes.append(not_supported("spec.ipFamilyPolicy", policy, supported_policies))
    bad_ip = False
    for position, address in enumerate(addresses):
        if position == 0 and address == "None":
            if len(addresses) > 1:
                bad_ip = True
                causes.append(
                    invalid_value(
                        "spec.clusterIPs", addresses, "'None' must be the first and only value"
                    )
                )
            continue
        problems = ip_address(address)
        bad_ip = bad_ip or bool(problems)
        causes += [invalid_value(f"spec.clusterIPs[{position}]", address, m) for m in problems]
    if len(addresses) > 2:
        causes.append(invalid_value("spec.clusterIPs", addresses, "may only hold up to 2 values"))
    if bad_ip:
        return causes
    if len(addresses) > 1 and len({ipaddress.ip_address(a).version for a in addresses}) < len(
        addresses
    ):
        causes.append(
            invalid_value(
                "spec.clusterIPs", addresses, "may specify no more than one IP for each IP family"
            )
        )
    families = list(spec.get("ipFamilies") or [])
    if addresses and addresses[0] != "None":
        for position, address in enumerate(addresses[: len(families)]):
            version = ipaddress.ip_address(address).version
            expected = families[position]
            if (expected == "IPv4" and version == 6) or (expected == "IPv6" and version == 4):
                other = "IPv6" if expected == "IPv6" else "IPv4"
                causes.append(
                    invalid_value(
                        f"spec.clusterIPs[{position}]",
                        address,
                        f"expected an {other} value as indicated by `ipFamilies[{position}]`",
                    )
                )
    return causes


def validate_service(service: JsonObject) -> list[Cause]:
    """``ValidateService`` for the fields the simulator serves."""
    causes = validate_object_meta(service, namespaced=True, name_rule=dns1035_label)
    spec = service.get("spec") or {}
    headless = spec.get("clusterIP") == "None"
    service_type = spec.get("type") or ""
    ports = spec.get("ports") or []
    if not ports and not headless and service_type != "ExternalName":
        causes.append(required("spec.ports"))
    names: set[str] = set()
    for position, port in enumerate(ports):
        causes += _service_port(
            port, f"spec.ports[{position}]", name_required=len(ports) > 1, names=names
        )
    if spec.get("selector") is not None:
        causes += validate_labels(spec["selector"], "spec.selector")
    affinity = spec.get("sessionAffinity") or ""
    if not affinity:
        causes.append(required("spec.sessionAffinity"))
    elif affinity not in ("ClientIP", "None"):
        causes.append(not_supported("spec.sessionAffinity", affinity, ("ClientIP", "None")))
    causes += _cluster_ip_causes(spec)
    if not service_type:
        causes.append(required("spec.type"))
    elif service_type not in _SERVICE_TYPES:
        causes.append(not_supported("spec.type", service_type, _SERVICE_TYPES))
    if service_type == "ClusterIP":
        for position, port in enumerate(ports):
            if port.get("nodePort"):
                causes.append(
                    forbidden(
                        f"spec.ports[{position}].nodePort",
                        "may not be used when `type` is 'ClusterIP'",
                    )
                )
    seen: list[tuple[Any, Any]] = []
    for position, port in enumerate(ports):
        key = (port.get("protocol"), port.get("port"))
        if key in seen:
            causes.append(duplicate(f"spec.ports[{position}]", _service_port_literal(port)))
        seen.append(key)
    if spec.get("externalTrafficPolicy") and service_type not in ("NodePort", "LoadBalancer"):
        causes.append(
            invalid_value(
                "spec.externalTrafficPolicy",
                spec["externalTrafficPolicy"],
                "may only be set when `type` is 'NodePort' or 'LoadBalancer'",
            )
        )
    policy = spec.get("internalTrafficPolicy")
    if service_type != "ExternalName" and policy is None:
        causes.append(required("spec.internalTrafficPolicy"))
    elif policy is not None and policy not in ("Cluster", "Local"):
        causes.append(not_supported("spec.internalTrafficPolicy", policy, ("Cluster", "Local")))
    return causes


def validate_service_update(new: JsonObject, old: JsonObject) -> list[Cause]:
    """The primary cluster IP and IP family cannot change (fidelity 09)."""
    spec = new.get("spec") or {}
    old_spec = old.get("spec") or {}
    if "ExternalName" in (spec.get("type"), old_spec.get("type")):
        return []
    causes: list[Cause] = []
    new_ips = list(spec.get("clusterIPs") or [])
    old_ips = list(old_spec.get("clusterIPs") or [])
    for position in (0, 1):
        if (
            len(old_ips) > position
            and len(new_ips) > position
            and old_ips[position] != new_ips[position]
        ):
            causes.append(
                invalid_value(f"spec.clusterIPs[{position}]", new_ips, "may not change once set")
            )
    new_families = list(spec.get("ipFamilies") or [])
    old_families = list(old_spec.get("ipFamilies") or [])
    if old_families and new_families and old_families[0] != new_families[0]:
        literal = GoLiteral("[]core.IPFamily{" + ", ".join(go_quote(f) for f in new_families) + "}")
        causes.append(invalid_value("spec.ipFamilies[0]", literal, "may not change once set"))
    return causes
