"""Validation of Kubernetes' own kinds, worded exactly as the real server words it.

The real server reports field errors as ``<path>: <Type>: <value>: <detail>``,
with the value printed the way Go's ``fmt`` prints it (``"x"`` for strings,
``[]string{"a"}`` for string lists, ``0x0`` for a zero uint64). The helpers here
build :class:`Cause` objects in that wording, and the validators cover what the
project and its tests write: object metadata (names, labels, annotations,
ownerReferences), Services, Leases, both Event APIs, EndpointSlices, Pods,
Namespaces and Nodes.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from reconciler.simulator.errors import ApiError, Cause, invalid
from reconciler.simulator.resources import CORE_EVENTS, EVENTS, ResourceKind

JsonObject = dict[str, Any]


# --- Go-style values and causes --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GoLiteral:
    """A value already rendered the way Go prints it (``[]string{"a"}``, ``0x0``)."""

    text: str


def go_quote(text: str) -> str:
    """Go's ``%q`` for the strings the simulator sees."""
    return json.dumps(text, ensure_ascii=False)


def go_value(value: Any) -> str:
    if isinstance(value, GoLiteral):
        return value.text
    if value is None:
        return go_quote("null")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return "[]string{" + ", ".join(go_quote(item) for item in value) + "}"
    return go_quote(json.dumps(value, separators=(",", ":")))


def required(path: str, detail: str = "") -> Cause:
    message = "Required value" + (f": {detail}" if detail else "")
    return Cause("FieldValueRequired", message, path)


def invalid_value(path: str | None, value: Any, detail: str) -> Cause:
    return Cause("FieldValueInvalid", f"Invalid value: {go_value(value)}: {detail}", path)


def not_supported(path: str, value: Any, supported: Iterable[str]) -> Cause:
    listed = ", ".join(go_quote(item) for item in supported)
    return Cause(
        "FieldValueNotSupported",
        f"Unsupported value: {go_value(value)}: supported values: {listed}",
        path,
    )


def duplicate(path: str, value: Any) -> Cause:
    return Cause("FieldValueDuplicate", f"Duplicate value: {go_value(value)}", path)


def too_many(path: str, actual: int, limit: int) -> Cause:
    return Cause("FieldValueTooMany", f"Too many: {actual}: must have at most {limit} items", path)


def too_long(path: str, limit: int) -> Cause:
    return Cause("FieldValueTooLong", f"Too long: may not be longer than {limit}", path)


def type_invalid(path: str, value: Any, detail: str) -> Cause:
    return Cause("FieldValueTypeInvalid", f"Invalid value: {go_value(value)}: {detail}", path)


def forbidden(path: str, detail: str) -> Cause:
    return Cause("FieldValueForbidden", f"Forbidden: {detail}", path)


def immutable(path: str, value: Any) -> Cause:
    return invalid_value(path, value, "field is immutable")


def refuse(kind: ResourceKind, name: str, causes: list[Cause]) -> ApiError:
    """422 Invalid with the message the real server builds (identical lines shown once)."""
    reported = CORE_EVENTS if kind is EVENTS else kind
    qualified = f"{reported.kind}.{reported.group}" if reported.group else reported.kind
    rendered: list[str] = []
    for cause in causes:
        line = f"{cause.field}: {cause.message}" if cause.field else cause.message
        if line not in rendered:
            rendered.append(line)
    joined = rendered[0] if len(rendered) == 1 else "[" + ", ".join(rendered) + "]"
    return invalid(reported, name, causes, message=f'{qualified} "{name}" is invalid: {joined}')


# --- names -----------------------------------------------------------------------------------

_DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = _DNS1123_LABEL + r"(\." + _DNS1123_LABEL + ")*"
_DNS1035_LABEL = "[a-z]([-a-z0-9]*[a-z0-9])?"
_QUALIFIED_NAME_PART = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?"


def _matches(pattern: str, text: str) -> bool:
    return re.fullmatch(pattern, text) is not None


def dns1123_label(text: str) -> list[str]:
    errors = []
    if len(text) > 63:
        errors.append("must be no more than 63 characters")
    if not _matches(_DNS1123_LABEL, text):
        errors.append(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
            "'-', and must start and end with an alphanumeric character (e.g. 'my-name',  or "
            f"'123-abc', regex used for validation is '{_DNS1123_LABEL}')"
        )
    return errors


def dns1123_subdomain(text: str) -> list[str]:
    errors = []
    if len(text) > 253:
        errors.append("must be no more than 253 characters")
    if not _matches(_DNS1123_SUBDOMAIN, text):
        errors.append(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
            "'-' or '.', and must start and end with an alphanumeric character (e.g. "
            f"'example.com', regex used for validation is '{_DNS1123_SUBDOMAIN}')"
        )
    return errors


def dns1035_label(text: str) -> list[str]:
    errors = []
    if len(text) > 63:
        errors.append("must be no more than 63 characters")
    if not _matches(_DNS1035_LABEL, text):
        errors.append(
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
            "with an alphabetic character, and end with an alphanumeric character (e.g. "
            f"'my-name',  or 'abc-123', regex used for validation is '{_DNS1035_LABEL}')"
        )
    return errors


def qualified_name(text: str) -> list[str]:
    """Kubernetes' ``IsQualifiedName``: ``[prefix/]name`` as used by label keys."""
    parts = text.split("/")
    if len(parts) > 2:
        return [
            "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and "
            "must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  "
            f"or '123-abc', regex used for validation is '{_QUALIFIED_NAME_PART}') with an "
            "optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    errors = []
    if len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errors.append("prefix part must be non-empty")
        else:
            errors += [f"prefix part {message}" for message in dns1123_subdomain(prefix)]
    else:
        name = parts[0]
    if not name:
        errors.append("name part must be non-empty")
    elif len(name) > 63:
        errors.append("name part must be no more than 63 characters")
    if not _matches(_QUALIFIED_NAME_PART, name):
        errors.append(
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must start "
            "and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or "
            f"'123-abc', regex used for validation is '{_QUALIFIED_NAME_PART}')"
        )
    return errors


def label_value(text: str) -> list[str]:
    errors = []
    if len(text) > 63:
        errors.append("must be no more than 63 characters")
    if not _matches(_LABEL_VALUE, text):
        errors.append(
            "a valid label must be an empty string or consist of alphanumeric characters, '-', "
            "'_' or '.', and must start and end with an alphanumeric character (e.g. "
            f"'MyValue',  or 'my_value',  or '12345', regex used for validation is "
            f"'{_LABEL_VALUE}')"
        )
    return errors


def ip_address(text: str) -> list[str]:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return ["must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"]
    return []


# --- metadata --------------------------------------------------------------------------------

_TOTAL_ANNOTATION_SIZE = 256 * 1024


def validate_labels(labels: Any, path: str) -> list[Cause]:
    causes: list[Cause] = []
    for key, value in (labels or {}).items():
        causes += [invalid_value(path, key, message) for message in qualified_name(key)]
        text = value if isinstance(value, str) else str(value)
        causes += [invalid_value(path, text, message) for message in label_value(text)]
    return causes


def validate_annotations(annotations: Any, path: str) -> list[Cause]:
    causes: list[Cause] = []
    total = 0
    for key, value in (annotations or {}).items():
        causes += [invalid_value(path, key, message) for message in qualified_name(key.lower())]
        total += len(key) + len(str(value))
    if total > _TOTAL_ANNOTATION_SIZE:
        causes.append(
            Cause(
                "FieldValueTooLong",
                f"Too long: must have at most {_TOTAL_ANNOTATION_SIZE} bytes",
                path,
            )
        )
    return causes


def _owner_reference_literal(refs: list[Any]) -> GoLiteral:
    rendered = []
    for position, ref in enumerate(refs):
        fields = [
            f"{name}:{go_quote(str(ref.get(key, '')))}"
            for name, key in (("APIVersion", "apiVersion"), ("Kind", "kind"), ("Name", "name"))
        ]
        fields.append(f"UID:{go_quote(str(ref.get('uid', '')))}")
        for name, key in (
            ("Controller", "controller"),
            ("BlockOwnerDeletion", "blockOwnerDeletion"),
        ):
            pointer = f"0xc000{0x5A0 + position * 0x40 + (key == 'blockOwnerDeletion') * 8:06x}"
            fields.append(f"{name}:(*bool)({pointer if key in ref else 'nil'})")
        rendered.append("v1.OwnerReference{" + ", ".join(fields) + "}")
    return GoLiteral("[]v1.OwnerReference{" + ", ".join(rendered) + "}")


def validate_owner_references(refs: Any, path: str) -> list[Cause]:
    causes: list[Cause] = []
    first_controller = ""
    for ref in refs or []:
        api_version = str(ref.get("apiVersion", ""))
        version = api_version.rsplit("/", 1)[-1]
        if not version:
            causes.append(
                invalid_value(f"{path}.apiVersion", api_version, "version must not be empty")
            )
        if not ref.get("kind"):
            causes.append(
                invalid_value(f"{path}.kind", ref.get("kind", ""), "kind must not be empty")
            )
        if not ref.get("name"):
            causes.append(
                invalid_value(f"{path}.name", ref.get("name", ""), "name must not be empty")
            )
        if not ref.get("uid"):
            causes.append(invalid_value(f"{path}.uid", ref.get("uid", ""), "uid must not be empty"))
        if ref.get("controller") is True:
            current = f"{ref.get('kind', '')}/{ref.get('name', '')}"
            if first_controller:
                causes.append(
                    invalid_value(
                        path,
                        _owner_reference_literal(refs),
                        'Only one reference can have Controller set to true. Found "true" in '
                        f"references for {first_controller} and {current}",
                    )
                )
            else:
                first_controller = current
    return causes


def validate_finalizers(finalizers: Any, path: str) -> list[Cause]:
    causes: list[Cause] = []
    for finalizer in finalizers or []:
        causes += [invalid_value(path, finalizer, message) for message in qualified_name(finalizer)]
    return causes


def validate_object_meta(
    obj: JsonObject,
    *,
    namespaced: bool,
    name_rule: Any = dns1123_subdomain,
) -> list[Cause]:
    """Kubernetes' ``ValidateObjectMeta``: name, namespace, labels, annotations, owners."""
    meta = obj.get("metadata") or {}
    causes: list[Cause] = []
    name = meta.get("name") or ""
    if meta.get("generateName") and not name:
        causes += [
            invalid_value("metadata.generateName", meta["generateName"], message)
            for message in name_rule(meta["generateName"].rstrip("-") or "a")
        ]
    if not name:
        causes.append(required("metadata.name", "name or generateName is required"))
    else:
        causes += [invalid_value("metadata.name", name, message) for message in name_rule(name)]
    namespace = meta.get("namespace") or ""
    if namespaced and not namespace:
        causes.append(required("metadata.namespace"))
    elif namespaced:
        causes += [
            invalid_value("metadata.namespace", namespace, message)
            for message in dns1123_label(namespace)
        ]
    elif namespace:
        causes.append(forbidden("metadata.namespace", "not allowed on this type"))
    generation = meta.get("generation")
    if isinstance(generation, int) and generation < 0:
        causes.append(
            invalid_value("metadata.generation", generation, "must be greater than or equal to 0")
        )
    causes += validate_labels(meta.get("labels"), "metadata.labels")
    causes += validate_annotations(meta.get("annotations"), "metadata.annotations")
    causes += validate_owner_references(meta.get("ownerReferences"), "metadata.ownerReferences")
    causes += validate_finalizers(meta.get("finalizers"), "metadata.finalizers")
    return causes


_IMMUTABLE_META = (
    "name",
    "namespace",
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)


def validate_object_meta_update(new: JsonObject, old: JsonObject) -> list[Cause]:
    """``ValidateObjectMetaUpdate`` without the resourceVersion check (the server does that)."""
    new_meta = new.get("metadata") or {}
    old_meta = old.get("metadata") or {}
    causes: list[Cause] = []
    if old_meta.get("deletionTimestamp"):
        added = sorted(
            set(new_meta.get("finalizers") or []) - set(old_meta.get("finalizers") or [])
        )
        if added:
            listed = go_value(added)
            causes.append(
                forbidden(
                    "metadata.finalizers",
                    "no new finalizers can be added if the object is being deleted, found new "
                    f"finalizers {listed}",
                )
            )
    if (new_meta.get("generation") or 0) < (old_meta.get("generation") or 0):
        causes.append(
            invalid_value(
                "metadata.generation", new_meta.get("generation") or 0, "must not be decremented"
            )
        )
    for key in _IMMUTABLE_META:
        if new_meta.get(key) != old_meta.get(key):
            causes.append(immutable(f"metadata.{key}", new_meta.get(key, "")))
    causes += validate_labels(new_meta.get("labels"), "metadata.labels")
    causes += validate_annotations(new_meta.get("annotations"), "metadata.annotations")
    causes += validate_owner_references(new_meta.get("ownerReferences"), "metadata.ownerReferences")
    return causes


# --- Services --------------------------------------------------------------------------------

_PROTOCOLS = ("SCTP", "TCP", "UDP")
_SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")


def _port_number(value: Any) -> list[str]:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
        return ["must be between 1 and 65535, inclusive"]
    return []


def iana_port_name(name: str) -> list[str]:
    errors = []
    if len(name) > 15:
        errors.append("must be no more than 15 characters")
    if not re.fullmatch("[-a-z0-9]+", name):
        errors.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search("[a-z]", name):
        errors.append("must contain at least one letter (a-z)")
    if "--" in name:
        errors.append("must not contain consecutive hyphens")
    if name.startswith("-") or name.endswith("-"):
        errors.append("must not begin or end with a hyphen")
    return errors


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
        for m in _port_number(port.get("port", 0))
    ]
    protocol = port.get("protocol") or ""
    if not protocol:
        causes.append(required(f"{path}.protocol"))
    elif protocol not in _PROTOCOLS:
        causes.append(not_supported(f"{path}.protocol", protocol, _PROTOCOLS))
    target = port.get("targetPort")
    if isinstance(target, str):
        causes += [invalid_value(f"{path}.targetPort", target, m) for m in iana_port_name(target)]
    else:
        causes += [invalid_value(f"{path}.targetPort", target, m) for m in _port_number(target)]
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


# --- Leases, Namespaces, Nodes, Pods ---------------------------------------------------------


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
                for m in _port_number(port.get("containerPort", 0))
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
        elif protocol not in _PROTOCOLS:
            causes.append(not_supported(f"{path}.protocol", protocol, _PROTOCOLS))
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


# --- Events ----------------------------------------------------------------------------------

_EVENT_LIMITS = (("reportingInstance", 128), ("action", 128), ("reason", 128))


def _event_view(kind: ResourceKind, event: JsonObject) -> JsonObject:
    """An Event in Kubernetes' internal field names, whichever API wrote it."""
    namespace = (event.get("metadata") or {}).get("namespace") or ""
    if kind is EVENTS:
        return {
            "namespace": namespace,
            "involvedObject": event.get("regarding") or {},
            "reportingController": event.get("reportingController") or "",
            "reportingInstance": event.get("reportingInstance") or "",
            "action": event.get("action") or "",
            "reason": event.get("reason") or "",
            "message": event.get("note") or "",
            "type": event.get("type") or "",
            "eventTime": event.get("eventTime"),
            "firstTimestamp": event.get("deprecatedFirstTimestamp"),
            "lastTimestamp": event.get("deprecatedLastTimestamp"),
            "count": event.get("deprecatedCount") or 0,
            "source": event.get("deprecatedSource") or {},
            "series": event.get("series"),
            "related": event.get("related"),
        }
    return {
        "namespace": namespace,
        "involvedObject": event.get("involvedObject") or {},
        "reportingController": event.get("reportingComponent") or "",
        "reportingInstance": event.get("reportingInstance") or "",
        "action": event.get("action") or "",
        "reason": event.get("reason") or "",
        "message": event.get("message") or "",
        "type": event.get("type") or "",
        "eventTime": event.get("eventTime"),
        "firstTimestamp": event.get("firstTimestamp"),
        "lastTimestamp": event.get("lastTimestamp"),
        "count": event.get("count") or 0,
        "source": event.get("source") or {},
        "series": event.get("series"),
        "related": event.get("related"),
    }


def _legacy_event_causes(view: JsonObject, *, controller_field: str) -> list[Cause]:
    causes: list[Cause] = []
    involved_namespace = view["involvedObject"].get("namespace") or ""
    namespace = view["namespace"]
    mismatch = invalid_value(
        "involvedObject.namespace", involved_namespace, "does not match event.namespace"
    )
    if not view["eventTime"]:
        if not involved_namespace:
            if namespace not in ("", "default"):
                causes.append(mismatch)
        elif namespace != involved_namespace:
            causes.append(mismatch)
    else:
        if not involved_namespace and namespace not in ("default", "kube-system"):
            causes.append(mismatch)
        controller = view["reportingController"]
        if not controller:
            causes.append(required(controller_field))
        causes += [
            invalid_value(controller_field, controller, m) for m in qualified_name(controller)
        ]
        for name, limit in _EVENT_LIMITS:
            if not view[name]:
                causes.append(required(name))
            if len(view[name]) > limit:
                causes.append(invalid_value(name, "", f"can have at most {limit} characters"))
        if len(view["message"]) > 1024:
            causes.append(invalid_value("message", "", "can have at most 1024 characters"))
    causes += [invalid_value("namespace", namespace, m) for m in dns1123_subdomain(namespace)]
    return causes


def validate_event(kind: ResourceKind, event: JsonObject, old: JsonObject | None) -> list[Cause]:
    """``ValidateEventCreate`` and ``...Update``: lax for core/v1, strict for events.k8s.io."""
    view = _event_view(kind, event)
    controller_field = "reportingController" if kind is EVENTS else "reportingComponent"
    causes = _legacy_event_causes(view, controller_field=controller_field)
    if kind is not EVENTS:
        return causes
    if old is None:
        causes += validate_object_meta(event, namespaced=True)
    causes += _event_series(view, old and _event_view(kind, old))
    if old is not None:
        return causes + _event_immutables(view, _event_view(kind, old))
    if not view["eventTime"]:
        causes.append(required("eventTime"))
    if view["type"] not in ("Normal", "Warning"):
        causes.append(invalid_value("type", "", f"has invalid value: {view['type']}"))
    for name, shown in (
        ("firstTimestamp", "deprecatedFirstTimestamp"),
        ("lastTimestamp", "deprecatedLastTimestamp"),
        ("count", "deprecatedCount"),
    ):
        if view[name]:
            causes.append(invalid_value(shown, "", "needs to be unset"))
    if view["source"].get("component") or view["source"].get("host"):
        causes.append(invalid_value("deprecatedSource", "", "needs to be unset"))
    return causes


def _event_series(view: JsonObject, old_view: JsonObject | None) -> list[Cause]:
    series = view["series"]
    if series is None or (old_view is not None and series == old_view["series"]):
        return []
    causes = []
    if (series.get("count") or 0) < 2:
        causes.append(invalid_value("series.count", "", "should be at least 2"))
    if not series.get("lastObservedTime"):
        causes.append(required("series.lastObservedTime"))
    return causes


def _event_immutables(view: JsonObject, old_view: JsonObject) -> list[Cause]:
    names = (
        "involvedObject",
        "reason",
        "message",
        "source",
        "firstTimestamp",
        "lastTimestamp",
        "count",
        "action",
        "related",
        "reportingController",
        "reportingInstance",
        "type",
    )
    return [immutable(name, view[name]) for name in names if view[name] != old_view[name]]
